"""opscore: rank deep-learning model variants by accuracy, time and size (OpScore).

The library behind the Snakemake workflow. Each module holds one part of the story:
data (datasets, downloads, splits), models (Keras applications, unfreezing), training,
measure (metrics, timings, sizes), score (OpScore ranking), plots (altair figures).
"""
