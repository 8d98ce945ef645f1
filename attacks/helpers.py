"""Shared math of the attacks: eps-ball projections, clipping, random starts, the TI gaussian kernel, seeding,
chunked loops."""

from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.stats
import tensorflow as tf

from attacks.base import Progress


def project_linf(x_adv: tf.Tensor, x: tf.Tensor, eps: float | tf.Tensor) -> tf.Tensor:
    """x + clip(x_adv - x, -eps, eps), then clipped to [0,1] (the original ``clip_adv`` followed by the box)."""
    return tf.clip_by_value(x + tf.clip_by_value(x_adv - x, -eps, eps), 0.0, 1.0)


def project_l2(x_adv: tf.Tensor, x: tf.Tensor, bound: float | tf.Tensor) -> tf.Tensor:
    """Scale each example's perturbation by min(1, bound/||d||_2) (sum over all H*W*C), then clip to [0,1]."""
    d = x_adv - x
    axes = list(range(1, len(d.shape)))
    norm = tf.sqrt(tf.maximum(1e-12, tf.reduce_sum(tf.square(d), axes, keepdims=True)))
    return tf.clip_by_value(x + d * tf.minimum(1.0, bound / norm), 0.0, 1.0)


def l2_norms(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-example l2 distance over all non-batch axes, float64 ``[N]``."""
    d = (np.asarray(a, np.float64) - np.asarray(b, np.float64)).reshape(len(a), -1)
    return np.sqrt((d * d).sum(axis=1))


def gkern(kernel_size: int, nsig: float = 3.0) -> np.ndarray:
    """The TI kernel of the original code: outer(v, v)/sum, v = N(0,1).pdf(linspace(-nsig, nsig, k)); ``[k,k]`` float32.

    ``kernel_size=1`` gives ``[[1.]]`` (identity).
    """
    t = np.linspace(-nsig, nsig, kernel_size)
    v = scipy.stats.norm.pdf(t)
    k = np.outer(v, v)
    return (k / k.sum()).astype(np.float32)


def depthwise_kernel(kernel_size: int, nsig: float, channels: int) -> tf.Tensor:
    """``gkern`` stacked for ``tf.nn.depthwise_conv2d``: shape ``[k,k,C,1]``, same 2-D kernel per channel."""
    k = gkern(kernel_size, nsig)
    return tf.constant(np.repeat(k[:, :, None, None], channels, axis=2))


def tf_generator(seed: int | None) -> tf.random.Generator:
    """A stateful TF generator: seeded (repeatable) or from OS entropy."""
    if seed is None:
        return tf.random.Generator.from_non_deterministic_state()
    return tf.random.Generator.from_seed(int(seed))


def stateless_seed(seed: int | None) -> tf.Tensor:
    """The int64 [2] seed of TF's stateless random ops for ``seed`` (None: a fresh one from OS entropy)."""
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))
    return tf.constant([int(seed), 0], tf.int64)


def random_start(shape, norm, radius, seed: tf.Tensor) -> tf.Tensor:
    """A random perturbation of ``shape`` [N,...] in the norm ball of ``radius`` (a number or [N,1,...,1]),
    drawn by stateless ops from ``seed`` (int64 [2]).

    l-inf: uniform in [-radius, radius] per component. l2: uniform in the ball, as CleverHans's
    ``random_lp_vector`` (Calafiore et al. 1998): a gaussian direction, its length radius * U^(1/d).
    """
    if norm == np.inf:
        return tf.random.stateless_uniform(shape, seed, -1.0, 1.0) * radius
    dim = tf.reduce_prod(shape[1:])
    direction = tf.random.stateless_normal(tf.stack([shape[0], dim]), seed)
    length = tf.pow(tf.random.stateless_uniform(tf.stack([shape[0], 1]), seed + [0, 1]), 1.0 / tf.cast(dim, tf.float32))
    unit = direction / tf.sqrt(tf.reduce_sum(tf.square(direction), axis=-1, keepdims=True))
    return tf.reshape(length * unit, shape) * radius


def run_in_chunks(step: Callable[[int], None], total: int, progress: Progress, chunks: int = 10) -> None:
    """Call ``step(n)`` (a compiled loop of n iterations) ~``chunks`` times to cover ``total``, reporting progress."""
    size = max(1, -(-total // chunks))
    done = 0
    while done < total:
        n = min(size, total - done)
        step(n)
        done += n
        progress.update(done)
