"""The original train/val split and the [0,1] float conversion."""

from __future__ import annotations

import numpy as np

from luring_tf.data.dataset import Dataset, OfficialSplits
from luring_tf.errors import UserError


def to_unit_float(x: np.ndarray) -> np.ndarray:
    """uint8 images -> float32 in [0,1] (x / 255, as the original).

    Args:
        x: uint8 [N,H,W,C] in 0..255.

    Returns:
        float32 [N,H,W,C] in [0,1].
    """
    out = x.astype(np.float32)
    np.divide(out, np.float32(255), out=out)
    return out


def split_indices(n: int, val_fraction: float, split_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) indices equal to ``train_test_split(x, y, test_size=val_fraction, random_state=split_seed)``.

    That call's shuffle depends only on ``len(x)``, so splitting indices gives the same rows; n_val = ceil(f * n).

    Args:
        n: the number of training images.
        val_fraction: the share kept for validation.
        split_seed: the ``random_state``.

    Returns:
        (train indices, val indices), int arrays.

    Raises:
        UserError: the split would leave a part empty.
    """
    from sklearn.model_selection import train_test_split

    try:
        train, val = train_test_split(np.arange(n), test_size=val_fraction, random_state=split_seed)
    except ValueError as e:
        reason = " ".join(str(e).split())
        raise UserError(f"cannot split {n} training images with val fraction {val_fraction}: {reason}") from None
    return train, val


def split_official(name: str, raw: OfficialSplits, val_fraction: float, split_seed: int,
                   n_train: int | None = None, n_test: int | None = None) -> Dataset:
    """Split the official training set into train/val, keep the first ``n_train`` / ``n_test`` images, scale to [0,1].

    Args:
        name: the data set, named in the dataset's ``source``.
        raw: the official sets.
        val_fraction: the share of the training set kept for validation.
        split_seed: the seed of the split (``split_indices``).
        n_train: keep the first training images (None: all).
        n_test: keep the first test images (None: all).

    Returns:
        A ``luring_tf.data.dataset.Dataset`` of float32 [N,H,W,C] in [0,1] and int64 [N] labels.

    Raises:
        UserError: the split would leave a part empty.
    """
    train, val = split_indices(len(raw.x_train), val_fraction, split_seed)
    if n_train is not None:
        train = train[:n_train]
    test = slice(None) if n_test is None else slice(0, n_test)
    return Dataset(
        name=name,
        x_train=to_unit_float(raw.x_train[train]),
        y_train=raw.y_train[train],
        x_val=to_unit_float(raw.x_train[val]),
        y_val=raw.y_train[val],
        x_test=to_unit_float(raw.x_test[test]),
        y_test=raw.y_test[test],
        source=raw.source,
        holdout=raw.holdout,
    )
