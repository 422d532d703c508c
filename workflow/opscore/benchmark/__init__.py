"""Timing every variant of a dataset as it deploys, under the same conditions (docs/measurement.md).

``rounds`` runs one isolated process per variant (``worker``: only the variant's runtime and
model), alternates the variants in rounds in a new shuffled order every round, and summarises
each variant by the median over rounds; ``loadgen`` drives the timing with MLPerf LoadGen
(SingleStream latency, Offline throughput); ``contention`` reads from the kernel whether the
CPU was the measurement's while it ran.
"""
