# The run's own record: the config as given and the config files it came from (their text), so
# that `./opscore archive` packs every config the run used, wherever it lived.


localrules:
    record_run,


rule record_run:
    output:
        RUN_RECORD,
    log:
        f"{LOGS}/record_run.log",
    conda:
        conda_env("analysis")
    params:
        config=GIVEN_CONFIG,
        configfiles=CONFIG_FILES,
    script:
        "../scripts/record_run.py"
