# Measuring: each variant's quality through its runtime (in parallel, cached per variant); every
# variant of a dataset timed together in one benchmark job (isolated processes, alternating
# rounds, MLPerf LoadGen); a random baseline per dataset; and per dataset one table of everything.
# What gathers a dataset is a tree (a table and a benchmark manifest per run, then the dataset's),
# so that no job's inputs grow with the number of variants (docs/architecture.md).


# seconds each: run by Snakemake itself, never queued on a cluster (profiles/default/config.yaml)
localrules:
    benchmark_candidates,
    random_baseline,
    collect_run,
    collect_measurements,


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
        mem_mb=16000,
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


# What the benchmark times from one (split, seed) run: its inputs are the run's artifacts, so a
# new or changed artifact re-makes it, and that re-times the dataset.
rule benchmark_candidates:
    input:
        unpack(benchmark_candidates_inputs),
    output:
        BENCHMARK_CANDIDATES,
    log:
        f"{LOGS}/benchmark_candidates/{{dataset}}/{{split}}/seed-{{seed}}.log",
    conda:
        conda_env("analysis")
    params:
        runs=run_experiments,
    script:
        "../scripts/benchmark_candidates.py"


# The whole machine (threads = every core): nothing else runs beside it in a local run, and on
# Slurm the profile asks for an exclusive node. Its inputs are the runs' manifests: adding a model
# re-makes them and re-times the dataset, so that every timing compared was taken alike.
rule benchmark:
    input:
        candidates=benchmark_inputs,
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


# Per (split, seed) run, every variant's tables in one, so that the dataset's table reads one file
# a run: no job's inputs grow with the number of variants.
rule collect_run:
    input:
        unpack(run_measurements_of),
    output:
        metrics=RUN_METRICS,
        predictions=RUN_PREDICTIONS,
        histories=RUN_HISTORIES,
    log:
        f"{LOGS}/collect_run/{{dataset}}/{{split}}/seed-{{seed}}.log",
    conda:
        conda_env("analysis")
    script:
        "../scripts/collect_run.py"


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
