# OpScore ranking per dataset, with MIN/MAX reference rows and the Pareto front.


# seconds each: run by Snakemake itself, never queued on a cluster (profiles/default/config.yaml)
localrules:
    score,
    select_variant,
    index_page,


rule score:
    input:
        f"{TABLES}/measurements.parquet",
    output:
        parquet=f"{SCORES}/ranking.parquet",
        csv=report(
            f"{SCORES}/ranking.csv",
            caption="../report/ranking.rst",
            category="Ranking",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "table": "OpScore ranking"},
        ),
        markdown=f"{SCORES}/ranking.md",
    log:
        f"{LOGS}/score/{{dataset}}.log",
    conda:
        conda_env("analysis")
    params:
        time_basis=config["score"]["time_basis"],
        time_statistic=config["score"]["time_statistic"],
        metric=dataset_metric,
    script:
        "../scripts/score.py"


rule select_variant:
    input:
        ranking=f"{SCORES}/ranking.parquet",
        predictions=f"{TABLES}/predictions.parquet",
    output:
        json=f"{SCORES}/selection.json",
        markdown=report(
            f"{SCORES}/selection.md",
            caption="../report/selection.rst",
            category="1. Which variant to ship",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "table": "recommendation"},
        ),
    log:
        f"{LOGS}/select_variant/{{dataset}}.log",
    conda:
        conda_env("analysis")
    params:
        constraints=config["select"],
    script:
        "../scripts/select_variant.py"


rule index_page:
    input:
        expand(f"{SCORES}/selection.json", dataset=config["datasets"]),
    output:
        "results/index.html",
    log:
        f"{LOGS}/index_page.log",
    conda:
        conda_env("analysis")
    script:
        "../scripts/index_page.py"
