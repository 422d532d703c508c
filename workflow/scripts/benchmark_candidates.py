"""What the benchmark times from one (dataset, split, seed) run: each variant's artifact and requests."""
from opscore.benchmark.rounds import write_manifest
from opscore.job import start_job

start_job(snakemake)
write_manifest(snakemake.output[0], snakemake.params.runs, snakemake.input.artifacts, snakemake.input.inputs)
print(f"{len(snakemake.params.runs)} candidates")
