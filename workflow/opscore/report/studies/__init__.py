"""The sensitivity studies (Arı & Çamlı's tables and figures, Lee et al.'s compression and pruning
sensitivity): one registry entry per study, naming its table and figure functions (imported on
demand, so the Snakefile reads the registry without altair), the input it reads, and when a run
has data for it. The workflow runs one job per (dataset, study); what each shows: docs/studies.md."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from opscore.kinds.registry import KINDS

#: what a study reads: the dataset's measurement table, or the per-step tables of its pruned variants
SOURCES = ("measurements", "pruning_steps")


@dataclass(frozen=True)
class Study:
    """``table_function``/``figure_function``: "module.function" in opscore.report.studies; ``has_data``:
    whether the study's table shows something a run measured, else ``needs`` says what to add."""

    key: str
    table_function: str
    figure_function: str
    has_data: Callable[[object], bool]
    needs: str
    source: str = "measurements"

    @property
    def table(self) -> Callable:
        return _function(self.table_function)

    @property
    def figure(self) -> Callable:
        return _function(self.figure_function)


def _function(name: str) -> Callable:
    module, function = name.rsplit(".", 1)
    return getattr(importlib.import_module(f"opscore.report.studies.{module}"), function)


def _has_sweep(sweep) -> bool:
    """Some model (in some dataset and split) has at least two unfreeze depths."""
    return bool(len(sweep)) and bool((sweep.groupby(["dataset", "model", "split"])["unfreeze"].nunique() > 1).any())


def _has_splits(splits) -> bool:
    """Some model (at some unfreeze depth) was run on at least two splits."""
    return bool(len(splits)) and bool((splits.groupby(["dataset", "model", "unfreeze"])["split"].nunique() > 1).any())



def _rows(t) -> bool:
    return len(t) > 0


#: study key (a stable file name) -> Study, in report order
STUDIES = {study.key: study for study in (
    Study("table1_quantized_size", "tables.quantized_size_table", "figures.quantized_size_figure",
          lambda t: bool(t["size_ratio"].notna().any()), "a quantized variant (float16, tflite-*, quantize-q*) "
          "and its model's original"),
    Study("table2_classification", "tables.classification_table", "figures.classification_figure", _rows,
          "any measured variant"),
    Study("fig4_accuracy", "tables.accuracy_table", "figures.accuracy_figure", _rows, "any measured variant"),
    Study("fig5_unfreeze_sweep", "tables.unfreeze_sweep_table", "figures.unfreeze_sweep_figure", _has_sweep,
          "two unfreeze depths of one model's original (models: NAME: {unfreeze: [1, 5]})"),
    Study("fig8_table7_cluster_count", "tables.cluster_count_table", "figures.cluster_count_figure",
          lambda t: bool(t["k"].notna().any()), "a cluster-k<K> variant"),
    Study("table3_split_time", "tables.split_time_table", "figures.split_time_figure", _has_splits,
          "two splits of one model's original (datasets: NAME: {splits: [70-30, 80-20]})"),
    Study("table4_variant_time", "tables.variant_time_table", "figures.variant_time_figure", _rows,
          "any measured variant"),
    Study("compression", "tables.compression_table", "figures.compression_figure",
          lambda t: bool(t["params_ratio"].notna().any()), "a pruned or quantize-q* variant and its original"),
    Study("chain_steps", "chains.chain_steps_table", "chains.chain_steps_figure", _rows,
          "a chain of two or more steps (e.g. prune-magnitude-s50+tflite-int8)"),
    Study("pruning_sensitivity", "pruning.pruning_sensitivity_table", "pruning.pruning_sensitivity_figure", _rows,
          "a prune-filters-b<B> or prune-layers-b<B> variant", source="pruning_steps"),
)}


def _check_kinds_studies() -> None:
    """Every study a kind names in the registry (``Kind.studies``) is one of :data:`STUDIES`."""
    unknown = {f"{kind.name}: {study}" for kind in KINDS.values() for study in kind.studies if study not in STUDIES}
    if unknown:
        raise ValueError(f"opscore.kinds.registry names studies that do not exist ({', '.join(sorted(unknown))}); "
                         f"known: {', '.join(STUDIES)}")


_check_kinds_studies()
