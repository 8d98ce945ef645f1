"""``--dataset imagenet`` in the run scripts (Section 4.4, App. H.1): its data, what its models must take, its attack set.

* :func:`load_imagenet`: the run's ILSVRC2012 (``luring_tf.data.imagenet`` once merged: folder layout or a
  prepared tfds ``imagenet2012``, MobileNetV2's crops; until then a plain reading of the folder layout);
* :func:`model_expectations`: M's and T's input shape (model.image_size) and class count (model.classes);
* :func:`attack_pool`: the candidates for Table 17's well-classified images, in memory;
* :func:`refuse`: the protocols the paper does not run on ImageNet, as one-line errors.

The characterization's transfer attacks (DR / IAR, Figure 2) are not in the paper for ImageNet: only
Table 16 is written (:data:`NO_CHARACTERIZATION`).
"""

from __future__ import annotations


import numpy as np

from luring_tf.errors import UserError

NO_CHARACTERIZATION = {"skipped": "the paper reports no DR / IAR characterization on ImageNet (App. H.1 has "
                                  "Tables 16-17 only): the transfer attacks were not run"}
LAYOUT = "train/<wnid>/*.JPEG and val/<wnid>/*.JPEG"


def is_imagenet(config_or_name) -> bool:
    name = config_or_name.get("dataset") if isinstance(config_or_name, dict) else config_or_name
    return name == "imagenet"


def refuse(what: str, fix: str = "run it without that flag") -> None:
    """One-line error for a protocol the paper does not run on ImageNet (``what``: the flag and its value)."""
    raise UserError(f"{what} is not available with --dataset imagenet: the paper's ImageNet protocol (App. H.1) "
                    f"is Tables 16-17 with C-E and Luring only; {fix}")


def image_shape(config: dict) -> tuple[int, int, int]:
    size = int(config["model"]["image_size"])
    return size, size, 3


def model_expectations(config: dict) -> dict:
    """Keyword arguments of ``run_folder.check_models``: ``{"expected": ((S,S,3), classes)}`` for imagenet, else ``{}``."""
    if not is_imagenet(config):
        return {}
    return {"expected": (image_shape(config), int(config["model"]["classes"]))}


def load_imagenet(config: dict, data_dir, image_shape_=None):
    """ILSVRC2012 of the run: test = its validation set, val = ``data.val_size`` training images held out.

    ``image_shape_`` (S, S, 3) overrides ``model.image_size`` (a ``--target-model``'s own input shape).
    """
    d = config["data"]
    shape = tuple(image_shape_) if image_shape_ is not None else image_shape(config)
    from luring_tf.data import load_dataset

    data = load_dataset("imagenet", d["source"], data_dir, image_shape=shape, val_size=d["val_size"],
                        split_seed=d["split_seed"], n_train=d.get("n_train"), n_test=d.get("n_test"),
                        tfds_name=d.get("tfds_name"))
    check_classes(data, config)
    return data


def check_classes(data, config: dict) -> None:
    """The data's class count matches M's outputs (model.classes), else a one-line error."""
    names, classes = getattr(data, "class_names", None), int(config["model"]["classes"])
    if names is not None and len(names) != classes:
        raise UserError(f"the ImageNet data has {len(names)} classes, M scores model.classes={classes}: give the "
                        f"1,000 ILSVRC2012 classes, or (random weights only) --set model.classes={len(names)}")


def attack_pool(data, config: dict):
    """The first ``defense.candidates`` test images (a seeded order spanning the classes) as an in-memory set.

    Returned as a :class:`~luring_tf.data.dataset.Dataset` whose test split holds them, so the defense
    selects its ``n_examples`` well-classified images from it as for the other data sets.
    """
    from luring_tf.data import streams
    from luring_tf.data.dataset import Dataset

    n = min(int(config["defense"]["candidates"]), streams.size(data, "test"))
    x = streams.images(data, "test", n)
    return Dataset(name=data.name, x_train=None, y_train=None, x_val=None, y_val=None, x_test=x,
                   y_test=np.asarray(data.y_test[:n], np.int64), image_shape=tuple(x.shape[1:]),
                   source=f"{data.source}; attack candidates: its first {n} test images")
