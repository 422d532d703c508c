"""One table per dataset: every variant's measurements, every epoch, every baseline."""
import pandas as pd

from opscore.job import redirect_output

redirect_output(snakemake.log[0])
for name in ("metrics", "histories", "baselines"):
    table = pd.concat([pd.read_parquet(path) for path in snakemake.input[name]], ignore_index=True)
    table.to_parquet(snakemake.output[name])
    print(f"{name}: {len(table)} rows")
