"""Fetch a model's ImageNet no-top weights through Keras and save the base as an artifact."""
from opscore.job import redirect_output
from opscore.models import download_pretrained_base

redirect_output(snakemake.log[0])
source = download_pretrained_base(snakemake.wildcards.model, snakemake.params.input_size,
                                  snakemake.output[0], snakemake.params.keras_cache)
print(f"saved {snakemake.output[0]} from {source}")
