"""Shared checks for arrays read from user files: every failure is a `UserError` naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from luring_tf.errors import UserError
from luring_tf.data.dataset import NUM_CLASSES


def bad_file(path: Path | str, problem: str, fix: str = "re-download it") -> UserError:
    """The one-line error for a file that exists but cannot be used."""
    return UserError(f"{path}: {problem}; {fix}")


def check_images(x: np.ndarray, path: Path | str, shape: tuple[int, int, int]) -> np.ndarray:
    """x: uint8 [N,H,W,C]; returns it unchanged or raises naming `path`."""
    if x.dtype != np.uint8:
        raise bad_file(path, f"images have dtype {x.dtype}, expected uint8")
    if x.ndim != 4 or x.shape[1:] != shape:
        raise bad_file(path, f"images have shape {x.shape}, expected (N, {', '.join(map(str, shape))})")
    if x.shape[0] == 0:
        raise bad_file(path, "holds no images")
    return x


def check_labels(y: np.ndarray, path: Path | str, n: int, low: int = 0, high: int = NUM_CLASSES - 1) -> np.ndarray:
    """y: integer [N] or [N,1] in low..high; returns int64 [N] or raises naming `path`."""
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
