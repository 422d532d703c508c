"""Deciding from the measurements: OpScore and the Pareto front (``score``), the ranking written out
(``ranking``), which variant to ship (``selection``)."""
