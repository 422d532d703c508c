"""Measuring a variant: quality metrics, predictions, model-ready requests (``quality``), sizes and
kernel statistics (``sizes``), the timed passes' summary and the run's context (``context``), FLOPs and
parameter bytes (``costs``), intervals and paired comparisons (``uncertainty``). Latency is timed by
opscore.benchmark, above the runtimes it opens."""
