"""One (dataset, split, seed) run: every variant's metrics, predictions and training history, each in one table."""
from opscore.job import read_parquets, start_job

start_job(snakemake)
for name in ("metrics", "predictions", "histories"):
    table = read_parquets(snakemake.input[name])
    table.to_parquet(snakemake.output[name])
    print(f"{name}: {len(table)} rows")
