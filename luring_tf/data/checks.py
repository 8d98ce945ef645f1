"""Shared checks for arrays read from user files: every failure is a `UserError` naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from luring_tf.errors import UserError
from luring_tf.data.dataset import NUM_CLASSES


def bad_file(path: Path | str, problem: str, fix: str = "re-download it") -> UserError:
    """The one-line error for a file that exists but cannot be used.

    Args:
        path: the file.
        problem: what is wrong with it, e.g. ``"holds no images"``.
        fix: what the user should do.

    Returns:
        A ``UserError`` reading ``"<path>: <problem>; <fix>"`` (the caller raises it).

    Example:
        >>> raise bad_file("train_32x32.mat", "is truncated")
    """
    return UserError(f"{path}: {problem}; {fix}")


def check_images(x: np.ndarray, path: Path | str, shape: tuple[int, int, int]) -> np.ndarray:
    """Check images read from ``path``: uint8 [N,H,W,C] with ``(H, W, C) == shape`` and N > 0.

    Args:
        x: the images as read.
        path: the file they came from (named in the error).
        shape: the expected ``(H, W, C)``.

    Returns:
        ``x`` unchanged.

    Raises:
        UserError: wrong dtype, wrong shape or no image (``bad_file``).
    """
    if x.dtype != np.uint8:
        raise bad_file(path, f"images have dtype {x.dtype}, expected uint8")
    if x.ndim != 4 or x.shape[1:] != shape:
        raise bad_file(path, f"images have shape {x.shape}, expected (N, {', '.join(map(str, shape))})")
    if x.shape[0] == 0:
        raise bad_file(path, "holds no images")
    return x


def check_labels(y: np.ndarray, path: Path | str, n: int, low: int = 0, high: int = NUM_CLASSES - 1) -> np.ndarray:
    """Check labels read from ``path``: N integers (integer-valued floats accepted) in ``low..high``.

    Args:
        y: integer [N] or [N,1].
        path: the file they came from (named in the error).
        n: the number of images they go with.
        low: the smallest label allowed.
        high: the largest label allowed.

    Returns:
        int64 [N].

    Raises:
        UserError: wrong shape, non-integer values, a count other than ``n``, or a label out of range.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise bad_file(path, f"labels have shape {y.shape}, expected (N,) or (N, 1)")
    if not np.issubdtype(y.dtype, np.integer) and not (
        np.issubdtype(y.dtype, np.floating) and np.array_equal(y, np.round(y))
    ):
        raise bad_file(path, f"labels have dtype {y.dtype}, expected integers")
    if y.shape[0] != n:
        raise bad_file(path, f"{y.shape[0]} labels for {n} images (counts must match)")
    if y.size and (y.min() < low or y.max() > high):
        raise bad_file(path, f"labels span {y.min()}..{y.max()}, expected {low}..{high}")
    return y.astype(np.int64)
