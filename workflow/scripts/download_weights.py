"""Fetch a model's ImageNet no-top weights through Keras and save the base as an artifact."""
from opscore.job import start_job
from opscore.models.applications import download_pretrained_base

start_job(snakemake)
source = download_pretrained_base(snakemake.wildcards.model, snakemake.params.input_size,
                                  snakemake.output[0], snakemake.params.keras_cache)
print(f"saved {snakemake.output[0]} from {source}")
