"""Record the run's config as given and the text of its config files (read by opscore.archive)."""
import yaml

from opscore.job import start_job, write_atomic

start_job(snakemake)
record = {"config": snakemake.params.config, "configfiles": snakemake.params.configfiles}
write_atomic(snakemake.output[0], yaml.safe_dump(record, sort_keys=False))
print(f"recorded the config of {len(snakemake.params.configfiles)} config file(s)")
