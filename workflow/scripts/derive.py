"""Derive one variant with its kind's module (registry: opscore.variants; the steps: opscore.derivation)."""
from opscore.job import start_job

start_job(snakemake)

from opscore.derivation import derive  # noqa: E402
from opscore.job_context import job_context  # noqa: E402

derive(job_context(snakemake), snakemake.output)
