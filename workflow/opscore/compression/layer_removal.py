"""Out-of-order layer removal (Lee et al.): whole blocks (a Dense/convolution layer and its
BatchNorm/activation/dropout followers, or two adjacent ones) go in the order of their measured
sensitivity while the accuracy budget holds."""
from __future__ import annotations

import copy
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from opscore.compression.evaluation import BudgetSearch
from opscore.models.graph import (
    EvaluateFn,
    Graph,
    PruningError,
    build_from_config,
    copy_model,
    is_conv,
    is_dense,
    satellites,
)
from opscore.tf import keras


def _shape(value) -> tuple:
    return tuple(value[1:]) if value is not None else ()


def _blocks(graph: Graph) -> list[list[str]]:
    """Removable units: a weighted layer (Conv/Dense, not an output) + the satellite layers that
    follow it one by one (BatchNorm, activation, dropout); in graph order."""
    followers = satellites()
    blocks = []
    for name in graph.order:
        layer = graph.layer(name)
        if not (is_conv(layer) or is_dense(layer) or isinstance(layer, keras.layers.DepthwiseConv2D)):
            continue
        if name in graph.outputs or len(graph.inbound[name]) != 1 or name in graph.shared:
            continue
        block = [name]
        while True:
            consumers = graph.consumers[block[-1]]
            if len(consumers) != 1 or block[-1] in graph.outputs:
                break
            nxt = consumers[0]
            if not isinstance(graph.layer(nxt), followers) or len(graph.inbound[nxt]) != 1:
                break
            block.append(nxt)
        if block[-1] in graph.outputs or not graph.consumers[block[-1]]:
            continue  # the block's output is the model's output
        blocks.append(block)
    return blocks


def _adjacent(graph: Graph, first: list[str], second: list[str]) -> bool:
    return graph.consumers[first[-1]] == [second[0]]


def _run_shapes(graph: Graph, run: list[list[str]]) -> tuple[tuple, tuple]:
    return _shape(graph.layer(run[0][0]).input_shape), _shape(graph.layer(run[-1][-1]).output_shape)


def _next_dense(graph: Graph, run: list[list[str]]) -> str | None:
    """The plain Dense layer a run of plain Dense blocks feeds alone, which can take the run's
    place when its width differs: None if the run or its consumer is anything else."""
    if not all(type(graph.layer(block[0])) is keras.layers.Dense for block in run):
        return None
    consumers = graph.consumers[run[-1][-1]]
    if len(consumers) != 1 or type(graph.layer(consumers[0])) is not keras.layers.Dense:
        return None
    return consumers[0]


def _folded_weights(graph: Graph, run: list[list[str]], consumer: str) -> list[np.ndarray]:
    """The consumer's weights for the run's input: the removed Dense maps composed with it as if
    linear (activations and dropout ignored), W = W1 ... Wn Wc, b = (... (b1 W2 + b2) ...) Wc + bc,
    a starting point that fine-tuning then corrects."""
    kernel, bias = None, None
    for layer in [graph.layer(block[0]) for block in run] + [graph.layer(consumer)]:
        w, *b = layer.get_weights()
        b = b[0] if b else np.zeros(w.shape[1], w.dtype)
        kernel = w if kernel is None else kernel @ w
        bias = b if bias is None else bias @ w + b
    return [kernel, bias] if graph.layer(consumer).use_bias else [kernel]


def _saved_params(graph: Graph, run: list[list[str]], consumer: str | None) -> int:
    """Parameters the removal saves (a folded consumer grows or shrinks with its new input)."""
    removed = sum(graph.layer(n).count_params() for block in run for n in block)
    if consumer is None:
        return int(removed)
    units = graph.layer(consumer).units
    grown = _shape(graph.layer(run[0][0]).input_shape)[-1] * units + units * graph.layer(consumer).use_bias
    return int(removed + graph.layer(consumer).count_params() - grown)


def removal_candidates(model, max_span: int = 2) -> pd.DataFrame:
    """What can be removed: runs of 1..``max_span`` adjacent blocks whose input shape equals
    their output shape, or runs of Dense blocks feeding one Dense layer that is rebuilt for the new
    width (``rebuilds``) when that saves parameters. Columns: candidate ("a" or "a+b"), layers
    (weighted layers), removed (every layer that goes), rebuilds, position, params (saved),
    input_shape, output_shape."""
    graph = Graph(model)
    blocks = _blocks(graph)
    rows = []
    for start in range(len(blocks)):
        run = [blocks[start]]
        for span in range(1, max_span + 1):
            if span > 1:
                nxt = start + span - 1
                if nxt >= len(blocks) or not _adjacent(graph, run[-1], blocks[nxt]):
                    break
                run = run + [blocks[nxt]]
            shape_in, shape_out = _run_shapes(graph, run)
            consumer = None if shape_in == shape_out else _next_dense(graph, run)
            if shape_in != shape_out and (consumer is None or _saved_params(graph, run, consumer) <= 0):
                continue
            rows.append({
                "candidate": "+".join(block[0] for block in run), "layers": [block[0] for block in run],
                "removed": [n for block in run for n in block], "rebuilds": consumer or "",
                "position": graph.order.index(run[0][0]), "params": _saved_params(graph, run, consumer),
                "input_shape": shape_in, "output_shape": shape_out,
            })
    return pd.DataFrame(rows, columns=["candidate", "layers", "removed", "rebuilds", "position", "params",
                                       "input_shape", "output_shape"])


def _chosen_blocks(graph: Graph, wanted: list[str]) -> list[list[str]]:
    """The blocks of the named layers, in graph order; a PruningError names a layer that is not removable."""
    blocks = {block[0]: block for block in _blocks(graph)}
    for name in wanted:
        if name not in blocks:
            try:
                layer = graph.layer(name)
            except ValueError:
                raise PruningError(f"no layer {name!r} in {graph.model.name}") from None
            why = ("it is the model output" if name in graph.outputs else
                   f"it is a {type(layer).__name__}, not a Dense or convolution layer with one input")
            raise PruningError(f"cannot remove {name!r}: {why}")
    return [blocks[n] for n in graph.order if n in wanted]


def _check_runs(graph: Graph, chosen: list[list[str]]) -> dict[str, list[np.ndarray]]:
    """Every run of adjacent chosen blocks must keep its input shape, so the next layer is
    unchanged, or feed one Dense layer that is rebuilt for the new width: returns those layers'
    new weights."""
    runs: list[list[list[str]]] = []
    for block in chosen:
        if runs and _adjacent(graph, runs[-1][-1], block):
            runs[-1].append(block)
        else:
            runs.append([block])
    rebuilt = {}
    for run in runs:
        shape_in, shape_out = _run_shapes(graph, run)
        consumer = _next_dense(graph, run)
        if shape_in != shape_out and consumer is not None:
            rebuilt[consumer] = _folded_weights(graph, run, consumer)
        elif shape_in != shape_out:
            label = "+".join(block[0] for block in run)
            raise PruningError(f"cannot remove {label}: its input has shape {shape_in} but its output {shape_out}; "
                               "the next layer would get the wrong shape. Remove layers (or adjacent groups) whose "
                               "input and output shapes match, or Dense layers that feed one Dense layer.")
    return rebuilt


def remove_layers(model, names: Iterable[str]):
    """A copy of ``model`` without the named weighted layers, each taken with the BatchNorm /
    activation / dropout layers that follow it. Every run of adjacent removed layers must
    have equal input and output shapes (so the next layer is unchanged), or be Dense layers
    feeding one Dense layer, which is rebuilt for the new width (the removed maps folded into
    it); otherwise a PruningError names the run and its shapes. Names may be given as "a+b"
    candidates."""
    wanted = [part for name in names for part in str(name).split("+") if part]
    graph = Graph(model)
    chosen = _chosen_blocks(graph, wanted)
    if not chosen:
        return copy_model(model)
    rebuilt = _check_runs(graph, chosen)
    removed = {n for block in chosen for n in block}
    config = copy.deepcopy(graph.config)

    def resolve(ref):
        while ref[0] in removed:
            ref = list(graph.config["layers"][graph.order.index(ref[0])]["inbound_nodes"][0][0][:3]) + list(ref[3:])
        return ref

    config["layers"] = [entry for entry in config["layers"] if entry["name"] not in removed]
    for entry in config["layers"]:
        entry["inbound_nodes"] = [[resolve(list(ref)) for ref in node] for node in entry.get("inbound_nodes", [])]
    config["output_layers"] = [resolve(list(ref)) for ref in config["output_layers"]]
    new = build_from_config(config)
    for layer in new.layers:
        if layer.weights:
            layer.set_weights(rebuilt.get(layer.name) or graph.layer(layer.name).get_weights())
    return new


def layer_removal_sensitivity(model, evaluate_fn: EvaluateFn, max_span: int = 2,
                              baseline: float | None = None) -> pd.DataFrame:
    """Accuracy after removing each candidate of :func:`removal_candidates` alone, sorted from the
    least to the most sensitive. Columns: candidate, layers, removed, position, params,
    accuracy, drop. ``attrs["baseline_accuracy"]`` holds the unpruned accuracy."""
    baseline = float(evaluate_fn(model)) if baseline is None else float(baseline)
    frame = removal_candidates(model, max_span)
    accuracies = [float(evaluate_fn(remove_layers(model, layers))) for layers in frame["layers"]]
    frame = frame.drop(columns=["input_shape", "output_shape"]).assign(
        accuracy=accuracies, drop=[baseline - a for a in accuracies])
    frame = frame.sort_values(["drop", "position"], kind="stable").reset_index(drop=True)
    frame.attrs["baseline_accuracy"] = baseline
    return frame


def out_of_order_layer_removal(model, evaluate_fn: EvaluateFn, budget: float, max_span: int = 2,
                               fine_tune_fn: Callable | None = None, sensitivity: pd.DataFrame | None = None,
                               stop_at_first_rejection: bool = True):
    """Remove whole layers in the order of their measured sensitivity until ``budget``;
    returns ``(model, report)``. Candidates overlapping an accepted removal, or no longer
    removable in the reduced model, are skipped. Report columns: step, candidate, params,
    accuracy, drop, accepted; ``attrs`` has baseline_accuracy, sensitivity, removed (layers)."""
    if budget < 0:
        raise PruningError(f"budget must be >= 0, got {budget}")
    baseline = float(evaluate_fn(model))
    if sensitivity is None:
        sensitivity = layer_removal_sensitivity(model, evaluate_fn, max_span, baseline=baseline)
    search = BudgetSearch(copy_model(model), evaluate_fn, baseline, budget, fine_tune_fn)
    gone: set[str] = set()
    removed_layers: list[str] = []
    for candidate in sensitivity.itertuples(index=False):
        if gone & set(candidate.removed):
            continue
        try:
            reduced = remove_layers(search.current, candidate.layers)
        except PruningError:
            continue
        if search.try_step(reduced, candidate=candidate.candidate):
            gone |= set(candidate.removed)
            removed_layers += list(candidate.layers)
        elif stop_at_first_rejection:
            break
    report = search.report(["candidate"])
    report.attrs.update(sensitivity=sensitivity, removed=removed_layers)
    return search.current, report




def make(model, variant, job):
    """The ``prune-layers-b<B>`` variant: like filter pruning, each removal is fine-tuned before it
    is judged against the budget (registry entry in opscore.kinds.registry)."""
    derived, steps = out_of_order_layer_removal(model, job.held_out, budget=variant.options["budget"] / 100,
                                                fine_tune_fn=job.fine_tune,
                                                stop_at_first_rejection=job.settings["on_rejection"] == "stop")
    return derived, {}, steps
