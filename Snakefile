# opscore: which deep-learning model variant to ship, by accuracy, time and size together.
# Rules live in workflow/rules/, logic in the tested package workflow/opscore/.
import os

from snakemake.utils import min_version, validate

min_version("9.0")


# A --configfile given on the command line replaces the default instead of being merged into
# it (Snakemake merges by default, which would leak the default's datasets into the paper grid).
if not workflow.overwrite_configfiles:

    configfile: os.path.join(workflow.basedir, "config", "config.yaml")


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/variants.smk"
include: "workflow/rules/measure.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/plots.smk"
include: "workflow/rules/run.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
