"""The studies' tables, one function per paper table or figure: measurement table in, tidy
DataFrame out (empty, with every column, when a run has no data for the study)."""
from __future__ import annotations

import pandas as pd

from opscore.kinds.registry import kinds_in
from opscore.report.studies.common import (
    IDS,
    cluster_k,
    depth_key,
    empty_table,
    finish,
    mean_by,
    measurement_rows,
    model_family,
    sorted_rows,
    split_percent,
    variant_kind,
)

TABLE1_COLUMNS = [
    "dataset", "model", "variant", "precision",
    "original_layers", "layers",
    "original_size_mb", "size_mb", "size_ratio",
    "original_size_compressed_mb", "size_compressed_mb", "compressed_ratio",
    "runs",
]


def quantized_size_table(table: pd.DataFrame) -> pd.DataFrame:
    """Paper Table 1: per model, its original beside each quantized variant (float16,
    tflite-*, quantize-q8|q16): layer count, size in MB raw and compressed, and the ratios
    quantized / original. Sizes are averaged over unfreeze depths, splits and seeds (the files
    do not depend on them); a model without an original row gets NaN original columns."""
    sizes = ["layers", "size_mb", "size_compressed_mb"]
    df = measurement_rows(table, sizes)
    if "precision" not in df.columns:
        df["precision"] = ""
    df["precision"] = df["precision"].astype(str)
    kinds = df["variant"].map(variant_kind)
    keys = ["dataset", "model", "variant"]
    quantized = mean_by(df[kinds.isin(kinds_in("table1_quantized_size"))], keys, sizes, first=["precision"])
    original = mean_by(df[df["variant"] == "original"], keys, sizes).drop(columns=["variant", "runs"])
    original = original.rename(columns={c: f"original_{c}" for c in sizes})
    out = quantized.merge(original, on=["dataset", "model"], how="left")
    out["size_ratio"] = out["size_mb"] / out["original_size_mb"]
    out["compressed_ratio"] = out["size_compressed_mb"] / out["original_size_compressed_mb"]
    return finish(out, TABLE1_COLUMNS, ["dataset", "model", "variant"])


CLASSIFICATION_METRICS = ["accuracy", "precision_macro", "recall_macro", "f1_macro"]
TABLE2_COLUMNS = IDS + CLASSIFICATION_METRICS + ["runs"]


def classification_table(table: pd.DataFrame) -> pd.DataFrame:
    """Paper Table 2: accuracy and macro precision, recall and F1 per model, variant, unfreeze
    depth and split (mean over seeds)."""
    df = measurement_rows(table, CLASSIFICATION_METRICS)
    out = mean_by(df, IDS, CLASSIFICATION_METRICS)
    return finish(out, TABLE2_COLUMNS, ["dataset", "model", "unfreeze", "split", "variant"])



FIG4_COLUMNS = ["dataset", "rank", "model", "variant", "unfreeze", "accuracy", "runs"]


def accuracy_table(table: pd.DataFrame) -> pd.DataFrame:
    """Data of paper Fig. 4: accuracy per model, variant and unfreeze depth (mean over splits and
    seeds, as :func:`opscore.report.plots.accuracy_bars` draws it), best first within each dataset;
    ``rank`` 1 is the most accurate."""
    df = measurement_rows(table, ["accuracy"])
    df = df[df["accuracy"].notna()]
    out = mean_by(df, ["dataset", "model", "variant", "unfreeze"], ["accuracy"])
    if len(out) == 0:
        return empty_table(FIG4_COLUMNS)
    # Ties keep the label order of opscore.report.plots.accuracy_bars (model, variant, unfreeze).
    out = out.sort_values(["model", "variant", "unfreeze"], kind="stable")
    out = out.sort_values(["dataset", "accuracy"], ascending=[True, False], kind="stable")
    out["rank"] = out.groupby("dataset").cumcount() + 1
    return out.reset_index(drop=True)[FIG4_COLUMNS]


FIG5_COLUMNS = ["dataset", "model", "family", "split", "unfreeze", "depth_rank", "accuracy", "runs"]


def unfreeze_sweep_table(table: pd.DataFrame) -> pd.DataFrame:
    """Data of paper Fig. 5: accuracy of the original variant per model, split and unfreeze
    depth (mean over seeds), ordered by depth with ``all`` last; ``depth_rank`` is that order
    (0 = fewest unfrozen layers) over all depths in the table, ``family`` the architecture
    family (ResNet, VGG, ...)."""
    df = measurement_rows(table, ["accuracy"])
    df = df[(df["variant"] == "original") & df["accuracy"].notna()]
    out = mean_by(df, ["dataset", "model", "split", "unfreeze"], ["accuracy"])
    if len(out) == 0:
        return empty_table(FIG5_COLUMNS)
    out["family"] = out["model"].map(model_family)
    depths = sorted(out["unfreeze"].unique(), key=depth_key)
    out["depth_rank"] = out["unfreeze"].map({d: i for i, d in enumerate(depths)}).astype(int)
    return finish(out, FIG5_COLUMNS, ["dataset", "model", "split", "unfreeze"])


TABLE7_COLUMNS = [
    "dataset", "model", "variant", "k", "accuracy",
    "size_mb", "size_compressed_mb", "compressed_ratio", "prep_time_s", "train_time_s", "runs",
]
FIG8_COLUMNS = ["dataset", "model", "unfreeze", "split", "variant", "k", "accuracy", "runs"]


def _with_k(df: pd.DataFrame) -> pd.DataFrame:
    """Cluster rows, and original rows of the (dataset, model) pairs that have cluster rows;
    ``k`` is the cluster count (``<NA>`` for the original)."""
    df = df.copy()
    df["k"] = pd.array([cluster_k(v) for v in df["variant"]], dtype="Int64")
    clustered = df[df["k"].notna()]
    pairs = set(zip(clustered["dataset"], clustered["model"], strict=True))
    is_ref = (df["variant"] == "original") & pd.Series(
        [(d, m) in pairs for d, m in zip(df["dataset"], df["model"], strict=True)], index=df.index, dtype=bool)
    return df[df["k"].notna() | is_ref]


def cluster_count_table(table: pd.DataFrame) -> pd.DataFrame:
    """Paper Table 7: per model, the cluster count K against size (raw and compressed MB, and
    compressed / raw), preparation (clustering) time, training time and accuracy, averaged over
    unfreeze depths, splits and seeds. The original is the reference row with ``k`` = ``<NA>``
    (K = none), listed first; K rows follow in ascending K. Empty without cluster rows."""
    values = ["accuracy", "size_mb", "size_compressed_mb", "prep_time_s", "train_time_s"]
    df = _with_k(measurement_rows(table, values))
    out = mean_by(df, ["dataset", "model", "variant"], values, first=["k"])
    if len(out) == 0:
        return empty_table(TABLE7_COLUMNS)
    out["k"] = out["k"].astype("Int64")
    out["compressed_ratio"] = out["size_compressed_mb"] / out["size_mb"]
    # Variant order puts the original first (K = none), then cluster-k<K> by ascending K.
    return sorted_rows(out, ["dataset", "model", "variant"])[TABLE7_COLUMNS]


def cluster_points(table: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per model, unfreeze depth, split and K (original: k <NA>), mean over seeds."""
    df = _with_k(measurement_rows(table, ["accuracy"]))
    df = df[df["accuracy"].notna()]
    out = mean_by(df, ["dataset", "model", "unfreeze", "split", "variant"], ["accuracy"], first=["k"])
    if len(out) == 0:
        return empty_table(FIG8_COLUMNS)
    out["k"] = out["k"].astype("Int64")
    # Variant order puts the original first, then cluster-k<K> by ascending K.
    return sorted_rows(out, ["dataset", "model", "unfreeze", "split", "variant"])[FIG8_COLUMNS]


TIME_COLUMNS = ["train_time_s", "first_epoch_s", "inference_time_s", "inference_ms_per_image"]
TABLE3_COLUMNS = ["dataset", "model", "unfreeze", "split", "train_percent", "test_percent", "n_test",
                  *TIME_COLUMNS, "runs"]


def split_time_table(table: pd.DataFrame) -> pd.DataFrame:
    """Paper Table 3: per model (original variant) and unfreeze depth, the train/test split
    (``train_percent``/``test_percent``, NaN for a named split such as ``official``) against
    training time (total and first epoch) and test time (all timed inference repeats, and ms
    per image), with the test-set size; mean over seeds. Named splits first, then ascending
    train share."""
    values = ["n_test", *TIME_COLUMNS]
    df = measurement_rows(table, values)
    df = df[df["variant"] == "original"]
    out = mean_by(df, ["dataset", "model", "unfreeze", "split"], values)
    if len(out) == 0:
        return empty_table(TABLE3_COLUMNS)
    parts = out["split"].map(split_percent)
    out["train_percent"] = [p[0] for p in parts]
    out["test_percent"] = [p[1] for p in parts]
    return finish(out, TABLE3_COLUMNS, ["dataset", "model", "unfreeze", "split"])



TABLE4_COLUMNS = IDS + ["train_time_s", "prep_time_s", "inference_time_s", "inference_ms_per_image",
                         "train_time_ratio", "inference_time_ratio", "runs"]


def variant_time_table(table: pd.DataFrame) -> pd.DataFrame:
    """Paper Table 4: training time, preparation time (clustering, pruning, conversion) and test
    (inference) time per model, variant, unfreeze depth and split (mean over seeds), with
    ``*_ratio`` = variant / original of the same model, depth and split (NaN without one)."""
    values = ["train_time_s", "prep_time_s", "inference_time_s", "inference_ms_per_image"]
    df = measurement_rows(table, values)
    out = mean_by(df, IDS, values)
    if len(out) == 0:
        return empty_table(TABLE4_COLUMNS)
    ref_keys = ["dataset", "model", "unfreeze", "split"]
    ref = out[out["variant"] == "original"][ref_keys + ["train_time_s", "inference_time_s"]]
    ref = ref.rename(columns={"train_time_s": "_train_ref", "inference_time_s": "_inference_ref"})
    out = out.merge(ref, on=ref_keys, how="left")
    out["train_time_ratio"] = out["train_time_s"] / out["_train_ref"]
    out["inference_time_ratio"] = out["inference_time_s"] / out["_inference_ref"]
    return finish(out, TABLE4_COLUMNS, ["dataset", "model", "unfreeze", "split", "variant"])


#: ratio column -> (the count it divides, label in the figure); original / variant, the paper's "× smaller"
COMPRESSION_RATIOS = {
    "params_ratio": ("params", "parameters"),
    "nonzero_ratio": ("nonzero_params", "non-zero parameters"),
    "bytes_ratio": ("size_mb", "file"),
    "compressed_ratio": ("size_compressed_mb", "deflated file"),
    # Lee et al.'s "parameter size": the bits the parameters take as stored (packed low-bit kernels)
    "bits_ratio": ("param_bytes", "parameter storage (bits)"),
}
COMPRESSION_COLUMNS = IDS + [
    "original_params", "params", "nonzero_params", "original_size_mb", "size_mb", "size_compressed_mb",
    "original_param_bytes", "param_bytes",
    *COMPRESSION_RATIOS, "params_reduction", "original_accuracy", "accuracy", "accuracy_drop", "runs",
]


def compression_table(table: pd.DataFrame) -> pd.DataFrame:
    """Lee et al.'s compression rates: per pruned or dense-quantized variant, original ÷ variant
    for parameters, non-zero parameters (what magnitude pruning removes), the weights file and
    its deflated size, and the bits the parameters are stored in, beside the accuracy drop, against the original of the same model, depth
    and split (mean over seeds; NaN without one). ``params_reduction`` is the paper's A2E unit,
    "complexity reduced by": 1 − variant ÷ original parameters."""
    counts = [count for count, _ in COMPRESSION_RATIOS.values()]
    df = measurement_rows(table, counts + ["accuracy"])
    out = mean_by(df, IDS, counts + ["accuracy"])
    ref_keys = ["dataset", "model", "unfreeze", "split"]
    ref = out[out["variant"] == "original"][ref_keys + counts + ["accuracy"]]
    ref = ref.rename(columns={c: f"original_{c}" for c in counts + ["accuracy"]})
    out = out[out["variant"].map(variant_kind).isin(kinds_in("compression"))].merge(ref, on=ref_keys, how="left")
    for ratio, (count, _) in COMPRESSION_RATIOS.items():
        out[ratio] = out[f"original_{count}"] / out[count]
    out["params_reduction"] = 1 - out["params"] / out["original_params"]
    out["accuracy_drop"] = out["original_accuracy"] - out["accuracy"]
    return finish(out, COMPRESSION_COLUMNS, ["dataset", "model", "unfreeze", "split", "variant"])
