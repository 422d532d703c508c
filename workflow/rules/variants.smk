# Derived variants, made from the trained original of the same run: TFLite conversions,
# post-training clustering (clustering.order: after-training) and pruning. Each records what
# its preparation took in preparation.json (seconds, settings) and preparation.parquet (per
# layer: distinct values, sensitivities).


rule convert_tflite:
    input:
        checkpoint=ORIGINAL_CHECKPOINT,
        data=DATA,
    output:
        tflite=TFLITE,
        preparation=PREPARATION,
    log:
        f"{LOGS}/convert_tflite/{RUN}.log",
    wildcard_constraints:
        variant=names_made_by("convert_tflite"),
    conda:
        conda_env("tensorflow")
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        input_size=config["input_size"],
        batch_size=config["training"]["batch_size"],
        representative_batches=8,
    script:
        "../scripts/convert_tflite.py"


rule derive_model:
    input:
        checkpoint=ORIGINAL_CHECKPOINT,
        data=DATA,
    output:
        model=DERIVED_MODEL,
        preparation=PREPARATION,
        layers=f"results/models/{RUN}/preparation.parquet",
    log:
        f"{LOGS}/derive_model/{RUN}.log",
    wildcard_constraints:
        variant=names_made_by("derive_model"),
    conda:
        conda_env("tensorflow")
    threads: 8
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=120,
    params:
        input_size=config["input_size"],
        batch_size=config["training"]["batch_size"],
        learning_rate=learning_rate,
        settings=kind_settings,
        fine_tune_epochs=PRUNING["fine_tune_epochs"],
        held_out=PRUNING["held_out"],
        fine_tune_learning_rate=PRUNING["fine_tune_learning_rate"],
        metric=dataset_metric,
    script:
        "../scripts/derive_model.py"
