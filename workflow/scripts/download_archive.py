"""Fetch one official dataset archive (checksummed; a staged file is used as is)."""
from pathlib import Path

from opscore.data.archives import fetch_archive
from opscore.job import start_job

start_job(snakemake)
path = fetch_archive(snakemake.params.archive, Path(snakemake.output[0]).parent)
print(f"{path}: md5 {snakemake.params.archive.md5} verified")
