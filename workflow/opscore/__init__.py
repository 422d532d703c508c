"""opscore: rank deep-learning model variants by accuracy, time and size (OpScore).

The library behind the Snakemake workflow, in wings (docs/architecture.md): kinds (the registry of
variant kinds), data (datasets, downloads, splits), models (Keras applications, training),
measure (metrics, sizes, costs), runtimes (loading and invoking a deployed artifact), compression
(the techniques), benchmark (timing), jobs (a job's start, deriving), decide (OpScore ranking,
selection), report (figures, studies).
"""
