# Figures per dataset, each as a static SVG and an offline HTML page.


rule plot:
    input:
        figure_input,
    output:
        svg=report(f"{FIGURES}/{{figure}}.svg", caption="../report/figure.rst", category="Figures",
                   subcategory="{dataset}", labels={"dataset": "{dataset}", "figure": "{figure}"}),
        html=f"{FIGURES}/{{figure}}.html",
    params:
        metric=dataset_metric,
        constraints=config["select"],
    log:
        f"{LOGS}/plot/{{dataset}}/{{figure}}.log",
    wildcard_constraints:
        figure="bubble|accuracy|curves|pareto",
    conda:
        conda_env("analysis")
    script:
        "../scripts/plot.py"



rule studies:
    input:
        f"{TABLES}/measurements.parquet",
    output:
        [report(f"{STUDIES_DIR}/{key}.csv", caption="../report/study.rst", category="Sensitivity studies",
                subcategory="{dataset}", labels={"dataset": "{dataset}", "study": key, "kind": "table"})
         for key in STUDY_KEYS],
        [f"{STUDIES_DIR}/{key}.md" for key in STUDY_KEYS],
        [report(f"{STUDIES_DIR}/{key}.svg", caption="../report/study.rst", category="Sensitivity studies",
                subcategory="{dataset}", labels={"dataset": "{dataset}", "study": key, "kind": "figure"})
         for key in STUDY_FIGURES],
        [f"{STUDIES_DIR}/{key}.html" for key in STUDY_FIGURES],
    params:
        directory=STUDIES_DIR,
    log:
        f"{LOGS}/studies/{{dataset}}.log",
    conda:
        conda_env("analysis")
    script:
        "../scripts/studies.py"


rule pruning_study:
    input:
        lambda wc: pruning_steps_of(wc.dataset),
    output:
        csv=report(f"{STUDIES_DIR}/pruning_sensitivity.csv", caption="../report/pruning.rst",
                   category="Sensitivity studies", subcategory="{dataset}",
                   labels={"dataset": "{dataset}", "study": "pruning_sensitivity", "kind": "table"}),
        markdown=f"{STUDIES_DIR}/pruning_sensitivity.md",
        svg=report(f"{STUDIES_DIR}/pruning_sensitivity.svg", caption="../report/pruning.rst",
                   category="Sensitivity studies", subcategory="{dataset}",
                   labels={"dataset": "{dataset}", "study": "pruning_sensitivity", "kind": "figure"}),
        html=f"{STUDIES_DIR}/pruning_sensitivity.html",
    log:
        f"{LOGS}/pruning_study/{{dataset}}.log",
    conda:
        conda_env("analysis")
    script:
        "../scripts/pruning_study.py"
