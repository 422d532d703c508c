# Transfer learning: one job per (dataset, split, seed, model, variant, unfreeze depth) for the
# variants made by training: original, float16, cluster-k<K> (clustered base) and
# transfer-<Donor>-top<N> (the donor's trained top layers copied in first).


rule cluster_base:
    input:
        base_weights=base_weights,
    output:
        weights=CLUSTERED_BASE,
        info=CLUSTERED_BASE_INFO,
    log:
        f"{LOGS}/cluster_base/{{model}}/{{variant}}.log",
    wildcard_constraints:
        variant=KINDS["cluster"].name_pattern,
    conda:
        conda_env("tensorflow")
    resources:
        mem_mb=16000,
        runtime=60,
    params:
        input_size=config["input_size"],
        init=CLUSTERING["init"],
        method=CLUSTERING["method"],
        iterations=CLUSTERING["iterations"],
    script:
        "../scripts/cluster_base.py"


rule train:
    input:
        unpack(train_inputs),
    output:
        checkpoint=CHECKPOINT,
        history=HISTORY,
    log:
        f"{LOGS}/train/{RUN}.log",
    wildcard_constraints:
        variant=trained_names(),
    conda:
        conda_env("tensorflow")
    # 8 CPU threads feed one GPU on a cluster node; locally Snakemake caps threads at --cores,
    # so TensorFlow jobs run one at a time and their timings are not skewed by a neighbour.
    threads: 8
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=120,
    params:
        input_size=config["input_size"],
        epochs=config["training"]["epochs"],
        batch_size=config["training"]["batch_size"],
        learning_rate=learning_rate,
        batchnorm_momentum=config["training"]["batchnorm_momentum"],
        settings=kind_settings,
        backup_dir=f"{MODELS}/backup",
    script:
        "../scripts/train.py"
