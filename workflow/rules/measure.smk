# Measuring: each variant's quality through its runtime (in parallel, cached per variant); every
# variant of a dataset timed together in one benchmark job (isolated processes, alternating
# rounds, MLPerf LoadGen); a random baseline per dataset; and per dataset one table of everything.


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        metrics=METRICS,
        predictions=PREDICTIONS,
    log:
        f"{LOGS}/evaluate/{RUN}.log",
    conda:
        conda_env("tensorflow")
    threads: 8
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=60,
    params:
        input_size=config["input_size"],
        batch_size=config["training"]["batch_size"],
    script:
        "../scripts/evaluate.py"


rule model_inputs:
    input:
        data=DATA,
    output:
        MODEL_INPUTS,
    log:
        f"{LOGS}/model_inputs/{{dataset}}/{{split}}/seed-{{seed}}/{{model}}.log",
    conda:
        conda_env("tensorflow")
    resources:
        mem_mb=4000,
        runtime=15,
    params:
        input_size=config["input_size"],
        batch_size=config["training"]["batch_size"],
        max_inputs=config["measure"]["max_inputs"],
    script:
        "../scripts/model_inputs.py"


# The whole machine (threads = every core): nothing else runs beside it in a local run, and on
# Slurm the profile asks for an exclusive node. Its params include the variant list: adding a
# model re-times the dataset, so that every timing compared was taken under the same conditions.
rule benchmark:
    input:
        unpack(benchmark_inputs),
    output:
        summary=f"{BENCHMARK}/benchmark.parquet",
        rounds=f"{BENCHMARK}/rounds.parquet",
        queries=f"{BENCHMARK}/queries.parquet",
        loadgen=directory(f"{BENCHMARK}/loadgen"),
    log:
        f"{LOGS}/benchmark/{{dataset}}.log",
    conda:
        conda_env("tensorflow")
    threads: workflow.cores
    resources:
        gpu=1,
        mem_mb=benchmark_memory,
        runtime=120,
    params:
        runs=lambda wc: settings.experiments(config, wc.dataset),
        measure=config["measure"],
        batch_size=config["training"]["batch_size"],
    script:
        "../scripts/benchmark.py"


rule random_baseline:
    input:
        data=DATA,
    output:
        BASELINE,
    log:
        f"{LOGS}/random_baseline/{{dataset}}/{{split}}/seed-{{seed}}.log",
    conda:
        conda_env("analysis")
    script:
        "../scripts/random_baseline.py"


rule collect_measurements:
    input:
        unpack(measurements_of),
    output:
        metrics=f"{TABLES}/measurements.parquet",
        histories=f"{TABLES}/histories.parquet",
        baselines=f"{TABLES}/baselines.parquet",
        predictions=f"{TABLES}/predictions.parquet",
    log:
        f"{LOGS}/collect_measurements/{{dataset}}.log",
    conda:
        conda_env("analysis")
    params:
        time_statistic=config["score"]["time_statistic"],
    script:
        "../scripts/collect_measurements.py"
