"""Reporting: figures (``plots``, ``pareto_plots``) and the studies' tables and figures (``studies``)."""
