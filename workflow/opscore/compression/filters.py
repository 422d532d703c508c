"""Lee et al.'s accuracy-aware structured filter pruning: rank filters by L1 norm, measure each
convolution's sensitivity alone, prune layers in sensitivity order within an accuracy budget,
and rebuild the model physically smaller (downstream layers sliced to match)."""
from __future__ import annotations

import copy
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from opscore.compression.evaluation import BudgetSearch
from opscore.compression.weight_quantization import quantize_convolutions, quantize_dense
from opscore.kinds.registry import CONV_QUANTIZATION, DENSE_QUANTIZATION
from opscore.models.graph import (
    EvaluateFn,
    Graph,
    PruningError,
    build_from_config,
    copy_model,
    is_conv,
    is_dense,
    stateless_channelwise,
    weighted_channelwise,
)
from opscore.models.quantized_layer import QuantizedConv2D, QuantizedDense
from opscore.tf import keras


def filter_l1_norms(layer) -> np.ndarray:
    """L1 norm of each output filter (convolution) or unit (Dense): sum of |kernel| over the
    other axes. Small norm = small contribution (Li et al. 2017)."""
    if isinstance(layer, QuantizedDense):
        kernel = np.asarray(layer.dequantized_kernel().numpy())
    elif is_conv(layer) or is_dense(layer):
        kernel = np.asarray(layer.kernel.numpy())
    else:
        raise PruningError(f"layer {layer.name!r} ({type(layer).__name__}) has no filters to rank; "
                           "filter pruning works on Conv1D/Conv2D/Conv3D (and Dense units)")
    return np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0)


def _width(layer) -> int:
    return int(layer.filters if is_conv(layer) else layer.units)


def _keep_smallest_removed(layer, n_remove: int) -> np.ndarray:
    """Indices of the filters kept when the ``n_remove`` smallest-L1 filters go (sorted)."""
    norms = filter_l1_norms(layer)
    order = np.argsort(norms, kind="stable")  # ties: lower index removed first, deterministic
    return np.sort(order[int(n_remove):])


class _Keep:
    """Channels kept on a tensor's last axis (indices into the original), and who pruned them."""

    def __init__(self, indices: np.ndarray, size: int, source: str):
        self.indices = np.asarray(indices, np.int64)
        self.size = int(size)
        self.source = source


def _check_consumer(graph: Graph, name: str, layer, keep_in: _Keep, n_sources: int) -> None:
    """Refuse a layer that pruned channels cannot pass: shared, merging branches, or grouped."""
    if name in graph.shared:
        raise PruningError(f"cannot prune {keep_in.source!r}: its channels reach {name!r}, a layer used "
                           "more than once in the graph (shared weights).")
    if n_sources > 1:
        raise PruningError(
            f"cannot prune {keep_in.source!r}: its channels reach {name!r} ({type(layer).__name__}), which merges "
            f"{n_sources} branches (a residual or skip connection); the other branch keeps its "
            f"{keep_in.size} channels, so the shapes would no longer match. Prune only convolutions whose "
            "output reaches the next convolution or Dense layer through BatchNorm, activation, pooling, "
            "dropout or Flatten layers (e.g. the first convolutions inside a residual block).")
    if is_conv(layer) and layer.groups != 1:
        raise PruningError(f"cannot prune {keep_in.source!r}: its channels reach grouped convolution "
                           f"{name!r} (groups={layer.groups}), which is not supported.")


def _through_flatten(name: str, layer, keep_in: _Keep) -> _Keep:
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise PruningError(f"cannot prune {keep_in.source!r}: Flatten {name!r} is channels_first.")
    shape = layer.input_shape
    positions = int(np.prod(shape[1:-1])) if len(shape) > 2 else 1
    flat = (np.arange(positions)[:, None] * keep_in.size + keep_in.indices[None, :]).ravel()
    return _Keep(flat, positions * keep_in.size, keep_in.source)


def _through_channelwise(name: str, layer, keep_in: _Keep) -> _Keep:
    """BatchNorm/LayerNorm/PReLU (per-channel vectors, sliced later) and stateless layers pass the
    kept channels on unchanged."""
    if isinstance(layer, weighted_channelwise()) and not isinstance(layer, keras.layers.PReLU):
        axis = getattr(layer, "axis", [-1])
        axis = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        rank = len(layer.input_shape)
        if any(a not in (-1, rank - 1) for a in axis):
            raise PruningError(f"cannot prune {keep_in.source!r}: {name!r} ({type(layer).__name__}) "
                               f"normalises over axis {axis}, not the channel axis.")
    return keep_in


def _passed_on(name: str, layer, keep_in: _Keep) -> _Keep | None:
    """The channels a layer outputs when its input lost some: None after a consumer (a convolution
    or Dense layer reads them and keeps its own width), else the kept channels carried through."""
    if is_conv(layer) or is_dense(layer):
        return None
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        if layer.depth_multiplier != 1:
            raise PruningError(f"cannot prune {keep_in.source!r}: depthwise convolution {name!r} has "
                               f"depth_multiplier {layer.depth_multiplier}; only 1 is supported.")
        return keep_in
    if isinstance(layer, keras.layers.Flatten):
        return _through_flatten(name, layer, keep_in)
    if isinstance(layer, weighted_channelwise() + stateless_channelwise()):
        return _through_channelwise(name, layer, keep_in)
    raise PruningError(
        f"cannot prune {keep_in.source!r}: its channels reach {name!r} ({type(layer).__name__}), which "
        "filter pruning cannot follow (supported between the pruned layer and its consumer: "
        "BatchNorm, activations, pooling, dropout, padding, depthwise convolutions, Flatten; consumers: "
        "Conv1D/2D/3D and Dense).")


def _channel_flow(graph: Graph, out_keep: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """Propagate pruned output channels through the graph.

    Returns (in_keep, out) — for each layer, the _Keep of its (single) input and of its output
    (None where nothing changed). Raises PruningError where channels cannot be followed.
    """
    out: dict[str, _Keep | None] = {}
    in_keep: dict[str, _Keep | None] = {}
    for name in graph.order:
        layer = graph.layer(name)
        sources = [out.get(s) for s in graph.inbound[name]]
        pruned_inputs = [k for k in sources if k is not None]
        keep_in = in_keep[name] = pruned_inputs[0] if pruned_inputs else None
        if keep_in is not None:
            _check_consumer(graph, name, layer, keep_in, len(sources))
        if name in out_keep:
            if is_conv(layer) and layer.groups != 1:
                raise PruningError(f"cannot prune {name!r}: grouped convolutions (groups={layer.groups}) "
                                   "are not supported.")
            out[name] = _Keep(out_keep[name], _width(layer), name)
        else:
            out[name] = None if keep_in is None else _passed_on(name, layer, keep_in)
    for name in graph.outputs:
        if out.get(name) is not None:
            raise PruningError(f"cannot prune {out[name].source!r}: its channels reach the model output "
                               f"{name!r}, whose width is fixed (the classes).")
    return in_keep, out


def _sliced_weights(layer, keep_in: _Keep | None, keep_out: _Keep | None) -> list[np.ndarray]:
    weights = [np.asarray(w) for w in layer.get_weights()]
    if keep_in is None and keep_out is None:
        return weights
    i = keep_in.indices if keep_in is not None else slice(None)
    o = keep_out.indices if keep_out is not None else slice(None)
    if is_conv(layer):
        kernel = weights[0][..., i, :][..., o]
        return [kernel] + ([weights[1][o]] if layer.use_bias else [])
    if isinstance(layer, QuantizedDense):
        # sliced as floats, stored again: exact for dropped units (their scales go with them);
        # dropped inputs may lower a unit's largest weight, hence its scale
        kernel = np.asarray(layer.dequantized_kernel().numpy())[i, :][:, o]
        return QuantizedDense.quantize(kernel, layer.storage) + ([weights[-1][o]] if layer.use_bias else [])
    if is_dense(layer):
        kernel = weights[0][i, :][:, o]
        return [kernel] + ([weights[1][o]] if layer.use_bias else [])
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kernel = weights[0][:, :, keep_in.indices, :]
        return [kernel] + ([weights[1][keep_in.indices]] if layer.use_bias else [])
    # channel-wise layers with per-channel vectors (BatchNorm, LayerNorm, PReLU)
    size = keep_in.size
    return [w[..., keep_in.indices] if w.ndim and w.shape[-1] == size else w for w in weights]


def _rebuild_pruned(graph: Graph, out_keep: dict[str, np.ndarray]):
    in_keep, out = _channel_flow(graph, out_keep)
    config = copy.deepcopy(graph.config)
    for entry in config["layers"]:
        name = entry["name"]
        if name in out_keep:
            key = "filters" if is_conv(graph.layer(name)) else "units"
            entry["config"][key] = int(len(out_keep[name]))
    config["name"] = graph.config["name"]
    new = build_from_config(config)
    for name in graph.order:
        old = graph.layer(name)
        if not old.weights:
            continue
        keep_out = out[name] if name in out_keep else None
        new.get_layer(name).set_weights(_sliced_weights(old, in_keep[name], keep_out))
    return new


def _check_plan(graph: Graph, plan: dict[str, int]) -> dict[str, np.ndarray]:
    out_keep = {}
    for name, n_remove in plan.items():
        try:
            layer = graph.layer(name)
        except ValueError:
            raise PruningError(f"no layer {name!r} in {graph.model.name}") from None
        if not (is_conv(layer) or is_dense(layer)):
            raise PruningError(f"layer {name!r} is a {type(layer).__name__}; filter pruning removes filters of "
                               "Conv1D/Conv2D/Conv3D layers (or units of Dense layers)")
        if name in graph.outputs:
            raise PruningError(f"layer {name!r} is a model output (the classifier head); its units are the "
                               "classes and cannot be pruned")
        width = _width(layer)
        n_remove = int(n_remove)
        if not 0 <= n_remove < width:
            raise PruningError(f"cannot remove {n_remove} of the {width} filters of {name!r}: at least one "
                               "must stay (and the count cannot be negative)")
        if n_remove:
            out_keep[name] = _keep_smallest_removed(layer, n_remove)
    return out_keep


def prune_filters(model, plan: dict[str, int]):
    """A physically smaller copy of ``model``: for each ``layer → n`` in ``plan``, the ``n`` filters
    (or Dense units) with the smallest L1 norm are removed, and every layer downstream that
    read them (BatchNorm, the next convolution's input channels, Dense rows after Flatten)
    is sliced to match. Raises PruningError naming the layer that makes a plan impossible."""
    graph = Graph(model)
    out_keep = _check_plan(graph, plan)
    if not out_keep:
        return copy_model(model)
    return _rebuild_pruned(graph, out_keep)


def _n_remove(width: int, ratio: float) -> int:
    return int(min(width - 1, max(1, round(ratio * width))))


#: what a structured search can remove: convolution filters, hidden Dense units
TARGETS = ("filters", "units")


def _is_target(graph: Graph, name: str, targets: Iterable[str]) -> bool:
    layer = graph.layer(name)
    if "filters" in targets and is_conv(layer):
        return True
    # hidden Dense layers only: an output's units are the classes
    return "units" in targets and is_dense(layer) and name not in graph.outputs


def prunable_filter_layers(model, targets: Iterable[str] = ("filters",)) -> dict[str, str | None]:
    """Every convolution (``"filters"``) and/or hidden Dense layer (``"units"``) of ``model`` → None
    if its filters or units can be pruned, else the reason."""
    unknown = set(targets) - set(TARGETS)
    if unknown:
        raise PruningError(f"targets must be among {TARGETS}, got {sorted(unknown)}")
    graph = Graph(model)
    result = {}
    for name in graph.order:
        if not _is_target(graph, name, targets):
            continue
        layer = graph.layer(name)
        if _width(layer) < 2:
            result[name] = "has a single filter" if is_conv(layer) else "has a single unit"
            continue
        try:
            _channel_flow(graph, {name: np.arange(1, _width(layer))})
            result[name] = None
        except PruningError as error:
            result[name] = str(error)
    return result


def layer_sensitivity(model, evaluate_fn: EvaluateFn, ratio: float = 0.5, layers: Iterable[str] | None = None,
                      baseline: float | None = None, targets: Iterable[str] = ("filters",)) -> pd.DataFrame:
    """Each candidate layer's sensitivity (convolutions for ``"filters"``, hidden Dense layers for
    ``"units"``): remove ``ratio`` of its filters or units (smallest L1) alone and measure
    ``evaluate_fn``. Columns: layer, position (in the graph), filters (its width), pruned
    (count), accuracy, drop (baseline − accuracy), prunable, reason. Rows in graph order;
    layers that cannot be pruned (e.g. feeding a residual Add) have NaN accuracy and the reason.
    ``attrs["baseline_accuracy"]`` holds the unpruned accuracy."""
    if not 0 < ratio < 1:
        raise PruningError(f"ratio must be between 0 and 1, got {ratio}")
    graph = Graph(model)
    baseline = float(evaluate_fn(model)) if baseline is None else float(baseline)
    status = prunable_filter_layers(model, targets)
    names = list(status) if layers is None else list(layers)
    rows = []
    for name in names:
        if name not in status:
            raise PruningError(f"{name!r} is not a layer {' or '.join(targets)} pruning can try in "
                               f"{graph.model.name}; candidates: {', '.join(status)}")
        layer = graph.layer(name)
        width = _width(layer)
        row = {"layer": name, "position": graph.order.index(name), "filters": width,
               "pruned": _n_remove(width, ratio) if width > 1 else 0,
               "accuracy": np.nan, "drop": np.nan, "prunable": status[name] is None, "reason": status[name] or ""}
        if status[name] is None:
            accuracy = float(evaluate_fn(prune_filters(graph.model, {name: row["pruned"]})))
            row.update(accuracy=accuracy, drop=baseline - accuracy)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["layer", "position", "filters", "pruned", "accuracy", "drop", "prunable",
                                        "reason"])
    frame.attrs["baseline_accuracy"] = baseline
    frame.attrs["ratio"] = ratio
    return frame


def _order_layers(sensitivity: pd.DataFrame, order: str) -> list[str]:
    usable = sensitivity[sensitivity["prunable"]]
    if order == "sensitivity":
        # least sensitive first; equal drops keep graph order (stable sort)
        return usable.sort_values(["drop", "position"], kind="stable")["layer"].tolist()
    if order == "input-to-output":
        return usable.sort_values("position", kind="stable")["layer"].tolist()
    raise PruningError(f"order must be 'sensitivity' or 'input-to-output', got {order!r}")


def accuracy_aware_filter_pruning(model, evaluate_fn: EvaluateFn, budget: float, ratio: float = 0.5,
                                  order: str = "sensitivity", fine_tune_fn: Callable | None = None,
                                  rounds: int = 1, quantize: str | None = None, quantize_conv: str | None = None,
                                  layers: Iterable[str] | None = None, sensitivity: pd.DataFrame | None = None,
                                  stop_at_first_rejection: bool = True, targets: Iterable[str] = ("filters",),
                                  halve_rejected: bool = False):
    """Lee et al.'s accuracy-aware structured pruning; returns ``(model, report)``.

    1. ``baseline = evaluate_fn(model)``; the sensitivity of every prunable convolution
       (``targets`` "filters") and/or hidden Dense layer ("units"), in one table ordered together
       (:func:`layer_sensitivity` with ``ratio``; pass ``sensitivity`` to reuse a table).
    2. With ``quantize`` ("int8", "int4", "int2" or "float16") the Dense layers are quantized first
       (:func:`quantize_dense`); kept only if the drop stays within ``budget``.
    3. Layers in ``order`` — "sensitivity" (least sensitive first) or "input-to-output" — each
       lose ``ratio`` of their *current* filters (smallest L1 norm); the candidate is passed
       to ``fine_tune_fn(model) -> model`` if given, then evaluated. A step is accepted while
       ``baseline − accuracy <= budget`` (cumulative, against the original model); the first
       rejected step ends the search (or, with ``stop_at_first_rejection=False``, that layer is
       skipped). With ``halve_rejected`` (which overrides ``stop_at_first_rejection``) a rejected
       step is tried again on the same layer removing half as many (n → n // 2, at least 1)
       until one is accepted (the search goes on to the next layer) or a 1-filter step is
       rejected (the layer is skipped, and left alone in later rounds: nothing smaller is left
       to try). ``rounds`` > 1 repeats the pass over the layers, until a pass accepts no step: the
       next would start from the same model and try the same steps again.
    4. With ``quantize_conv`` ("int8", "int4", "int2") the pruned convolutions are stored at that
       many bits (:func:`quantize_convolutions`), the float layers left (batch norm) fine-tuned
       to them; kept only if the drop stays within ``budget``.

    ``budget`` is in the units of ``evaluate_fn`` (accuracy 0..1: 0.02 = two points).
    The report has one row per tried step: step, round, action, layer, filters_before, removed,
    filters_after, accuracy, drop, accepted, params. ``report.attrs`` carries
    ``baseline_accuracy``, ``sensitivity`` (the table), ``order`` (layers in the order used) and
    ``plan`` (layer → total filters removed, accepted steps only).
    """
    _check_budget_and_ratio(budget, ratio)
    baseline = float(evaluate_fn(model))
    if sensitivity is None:
        sensitivity = layer_sensitivity(model, evaluate_fn, ratio, layers=layers, baseline=baseline, targets=targets)
    _require_prunable(model, sensitivity, targets)
    ordered = _order_layers(sensitivity, order)
    search = BudgetSearch(copy_model(model), evaluate_fn, baseline, budget, fine_tune_fn)
    if quantize:
        search.try_step(quantize_dense(search.current, quantize), fine_tune=False, round=0,
                        action=f"quantize-dense-{quantize}", layer="", filters_before=np.nan, removed=0,
                        filters_after=np.nan)
    plan = _pruning_passes(search, ordered, ratio, rounds, stop_at_first_rejection, halve_rejected)
    if quantize_conv:
        candidate = quantize_convolutions(search.current, quantize_conv)
        search.try_step(candidate, fine_tune=bool(candidate.trainable_weights), round=0,
                        action=f"quantize-conv-{quantize_conv}", layer="", filters_before=np.nan, removed=0,
                        filters_after=np.nan)
    report = search.report(["round", "action", "layer", "filters_before", "removed", "filters_after"])
    report.attrs.update(sensitivity=sensitivity, order=ordered, plan=plan, ratio=ratio)
    return search.current, report


def _pruning_passes(search: BudgetSearch, ordered: list[str], ratio: float, rounds: int,
                    stop_at_first_rejection: bool, halve_rejected: bool) -> dict[str, int]:
    """Step 3 of accuracy_aware_filter_pruning: the passes over the layers, each step tried
    through ``search``; returns the plan (layer -> filters removed by accepted steps)."""
    plan: dict[str, int] = {}
    exhausted: set[str] = set()  # halve_rejected: layers whose 1-filter step was rejected
    for round_index in range(1, int(rounds) + 1):
        accepted_in_round = False
        for name in ordered:
            layer = search.current.get_layer(name)
            width = _width(layer)
            if width < 2 or name in exhausted:
                continue
            n = _n_remove(width, ratio)
            action = "prune-filters" if is_conv(layer) else "prune-units"
            while True:
                accepted = search.try_step(prune_filters(search.current, {name: n}), round=round_index,
                                           action=action, layer=name, filters_before=width, removed=n,
                                           filters_after=width - n)
                if accepted or not halve_rejected or n == 1:
                    break
                n = max(1, n // 2)  # halve_rejected: the same layer again, half as many removed
            if accepted:
                plan[name] = plan.get(name, 0) + n
                accepted_in_round = True
            elif halve_rejected:
                exhausted.add(name)
            elif stop_at_first_rejection:
                return plan
        if not accepted_in_round:  # the next pass would start from the same model: the same steps
            return plan
    return plan


def _check_budget_and_ratio(budget: float, ratio: float) -> None:
    if budget < 0:
        raise PruningError(f"budget must be >= 0, got {budget}")
    if not 0 < ratio < 1:
        raise PruningError(f"ratio must be between 0 and 1, got {ratio}")


def _require_prunable(model, sensitivity: pd.DataFrame, targets: Iterable[str]) -> None:
    if not sensitivity["prunable"].astype(bool).any():
        reasons = "; ".join(f"{row.layer}: {row.reason}" for row in sensitivity.itertuples())
        what = {"filters": "convolution whose filters", "units": "hidden Dense layer whose units"}
        hint = ("; filter pruning is for CNNs: use prune-units, prune-layers or prune-magnitude for dense networks "
                "(A2E)") if "units" not in targets else ""
        quantized = [layer.name for layer in model.layers if isinstance(layer, QuantizedConv2D)]
        if "filters" in targets and quantized:
            hint = (f"; its convolutions ({', '.join(quantized)}) are stored quantized, which filter pruning does "
                    "not rebuild: prune the filters first and quantize them after (the -c suffix of prune-filters "
                    "does so, as the search's last step)")
        raise PruningError(f"{model.name} has no {' or '.join(what[t] for t in targets)} can be pruned"
                           + (f" ({reasons})" if reasons else "") + hint)




def make(model, variant, job, targets: tuple[str, ...] | None = None):
    """The ``prune-filters-b<B>[-r<R>][-u][-q8|-q4|-q2|-q16][-c8|-c4|-c2][-io]`` variant (registry
    entry in opscore.kinds.registry): filters, and with ``-u`` the hidden Dense units too, in one search;
    dense layers stored at low bit before it, convolutions after it."""
    settings, options = job.settings, variant.options
    targets = targets or (("filters", "units") if options.get("units") else ("filters",))
    derived, steps = accuracy_aware_filter_pruning(
        model, job.held_out, budget=options["budget"] / 100,
        ratio=options.get("ratio", settings["filter_ratio"] * 100) / 100,
        order="input-to-output" if options.get("order") else "sensitivity",
        fine_tune_fn=job.fine_tune, rounds=settings["rounds"],
        quantize=DENSE_QUANTIZATION.get(options.get("dense")), quantize_conv=CONV_QUANTIZATION.get(options.get("conv")),
        stop_at_first_rejection=settings["on_rejection"] == "stop", targets=targets,
        halve_rejected=settings["on_rejection"] == "halve")
    return derived, {"order": steps.attrs.get("order"), "targets": list(targets)}, steps
