"""What every data source returns: the `Dataset` record, the valid names, and the raw official splits."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DATASETS = ("mnist", "svhn", "cifar10", "imagenet")
SOURCES = ("auto", "tfds", "files", "sample", "folder")

# (H, W, C) of one image, per dataset.
IMAGE_SHAPES = {"mnist": (28, 28, 1), "svhn": (32, 32, 3), "cifar10": (32, 32, 3), "imagenet": (224, 224, 3)}
DISPLAY_NAMES = {"mnist": "MNIST", "svhn": "SVHN", "cifar10": "CIFAR10", "imagenet": "ImageNet"}
NUM_CLASSES = 10  # the paper's three small data sets (ImageNet: 1,000, see luring_tf.data.imagenet)


@dataclass(frozen=True)
class Dataset:
    """One dataset, split as in the original code (or, for an image folder, as ``luring_tf.data.folder`` says).

    x_*: float32 [N,H,W,C] in [0,1] (NHWC; MNIST 28x28x1, SVHN/CIFAR10 32x32x3); None for a file-backed
    source (an image folder), whose images are read from ``files`` as they stream.
    y_*: int64 [N] in 0..K-1 (integer labels; one-hot is the caller's choice); None when ``labelled`` is False.
    source: where the images came from, in words (goes into experiment records).
    files: streamed sources only: split -> tuple of image paths (a folder) or a ``streams.Records`` (a tfds set).
    image_shape: (H, W, C) of one image (also for array-backed sources, from x_train).
    class_names: the class of each label (a folder's sub-folder names), None for the paper's data sets.
    skipped: unreadable image files left out (file-backed sources; recorded with the results).
    preprocessing: how streams turn a stored image into x: None = decode, resize to image_shape (every
    source but ImageNet); "imagenet" = MobileNetV2's transforms (``luring_tf.data.imagenet_preprocessing``:
    short-side resize + centre crop, and random resized crop + flip for shuffled training batches).
    holdout: how the test split was drawn from the same images as train/val (a folder, an array, the MNIST
    sample, a tfds set without a test split), JSON-ready -- e.g. ``{"seed": 123, "test_size": 0.2, "images":
    500}``; another value means other test images, some of which were training images. None: a test set kept
    apart (the official test sets). `luring_tf.training.protect.protect_model` records it and
    `luring_tf.api.evaluate` refuses data whose hold-out differs.

    Reading the images, for every source (see ``luring_tf.data.streams``): ``stream(split, batch_size,
    ...)`` = a ``tf.data`` pipeline; ``size(split)``; ``images(split, limit)`` = a materialised array, for
    evaluation and attack sets only.
    """

    name: str
    x_train: np.ndarray | None
    y_train: np.ndarray | None
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    source: str
    labelled: bool = True
    files: dict | None = field(default=None, repr=False)
    image_shape: tuple | None = None
    class_names: tuple | None = None
    skipped: int = 0
    preprocessing: str | None = None
    holdout: dict | None = None

    def __post_init__(self):
        if self.image_shape is None and self.x_train is not None:
            object.__setattr__(self, "image_shape", tuple(int(d) for d in self.x_train.shape[1:]))

    def size(self, split: str) -> int:
        """Number of images in ``split``.

        Args:
            split: ``"train"``, ``"val"`` or ``"test"``.

        Returns:
            The count (0 for an empty split).
        """
        from luring_tf.data import streams

        return streams.size(self, split)

    def stream(self, split: str, batch_size: int, *, extras=(), shuffle: bool = False, seed: int = 0,
               repeat: bool = False):
        """``tf.data`` batches of ``split``; see ``luring_tf.data.streams.stream``.

        Args:
            split: ``"train"``, ``"val"`` or ``"test"``.
            batch_size: images per batch (the last batch may be smaller unless ``repeat``).
            extras: ``"labels"``, ``"images"`` or arrays with one row per image, yielded after x.
            shuffle: shuffle with one buffer of the whole split, reshuffled on each pass.
            seed: the shuffle's seed.
            repeat: endless.

        Returns:
            A ``tf.data.Dataset`` of float32 [B,H,W,C] in [0,1], or of ``(x, *extras)`` tuples.

        Example:
            >>> for x, y in data.stream("train", 64, extras=("labels",), shuffle=True, seed=0):
            ...     break
        """
        from luring_tf.data import streams

        return streams.stream(self, split, batch_size, extras=extras, shuffle=shuffle, seed=seed, repeat=repeat)

    def images(self, split: str, limit: int | None = None) -> np.ndarray:
        """The first ``limit`` images of ``split`` in memory (evaluation and attack sets).

        Args:
            split: ``"train"``, ``"val"`` or ``"test"``.
            limit: how many (all when None).

        Returns:
            float32 [N,H,W,C] in [0,1].
        """
        from luring_tf.data import streams

        return streams.images(self, split, limit)

    def labels(self, split: str) -> np.ndarray | None:
        """The labels of ``split``.

        Args:
            split: ``"train"``, ``"val"`` or ``"test"``.

        Returns:
            int64 [N] in 0..K-1, or None for unlabeled data.
        """
        return getattr(self, f"y_{split}")

    def sizes(self) -> str:
        """The split sizes in words, for logs and records.

        Returns:
            ``"train N, val N, test N"``, plus the skipped files when any.
        """
        text = ", ".join(f"{split} {self.size(split)}" for split in ("train", "val", "test"))
        return text + (f", {self.skipped} unreadable files skipped" if self.skipped else "")


@dataclass(frozen=True)
class OfficialSplits:
    """The official training and test sets as a source read them, before the train/val split.

    x_*: uint8 [N,H,W,C] in 0..255, in the source's order; y_*: int64 [N] in 0..9.
    holdout: as `Dataset.holdout` (the MNIST sample's test set is drawn from its 5,000 digits).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    holdout: dict | None = None
