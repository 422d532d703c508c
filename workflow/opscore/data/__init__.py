"""Datasets: official archives (downloaded and md5-checked), parsers, image folders, CSV tables,
splits and the prepared file the jobs read.

A *dataset* is a plain dict::

    {"x_train": uint8 array (N, H, W, C), "y_train": int64 array (N,),
     "x_test":  uint8 array (M, H, W, C), "y_test":  int64 array (M,),
     "class_names": list[str], "name": str (optional, used in messages)}

Tabular datasets (:func:`load_csv_dataset`) are the one exception: their features are float32
arrays of shape (N, F), since amounts and PCA components are not pixels.

Pixels stay uint8 from the file to the prepared ``.npz``: a float copy of CIFAR-10 alone is
600 MB, so converting to float is left to the model's input pipeline, batch by batch.

Downloads are checked against the official md5 sums and parsed with numpy only: downloaded
data is never unpickled (the Python-pickle CIFAR archives would run arbitrary code on load,
so the binary versions are used instead).

TensorFlow is imported lazily (only ``load_image_folder`` needs it) so importing this module
stays fast for Snakemake's parse step.
"""


class DataError(Exception):
    """A user-facing data problem (missing/corrupt archive, bad layout, bad split...).

    The message always says what is wrong and what to do about it.
    """
