# Transfer learning: one job per (dataset, split, seed, model, variant, unfreeze depth).


rule train:
    # 8 CPU threads feed one GPU on a cluster node; locally Snakemake caps threads at --cores,
    # so TensorFlow jobs run one at a time and their timings are not skewed by a neighbour.
    threads: 8
    input:
        data=DATA,
        base_weights=base_weights,
    output:
        checkpoint=CHECKPOINT,
        history=HISTORY,
    params:
        input_size=config["input_size"],
        epochs=config["training"]["epochs"],
        batch_size=config["training"]["batch_size"],
        learning_rate=config["training"]["learning_rate"],
        backup_dir=lambda wc: f"results/models/{RUN.format(**wc)}/backup",
    log:
        f"{LOGS}/train/{RUN}.log",
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=120,
    conda:
        "../../envs/tensorflow.yaml"
    script:
        "../scripts/train.py"
