"""The single place that imports TensorFlow, so Keras 2 (tf_keras) is always selected.

tensorflow-model-optimization 0.8.1 only works with Keras 2: TF_USE_LEGACY_KERAS must be
set before TensorFlow is first imported, or tf.keras silently becomes Keras 3.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

if os.environ["TF_USE_LEGACY_KERAS"] != "1":
    raise RuntimeError("opscore needs TF_USE_LEGACY_KERAS=1 (Keras 2) for tensorflow-model-optimization")

__all__ = ["tf", "keras"]
