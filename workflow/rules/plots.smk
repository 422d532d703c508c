# Figures per dataset, each as a static SVG and an offline HTML page.


def figure_input(wildcards):
    if wildcards.figure == "curves":
        return f"{TABLES}/histories.parquet".format(**wildcards)
    return f"{SCORES}/ranking.parquet".format(**wildcards)


rule plot:
    input:
        figure_input,
    output:
        svg=report(f"{FIGURES}/{{figure}}.svg", caption="../report/figure.rst", category="Figures",
                   subcategory="{dataset}", labels={"dataset": "{dataset}", "figure": "{figure}"}),
        html=f"{FIGURES}/{{figure}}.html",
    log:
        f"{LOGS}/plot/{{dataset}}/{{figure}}.log",
    wildcard_constraints:
        figure="bubble|accuracy|curves",
    conda:
        conda_env("analysis")
    script:
        "../scripts/plot.py"
