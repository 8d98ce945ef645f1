"""Any tensorflow-datasets image classification set by name (``--tfds NAME``), streamed.

    from luring_tf.data.tfds_any import load_tfds
    data = load_tfds("cifar100", (32, 32, 3))          # TFDS_DATA_DIR or ~/tensorflow_datasets

Requirements: features ``image`` (uint8 [h,w,c]) and ``label`` (class index), a ``train`` split. Data dir:
``data_dir``, else TFDS_DATA_DIR, else tfds's default. A set that is not prepared there is downloaded and
prepared unless LURING_TF_ALLOW_DOWNLOAD=0; every failure (unknown name, offline, damaged records, wrong
features) is a one-line UserError.

Splits (contiguous slices of tfds's order, which tfds shuffled when it prepared the set; ``seed`` only
seeds the streams' shuffles): val = the last ``ceil(val_fraction * n)`` examples of ``train``, train = the
rest; test = the ``test`` split, else the ``validation`` split, else a hold-out of ``test_size`` examples
(int, or a fraction of ``train``) taken from the end of ``train`` before val. Images are streamed from
the tfds records (pipeline-backed ``luring_tf.data.streams.Records``): nothing holds a split's
pixels; the labels (int64, small) are read once at load without decoding the images.
"""

from __future__ import annotations

import contextlib
import io
import math
import sys

import numpy as np

from luring_tf.data import tfds_source
from luring_tf.data.dataset import Dataset
from luring_tf.data.folder import check_shape, check_test_size
from luring_tf.data.streams import Records
from luring_tf.errors import UserError

FIX = "pass --tfds with a prepared copy in --data-dir or TFDS_DATA_DIR, or run once online"


def _builder(tfds, name: str, folder: str | None, where: str):
    try:
        return tfds.builder(name, data_dir=folder)
    except Exception as e:  # unknown name, broken install
        raise UserError(f"tensorflow-datasets has no usable data set {name!r} ({where}): "
                        f"{tfds_source._one_line(e)}; check the name (tfds.list_builders())") from None


def _prepare(builder, name: str, where: str) -> None:
    if builder.is_prepared():
        return
    if not tfds_source.download_allowed():
        raise UserError(f"tensorflow-datasets {name} is not prepared in {where} and downloads are off "
                        f"({tfds_source.ALLOW_DOWNLOAD_ENV}=0); {FIX}")
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter):
            builder.download_and_prepare()
    except Exception as e:  # offline, disk full, checksum
        raise UserError(f"tensorflow-datasets {name} download failed ({where}): {tfds_source._one_line(e)}; "
                        f"{FIX}") from None
    sys.stderr.write(chatter.getvalue())


def _split_specs(counts: dict, test_size, val_fraction: float, name: str) -> dict[str, tuple[str, int]]:
    """split -> (tfds split string, count)."""
    n = counts["train"]
    specs = {}
    test_name = next((s for s in ("test", "validation") if s in counts), None)
    if test_name is not None:
        specs["test"] = (test_name, counts[test_name])
    else:
        held = test_size if isinstance(test_size, (int, np.integer)) else math.ceil(test_size * n)
        if held >= n:
            raise UserError(f"tensorflow-datasets {name} has {n} training examples and no test split: "
                            f"a hold-out of {held} leaves none to train on; lower data.test_size")
        specs["test"] = (f"train[{n - held}:{n}]", held)
        n -= held
    n_val = math.ceil(val_fraction * n)
    if n_val >= n or n_val == 0:
        raise UserError(f"cannot split {n} training examples of tensorflow-datasets {name} with val fraction "
                        f"{val_fraction}: use a larger data set or another data.val_fraction")
    specs["train"] = (f"train[0:{n - n_val}]", n - n_val)
    specs["val"] = (f"train[{n - n_val}:{n}]", n_val)
    return specs


def load_tfds(name: str, image_shape=None, *, data_dir=None, test_size: int | float = 0.2,
              val_fraction: float = 0.17, seed: int = 123) -> Dataset:
    """The tfds set ``name`` as a pipeline-backed ``luring_tf.data.dataset.Dataset`` of float32 [H,W,C] images in [0,1].

    Args:
        name: a tfds image classification set (an ``image`` and a ``label`` feature), e.g. ``"fashion_mnist"``.
        image_shape: ``(H, W, C)`` each image becomes (C 1 or 3; resized and grey <-> RGB converted as a
            folder's images); None = the set's own shape, which must then be fixed.
        data_dir: the tfds data folder (None: ``$TFDS_DATA_DIR`` or tfds's default).
        test_size: the hold-out when the set has no test split (a count or a fraction).
        val_fraction: share of the training images kept for validation.
        seed: recorded only.

    Returns:
        The dataset, streamed from the tfds records.

    Raises:
        UserError: the set is unknown, not prepared (and downloads are off), not an image classification
            set, or of a varying shape with no ``image_shape``.

    Example:
        >>> data = load_tfds("fashion_mnist", (28, 28, 1))
    """
    check_test_size(test_size)
    try:
        tfds = tfds_source._import_tfds()
    except ImportError as e:
        raise UserError(f"tensorflow-datasets is not usable ({tfds_source._one_line(e)}): "
                        "pip install tensorflow-datasets") from None
    folder = tfds_source.resolve_data_dir(data_dir)
    where = f"data_dir={folder or '~/tensorflow_datasets (default)'}"
    builder = _builder(tfds, name, folder, where)
    _prepare(builder, name, where)
    features = builder.info.features
    if "image" not in features or "label" not in features:
        raise UserError(f"tensorflow-datasets {name} has no image/label features (it has "
                        f"{', '.join(sorted(features))}): --tfds takes image classification sets")
    own = tuple(features["image"].shape)
    if image_shape is None and (len(own) != 3 or any(d is None for d in own)):
        raise UserError(f"tensorflow-datasets {name} has images of varying size {own}: give the image shape "
                        "(--target-model's input shape)")
    shape = check_shape(image_shape if image_shape is not None else own)
    counts = {s: int(info.num_examples) for s, info in builder.info.splits.items()}
    if "train" not in counts:
        raise UserError(f"tensorflow-datasets {name} has no train split (it has {', '.join(sorted(counts))})")
    specs = _split_specs(counts, test_size, val_fraction, name)

    def records(spec: str, count: int) -> Records:
        def make():
            return builder.as_dataset(split=spec, as_supervised=True, shuffle_files=False).map(lambda x, y: x)
        return Records(count, make, f"tfds {name} {folder} {spec}")

    labels = {}
    try:
        for split, (spec, count) in specs.items():
            ds = builder.as_dataset(split=spec, as_supervised=True, shuffle_files=False,
                                    decoders={"image": tfds.decode.SkipDecoding()})
            labels[split] = np.concatenate([np.asarray(b, np.int64).reshape(-1) for b in
                                            ds.map(lambda x, y: y).batch(8192).as_numpy_iterator()] or
                                           [np.zeros(0, np.int64)])
    except Exception as e:  # damaged records
        raise UserError(f"tensorflow-datasets {name} could not be read ({where}): {tfds_source._one_line(e)}; "
                        "prepare it again (delete its folder)") from None
    names = getattr(features["label"], "names", None)
    source = (f"tensorflow-datasets {name} ({where}; train {specs['train'][1]}, val {specs['val'][1]}, "
              f"test {specs['test'][1]} = {specs['test'][0]}; images as {shape[0]}x{shape[1]}x{shape[2]})")
    return Dataset(name=name, x_train=None, y_train=labels["train"], x_val=None, y_val=labels["val"],
                   x_test=None, y_test=labels["test"], source=source,
                   files={s: records(*specs[s]) for s in ("train", "val", "test")}, image_shape=shape,
                   class_names=tuple(names) if names else None,
                   holdout={"tfds_test": specs["test"][0]} if specs["test"][0].startswith("train") else None)
