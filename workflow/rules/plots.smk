# Figures per dataset, each as a static SVG and an offline HTML page.


# seconds each: run by Snakemake itself, never queued on a cluster (profiles/default/config.yaml)
localrules:
    plot,
    study,


rule plot:
    input:
        figure_input,
    output:
        svg=report(
            f"{FIGURES}/{{figure}}.svg",
            caption="../report/figure.rst",
            category="Figures",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "{figure}"},
        ),
        html=f"{FIGURES}/{{figure}}.html",
    log:
        f"{LOGS}/plot/{{dataset}}/{{figure}}.log",
    wildcard_constraints:
        figure="bubble|accuracy|curves|pareto",
    conda:
        conda_env("analysis")
    params:
        metric=dataset_metric,
        constraints=config["select"],
    script:
        "../scripts/plot.py"


rule study:
    # one job per (dataset, study): a new study or input reruns only what it changes
    input:
        study_inputs,
    output:
        csv=report(
            f"{STUDY}.csv",
            caption="../report/study.rst",
            category="Sensitivity studies",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "study": "{study}", "kind": "table"},
        ),
        markdown=f"{STUDY}.md",
        svg=report(
            f"{STUDY}.svg",
            caption="../report/study.rst",
            category="Sensitivity studies",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "study": "{study}", "kind": "figure"},
        ),
        html=f"{STUDY}.html",
    log:
        f"{LOGS}/study/{{dataset}}/{{study}}.log",
    conda:
        conda_env("analysis")
    script:
        "../scripts/study.py"
