"""One table per dataset: every variant's measurements, every epoch, every baseline."""
import pandas as pd

from opscore.job import start_job
from opscore.score import apply_time_statistic

start_job(snakemake)
for name in ("metrics", "histories", "baselines"):
    table = pd.concat([pd.read_parquet(path) for path in snakemake.input[name]], ignore_index=True)
    if name == "metrics":  # the studies read the inference time the ranking scores
        table = apply_time_statistic(table, snakemake.params.time_statistic)
    table.to_parquet(snakemake.output[name])
    print(f"{name}: {len(table)} rows")
