# Datasets: official archives are fetched (checksummed) on the login node; preparing turns
# any source into one uint8 .npz per dataset, split and seed.


localrules:
    download_archive,


# a shell line, not a script: a staged archive older than a script would be deleted and fetched
# again (opscore/data/fetch.py)
rule download_archive:
    output:
        f"{DOWNLOADS}/{{archive}}",
    log:
        f"{LOGS}/download/{{archive}}.log",
    conda:
        conda_env("analysis")
    params:
        python=PYTHON,
    shell:
        "{params.python:q} -m opscore.data.fetch {output:q} > {log:q} 2>&1"


rule prepare_data:
    input:
        dataset_sources,
    output:
        DATA,
    log:
        f"{LOGS}/prepare_data/{{dataset}}/{{split}}/seed-{{seed}}.log",
    conda:
        conda_env("analysis")
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        options=dataset_options,
        download_dir=DOWNLOADS,
    script:
        "../scripts/prepare_data.py"
