"""Keras application models as transfer-learning classifiers.

A classifier is a `keras.applications` base (include_top=False) followed by global average
pooling and a softmax Dense head with Glorot-uniform initialisation (as in the paper). The
model is built flat (base layers and head in one functional graph) so that "unfreeze the top
N layers" can address any layer, and so that weights-only checkpoints load by topology.
"""
from __future__ import annotations

import contextlib
import importlib
from pathlib import Path

from opscore.job import atomic_path
from opscore.models import scratch as scratch_models
from opscore.models.scratch import DENSE_MODELS, SCRATCH_MODELS

#: the smallest input any keras.applications model builds (some need more: InceptionV3 75, and
#: Keras says so when it builds them); the schema allows 8, for the models trained from scratch
MIN_APPLICATION_INPUT = 32

# keras.applications names known to tf_keras 2.21 (kept static so config validation needs no
# TensorFlow import; tests/test_applications.py checks it against the installed tf_keras).
APPLICATIONS = (
    "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtSmall", "ConvNeXtTiny", "ConvNeXtXLarge",
    "DenseNet121", "DenseNet169", "DenseNet201",
    "EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3", "EfficientNetB4",
    "EfficientNetB5", "EfficientNetB6", "EfficientNetB7",
    "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3",
    "EfficientNetV2L", "EfficientNetV2M", "EfficientNetV2S",
    "InceptionResNetV2", "InceptionV3",
    "MobileNet", "MobileNetV2", "MobileNetV3Large", "MobileNetV3Small",
    "NASNetLarge", "NASNetMobile",
    "RegNetX002", "RegNetX004", "RegNetX006", "RegNetX008", "RegNetX016", "RegNetX032",
    "RegNetX040", "RegNetX064", "RegNetX080", "RegNetX120", "RegNetX160", "RegNetX320",
    "RegNetY002", "RegNetY004", "RegNetY006", "RegNetY008", "RegNetY016", "RegNetY032",
    "RegNetY040", "RegNetY064", "RegNetY080", "RegNetY120", "RegNetY160", "RegNetY320",
    "ResNet101", "ResNet101V2", "ResNet152", "ResNet152V2", "ResNet50", "ResNet50V2",
    "ResNetRS101", "ResNetRS152", "ResNetRS200", "ResNetRS270", "ResNetRS350", "ResNetRS420",
    "ResNetRS50",
    "VGG16", "VGG19", "Xception",
)


#: layers with weights of each keras.applications classifier (the base's, plus the dense head),
#: counted by building each at 96 px without weights (the count does not depend on the size), so
#: that unfreeze depths are checked at planning without TensorFlow; tests/test_planning_checks.py
#: rebuilds one and the scratch models
APPLICATION_WEIGHTED_LAYERS = {
    "ConvNeXtBase": 186, "ConvNeXtLarge": 186, "ConvNeXtSmall": 186, "ConvNeXtTiny": 96, "ConvNeXtXLarge": 186,
    "DenseNet121": 242, "DenseNet169": 338, "DenseNet201": 402, "EfficientNetB0": 132, "EfficientNetB1": 186,
    "EfficientNetB2": 186, "EfficientNetB3": 210, "EfficientNetB4": 258, "EfficientNetB5": 312,
    "EfficientNetB6": 360, "EfficientNetB7": 438, "EfficientNetV2B0": 151, "EfficientNetV2B1": 185,
    "EfficientNetV2B2": 193, "EfficientNetV2B3": 225, "EfficientNetV2L": 557, "EfficientNetV2M": 403,
    "EfficientNetV2S": 281, "InceptionResNetV2": 449, "InceptionV3": 189, "MobileNet": 55, "MobileNetV2": 105,
    "MobileNetV3Large": 109, "MobileNetV3Small": 87, "NASNetLarge": 533, "NASNetMobile": 389, "RegNetX002": 89,
    "RegNetX004": 143, "RegNetX006": 107, "RegNetX008": 107, "RegNetX016": 119, "RegNetX032": 161,
    "RegNetX040": 149, "RegNetX064": 113, "RegNetX080": 149, "RegNetX120": 125, "RegNetX160": 143,
    "RegNetX320": 149, "RegNetY002": 115, "RegNetY004": 139, "RegNetY006": 131, "RegNetY008": 123,
    "RegNetY016": 227, "RegNetY032": 179, "RegNetY040": 187, "RegNetY064": 211, "RegNetY080": 147,
    "RegNetY120": 163, "RegNetY160": 155, "RegNetY320": 171, "ResNet101": 209, "ResNet101V2": 205,
    "ResNet152": 311, "ResNet152V2": 307, "ResNet50": 107, "ResNet50V2": 103, "ResNetRS101": 281,
    "ResNetRS152": 417, "ResNetRS200": 545, "ResNetRS270": 737, "ResNetRS350": 945, "ResNetRS420": 1129,
    "ResNetRS50": 145, "VGG16": 14, "VGG19": 17, "Xception": 81,
}

#: the models trained from scratch: AlexNet 5 conv + 5 batch norm + 2 dense + head; A2E 4 folds +
#: head, and on a table its Normalization layer too (its statistics are weights)
SCRATCH_WEIGHTED_LAYERS = {"AlexNet": 13, "A2E": 5}


def weighted_layer_count(name: str, table: bool = False) -> int | None:
    """How many layers with weights model ``name``'s classifier has (what an unfreeze depth counts),
    without building it; ``table``: on a CSV table (A2E adds its Normalization). None if unknown."""
    if name in SCRATCH_WEIGHTED_LAYERS:
        return SCRATCH_WEIGHTED_LAYERS[name] + (1 if table and name in DENSE_MODELS else 0)
    return APPLICATION_WEIGHTED_LAYERS.get(name)


class ModelError(Exception):
    """A user-facing problem with a model name, its weights or its unfreeze depth."""


def _application(name: str):
    from opscore.tf import keras

    if name not in APPLICATIONS:
        raise ModelError(f"unknown model {name!r}; known keras.applications models: {', '.join(APPLICATIONS)}; "
                         f"trained from scratch: {', '.join(SCRATCH_MODELS)}")
    return getattr(keras.applications, name)


def preprocess_function(name: str):
    """The `preprocess_input` that belongs to the application (caffe, torch or tf style), or
    scaling to [0, 1] for the models trained from scratch (AlexNet, A2E)."""
    if name in SCRATCH_MODELS:
        return scratch_models.preprocess_function(name)
    return importlib.import_module(_application(name).__module__).preprocess_input


def build_base(name: str, input_size: int, weights: str | None = None):
    """The convolutional base, randomly initialised or loaded from a weights file."""
    base = _application(name)(include_top=False, weights=None, input_shape=(input_size, input_size, 3))
    if weights:
        base.load_weights(weights)
    return base


def build_classifier(name: str, n_classes: int, input_size: int, base_weights: str | None = None, seed: int = 0,
                     sample_shape: tuple[int, ...] | None = None):
    """Base + global average pooling + softmax head (Glorot uniform, seeded); the models made
    for training from scratch (opscore.models.scratch) come whole and ignore base weights.

    ``sample_shape`` is the shape of one prepared example (``data.prepared.sample_shape``).
    :data:`DENSE_MODELS` take it as it is: a table's rows (with a Normalization layer in front,
    fitted by ``scratch_models.adapt_normalization``) or images at their native shape. The others
    take images resized to ``input_size``² RGB (``pipeline_size``), and no tables.
    """
    from opscore.tf import keras

    if sample_shape is not None and len(sample_shape) == 1:
        if name not in DENSE_MODELS:
            raise ModelError(f"{name} takes images, but this dataset is a table of {sample_shape[0]} features; "
                             f"models for tabular data: {', '.join(DENSE_MODELS)}")
        return scratch_models.build(name, n_classes, tuple(sample_shape), seed=seed, normalize=True)
    if name in DENSE_MODELS:
        if sample_shape is None:
            raise ModelError(f"{name} takes the data at its own shape: give sample_shape (e.g. (8, 8, 1))")
        return scratch_models.build(name, n_classes, tuple(sample_shape), seed=seed)
    if name in SCRATCH_MODELS:
        return scratch_models.build(name, n_classes, (input_size, input_size, 3), seed=seed)
    base = build_base(name, input_size, base_weights)
    pooled = keras.layers.GlobalAveragePooling2D(name="head_pool")(base.output)
    outputs = keras.layers.Dense(
        n_classes,
        activation="softmax",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        name="head_dense",
    )(pooled)
    return keras.Model(base.input, outputs, name=f"{name}_classifier")


def pipeline_size(name: str, input_size: int) -> int | None:
    """The image size the input pipeline resizes to for model ``name``: None (native, no resize,
    no RGB) for :data:`DENSE_MODELS`, else ``input_size``."""
    return None if name in DENSE_MODELS else input_size


def weighted_layers(model) -> list:
    """Layers that own weights, from the output back to the input."""
    return [layer for layer in reversed(model.layers) if layer.weights]


def unfreeze_top(model, depth: int | str) -> int:
    """Make the top `depth` weighted layers trainable and freeze the rest; "all" trains everything.

    Depth counts layers with weights from the output: Top-1 is the Dense head alone. Frozen
    BatchNormalization layers run in inference mode (tf.keras semantics of trainable=False),
    which keeps their moving statistics intact. Returns the number of trainable layers.
    """
    layers = weighted_layers(model)
    if depth == "all":
        depth = len(layers)
    depth = int(depth)
    if not 1 <= depth <= len(layers):
        raise ModelError(f"unfreeze depth {depth} out of range: {model.name} has {len(layers)} layers with weights")
    model.trainable = True
    for index, layer in enumerate(layers):
        layer.trainable = index < depth
    return depth


def set_batchnorm_momentum(model, momentum: float) -> int:
    """Set the moving-average momentum of every BatchNormalization layer; returns how many.

    Trained from scratch on a small dataset (a few hundred steps), Keras' default 0.99 leaves
    the moving statistics far behind the weights, so evaluation runs at chance while training
    accuracy climbs; 0.9 lets them settle. Pretrained bases keep their own.
    """
    from opscore.tf import keras

    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in layers:
        layer.momentum = momentum
    return len(layers)


@contextlib.contextmanager
def _recorded_downloads(record: list, cache_dir: Path):
    """Send keras.applications' downloads to `cache_dir` and record what it asks get_file for, so
    an offline failure can say exactly which file to stage where (the URL and hash live inside
    each application module)."""
    from tf_keras.src.utils import data_utils

    real_get_file = data_utils.get_file

    def get_file(fname=None, origin=None, *args, **kwargs):
        record.append({"fname": fname, "origin": origin, "file_hash": kwargs.get("file_hash")})
        kwargs["cache_dir"] = str(cache_dir)
        return real_get_file(fname, origin, *args, **kwargs)

    data_utils.get_file = get_file
    try:
        yield
    finally:
        data_utils.get_file = real_get_file


def download_pretrained_base(name: str, input_size: int, out_path: str | Path, cache_dir: str | Path) -> dict:
    """Fetch the ImageNet no-top weights through Keras (hash-checked get_file, cached in
    `cache_dir/models/`) and save the base's weights as the workflow artifact.

    A file already staged in the cache is used without network. Offline and not staged,
    the error names the file, the folder to put it in and its URL.
    """

    requested: list = []
    with _recorded_downloads(requested, Path(cache_dir).resolve()):
        try:
            base = _application(name)(include_top=False, weights="imagenet", input_shape=(input_size, input_size, 3))
        except ModelError:
            raise
        except Exception as error:  # network errors come wrapped in many types
            wanted = requested[-1] if requested else {}
            raise ModelError(
                f"could not get the ImageNet weights of {name}: {error}\n"
                f"Offline? Stage the file {wanted.get('fname')!r} (from {wanted.get('origin')}, "
                f"hash {wanted.get('file_hash')}) into {Path(cache_dir) / 'models'}/ and rerun."
            ) from error
    with atomic_path(out_path, suffix=".h5") as tmp:
        base.save_weights(tmp)
    return requested[-1] if requested else {}
