# Measuring: metrics, timed inference repeats and sizes per variant; a random baseline per
# dataset; and per dataset one table of everything.


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        metrics=METRICS,
        timings=TIMINGS,
        latency=LATENCY,
    log:
        f"{LOGS}/evaluate/{RUN}.log",
    conda:
        conda_env("tensorflow")
    # 8 CPU threads feed one GPU on a cluster node; locally Snakemake caps threads at --cores,
    # so TensorFlow jobs run one at a time and their timings are not skewed by a neighbour.
    threads: 8
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=60,
    params:
        input_size=config["input_size"],
        batch_size=config["training"]["batch_size"],
        repeats=config["measure"]["repeats"],
        unstable_cv=config["measure"]["unstable_cv"],
        latency=config["measure"]["latency"],
    script:
        "../scripts/evaluate.py"


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
    log:
        f"{LOGS}/collect_measurements/{{dataset}}.log",
    conda:
        conda_env("analysis")
    params:
        time_statistic=config["score"]["time_statistic"],
    script:
        "../scripts/collect_measurements.py"
