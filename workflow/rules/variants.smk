# Derived variants, made from the trained original of the same run by their kind's module
# (registry: opscore.kinds.registry): TFLite conversions, post-training clustering (clustering.order:
# after-training), pruning, quantization, ONNX exports. One rule per artifact type deriving makes (a
# rule's outputs are fixed: model.h5, model.tflite or model.onnx), the same rule for every kind; none
# names a kind.
# Each records what its preparation took in preparation.json (seconds, settings) and
# preparation.parquet (per layer: distinct values, sensitivities, sparsity).


for artifact in derived_artifacts():

    rule:
        name:
            f"derive_{artifact}"
        input:
            unpack(derive_inputs),
        output:
            artifact=ARTIFACT[artifact],
            preparation=PREPARATION,
            layers=PREPARATION_STEPS,
        log:
            f"{LOGS}/derive_{artifact}/{RUN}.log",
        wildcard_constraints:
            variant=names_derived_into(artifact),
        conda:
            conda_env("tensorflow")
        threads: 8
        resources:
            gpu=1,
            mem_mb=16000,
            runtime=120,
        params:
            input_size=config["input_size"],
            batch_size=config["training"]["batch_size"],
            learning_rate=learning_rate,
            settings=kind_settings,
            fine_tuning=config["fine_tuning"],
            metric=dataset_metric,
        script:
            "../scripts/derive.py"
