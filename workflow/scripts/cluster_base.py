"""Cluster a pretrained base to K shared values per kernel before transfer learning (the paper's order)."""
import json

from opscore.job import start_job

start_job(snakemake)

from opscore.compression.clustering import cluster_model  # noqa: E402
from opscore.kinds.registry import parse_variant  # noqa: E402
from opscore.models.applications import build_base  # noqa: E402
from opscore.models.training import save_weights_atomic, seed_everything  # noqa: E402

params = snakemake.params
seed_everything(0)  # a random base (weights: none) must be the same one for every job that reads it
base = build_base(snakemake.wildcards.model, params.input_size, snakemake.input.base_weights or None)
clustered, info = cluster_model(base, parse_variant(snakemake.wildcards.variant).options["k"],
                                init=params.init, method=params.method, iterations=params.iterations)
save_weights_atomic(clustered, snakemake.output.weights)
with open(snakemake.output.info, "w") as handle:
    json.dump(info, handle, indent=2, default=str)
print(info)
