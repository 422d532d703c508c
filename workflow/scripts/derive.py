"""Derive one variant with its kind's module (registry: opscore.kinds.registry; the steps: opscore.jobs.derivation)."""
from opscore.job import start_job

start_job(snakemake)

from opscore.jobs.context import job_context  # noqa: E402
from opscore.jobs.derivation import derive  # noqa: E402

derive(job_context(snakemake), snakemake.output)
