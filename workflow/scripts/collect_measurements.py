"""One table per dataset, from its runs' tables: every variant's quality and its benchmark timing side by
side, every epoch, every baseline, every prediction."""
import pandas as pd

from opscore.decide.score import apply_time_statistic
from opscore.job import IDENTITY, read_parquets, start_job

start_job(snakemake)
tables = {name: read_parquets(snakemake.input[name]) for name in ("metrics", "histories", "baselines", "predictions")}
timing = pd.read_parquet(snakemake.input.benchmark)
metrics = tables["metrics"].merge(timing, on=list(IDENTITY), how="left", validate="one_to_one")
# the studies read the inference time the ranking scores
tables["metrics"] = apply_time_statistic(metrics, snakemake.params.time_statistic)
for name, table in tables.items():
    table.to_parquet(snakemake.output[name])
    print(f"{name}: {len(table)} rows")
