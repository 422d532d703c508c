"""Measuring a variant: quality metrics, predictions, sizes and kernels, the run's context
(``quality``), FLOPs and parameter bytes (``costs``), intervals and paired comparisons
(``uncertainty``). Latency is timed by opscore.benchmark, above the runtimes it opens."""
