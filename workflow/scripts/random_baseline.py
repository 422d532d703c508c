"""A guessing model per dataset split: the floor every trained variant must clear."""
import pandas as pd

from opscore.data.prepared import load_prepared
from opscore.job import start_job
from opscore.measure.quality import random_baseline

start_job(snakemake)
wc = snakemake.wildcards
data = load_prepared(snakemake.input.data)
row = {"dataset": wc.dataset, "model": "random", "split": wc.split, "seed": int(wc.seed),
       **random_baseline(data["y_test"], len(data["class_names"]), int(wc.seed))}
pd.DataFrame([row]).to_parquet(snakemake.output[0])
print(row)
