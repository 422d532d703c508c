"""Load a dataset from its source and write the requested split as one uint8 .npz."""
from opscore.data.datasets import load_dataset
from opscore.data.prepared import save_prepared
from opscore.data.splits import split_dataset
from opscore.job import start_job

start_job(snakemake)
wildcards = snakemake.wildcards
dataset = load_dataset(wildcards.dataset, snakemake.params.options, snakemake.params.download_dir)
prepared = split_dataset(dataset, wildcards.split, int(wildcards.seed))
save_prepared(snakemake.output[0], prepared)
print(f"{wildcards.dataset} split {wildcards.split} seed {wildcards.seed}: "
      f"{len(prepared['y_train'])} train, {len(prepared['y_test'])} test, {len(prepared['class_names'])} classes")
