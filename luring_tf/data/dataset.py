"""What every data source returns: the `Dataset` record, the valid names, and the raw official splits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DATASETS = ("mnist", "svhn", "cifar10")
SOURCES = ("auto", "tfds", "files", "sample")

# (H, W, C) of one image, per dataset.
IMAGE_SHAPES = {"mnist": (28, 28, 1), "svhn": (32, 32, 3), "cifar10": (32, 32, 3)}
DISPLAY_NAMES = {"mnist": "MNIST", "svhn": "SVHN", "cifar10": "CIFAR10"}
NUM_CLASSES = 10


@dataclass(frozen=True)
class Dataset:
    """One dataset, split as in the original code.

    x_*: float32 [N,H,W,C] in [0,1] (NHWC; MNIST 28x28x1, SVHN/CIFAR10 32x32x3).
    y_*: int64 [N] in 0..9 (integer labels; one-hot is the caller's choice).
    source: where the arrays came from, in words (goes into experiment records).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str


@dataclass(frozen=True)
class OfficialSplits:
    """The official training and test sets as a source read them, before the train/val split.

    x_*: uint8 [N,H,W,C] in 0..255, in the source's order; y_*: int64 [N] in 0..9.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
