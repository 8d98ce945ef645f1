"""Attacks checked against values worked out by hand (no trained model): the DIM resize, the TI kernel, ECO's
local search on a linear model whose every step can be followed on paper."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
import tensorflow as tf

import attacks
from attacks.helpers import depthwise_kernel, gkern
from attacks.transfer import _input_diversity, resize_nearest

# --- DIM: which rows/columns the nearest-neighbour resize keeps --------------------------------------------------
# TF1 resize_images(NEAREST_NEIGHBOR), as the original ran it: output i reads floor(i * H/h).
#   32 -> 31: floor(i * 32/31), i = 0..30 -> 0..30 (row 31 dropped)
#   32 -> 30: floor(i * 16/15), i = 0..29 -> 0..14, 16..30 (rows 15 and 31 dropped: 15 * 16/15 = 16)
#   28 -> 27: floor(i * 28/27), i = 0..26 -> 0..26 (row 27 dropped)
# TF2 tf.image.resize(nearest) reads floor((i + 0.5) * H/h): 32 -> 31 drops row 15, 32 -> 30 rows 7 and 23,
# 28 -> 27 row 13.
DROPPED = [  # (H, h, dropped by the legacy mapping, dropped by the half-pixel one)
    (32, 31, [31], [15]),
    (32, 30, [15, 31], [7, 23]),
    (28, 27, [27], [13]),
]


def _index_image(side: int) -> tf.Tensor:
    """[1, side, side, 2]: channel 0 holds the row index + 1, channel 1 the column index + 1 (never 0)."""
    r, c = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    return tf.constant(np.stack([r + 1, c + 1], -1)[None].astype(np.float32))


@pytest.mark.parametrize("side,size,legacy,half_pixel", DROPPED)
def test_dim_resize_keeps_the_original_rows_and_columns(side, size, legacy, half_pixel):
    x = _index_image(side)
    for mapping, dropped in (("legacy", legacy), ("half_pixel", half_pixel)):
        out = resize_nearest(x, [size, size], mapping).numpy()[0]
        kept = [i for i in range(side) if i not in dropped]
        np.testing.assert_array_equal(out[:, 0, 0] - 1, kept)  # rows read, top to bottom
        np.testing.assert_array_equal(out[0, :, 1] - 1, kept)  # columns read, left to right


@pytest.mark.parametrize("side", [32, 28])
def test_dim_transform_pads_the_legacy_resize(side):
    """The whole T(x) of DIM (p = 1): a zero frame around the legacy-resized image, whatever the draw."""
    x = _index_image(side)
    gen = tf.random.Generator.from_seed(0)
    sizes = set()
    for _ in range(12):
        out = _input_diversity(x, 1.0, gen, "original").numpy()[0]
        rows, cols = np.flatnonzero(out[:, :, 0].any(1)), np.flatnonzero(out[:, :, 0].any(0))
        size = len(rows)
        sizes.add(size)
        assert size in (side - 1, side - 2) and len(cols) == size
        inner = out[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        np.testing.assert_array_equal(inner, resize_nearest(x, [size, size], "legacy").numpy()[0])
        assert (out[:, :, 0] != 0).sum() == size * size  # everything else is zero padding
    assert sizes == {side - 1, side - 2}


def test_dim_resize_is_differentiable_through_kept_pixels():
    x = tf.Variable(tf.random.uniform([1, 32, 32, 1]))
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(resize_nearest(x, [30, 30], "legacy"))
    grad = tape.gradient(total, x).numpy()[0, :, :, 0]
    dead = [15, 31]
    assert (grad[dead, :] == 0).all() and (grad[:, dead] == 0).all()
    keep = [i for i in range(32) if i not in dead]
    assert (grad[np.ix_(keep, keep)] == 1).all()


# --- TI: the gaussian kernel against its formula ------------------------------------------------------------------
def _expected_kernel(k: int, nsig: float) -> np.ndarray:
    """outer(v, v) / sum with v = exp(-t^2 / 2), t = k points evenly spaced on [-nsig, nsig] (the pdf's constant
    cancels in the normalisation)."""
    t = -nsig + 2.0 * nsig * np.arange(k) / max(k - 1, 1)
    v = np.exp(-t * t / 2)
    return np.outer(v, v) / np.outer(v, v).sum()


def test_gkern_values_follow_the_formula():
    # by hand, k = 3, nsig = 3: t = (-3, 0, 3), v ~ (e^-4.5, 1, e^-4.5)
    a = np.exp(-4.5)
    v = np.array([a, 1.0, a]) / (1 + 2 * a)
    np.testing.assert_allclose(gkern(3, 3), np.outer(v, v), rtol=1e-5)
    assert gkern(3, 3)[1, 1] == pytest.approx(1 / (1 + 2 * a) ** 2, rel=1e-6)  # 0.97803
    for k, nsig in ((5, 3), (10, 3), (15, 3), (5, 1.5), (7, 2)):
        np.testing.assert_allclose(gkern(k, nsig), _expected_kernel(k, nsig), rtol=1e-5, atol=1e-9)
    # a different sigma is a different kernel (a wrong nsig cannot pass)
    assert np.abs(gkern(5, 3) - gkern(5, 2)).max() > 0.05
    assert gkern(1, 1).tolist() == [[1.0]]


def test_depthwise_kernel_is_gkern_on_every_channel():
    k = depthwise_kernel(5, 3.0, 3).numpy()
    assert k.shape == (5, 5, 3, 1)
    for c in range(3):
        np.testing.assert_array_equal(k[:, :, c, 0], gkern(5, 3))


# --- ECO on a linear model, followed by hand ------------------------------------------------------------------------
# Image 1x4x1, x = 0.5, eps = 0.1, block size 1 (4 blocks), one mini-batch of 4 blocks, label 0.
# Logits [s, 0] with s = b + w . x', so the loss l = -CE = -softplus(-s) increases with s; flipping block k from
# -eps to +eps adds 0.2 * w_k to s. Start: every block at -eps (x' = 0.4).

def _linear(w, b):
    wt = tf.constant(np.asarray(w, np.float32).reshape(1, 1, 4, 1))

    def logits(t):
        s = b + tf.reduce_sum(t * wt, axis=[1, 2, 3])
        return tf.stack([s, tf.zeros_like(s)], axis=1)
    return logits


X = np.full((1, 1, 4, 1), 0.5, np.float32)
Y = np.array([0])


def test_eco_local_search_matches_hand_computation():
    """w = (-3, -2, 1, 5), b = 1.6: s = 2.0 at the start.

    Insertion: the initial loss (1 query), then the 4 candidates in one chunk (4): s = 1.4, 1.6, 2.2, 3.0.
    Block 0 is the best: accepted (s = 1.4). Lazy loop: block 1 re-evaluated (1): s = 1.0, its margin
    l(1.0) - l(1.4) < 0 <= the heap top's (block 2, stale, > 0): accepted. Block 2 re-evaluated (1): s = 1.2,
    margin l(1.2) - l(1.0) = 0.050 <= block 3's stale l(3) - l(2) = 0.078, and > 0: the phase stops.
    7 queries, blocks 0 and 1 at +eps.
    Deletion on {0, 1}: one chunk of 2 (2): flipping back gives s = 1.6 (block 0) or 1.4 (block 1); both raise
    the loss, yet the best, block 1, is accepted *unconditionally* (s = 1.4). Lazy loop: block 0 re-evaluated (1):
    s = 2.0, margin > 0 and the heap is empty: stop. 3 queries.
    Total 10 = the budget, so the next pass's first query does not fit: the result is this local search's image,
    block 0 at +eps only: x' = (0.6, 0.4, 0.4, 0.4). Skipping the deletion phase would leave (0.6, 0.6, 0.4, 0.4),
    and so would accepting the best deletion only when it lowers the loss.
    """
    res = attacks.eco(_linear([-3, -2, 1, 5], 1.6), X, Y, eps=0.1, max_queries=10, block_size=1, batch_size=4)
    np.testing.assert_allclose(res.x_adv.ravel(), [0.6, 0.4, 0.4, 0.4], atol=1e-6)
    assert res.extra["queries_per_image"].tolist() == [10] and res.queries == 10
    assert res.extra["budget_exhausted"].tolist() == [True] and res.extra["success"].tolist() == [False]
    assert res.iterations == 1  # one local search completed


def test_eco_early_stop_charges_up_to_the_first_success():
    """w = (-3, -2, -1, -4), b = 4.1: s = 0.1 at the start and every single flip gives s < 0 (misclassified).
    The first candidate of the chunk succeeds: 1 (initial loss) + 1 query, not 1 + 4; with a budget of 2 the chunk
    is cut to one candidate and still succeeds."""
    model = _linear([-3, -2, -1, -4], 4.1)
    for budget in (20, 2):
        res = attacks.eco(model, X, Y, eps=0.1, max_queries=budget, block_size=1, batch_size=4, early_stop=True)
        assert res.extra["queries_per_image"].tolist() == [2], budget
        assert res.extra["success"].tolist() == [True]
        flipped = np.isclose(res.x_adv.ravel(), 0.6)
        assert flipped.sum() == 1 and np.isclose(res.x_adv.ravel()[~flipped], 0.4).all()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_eco_early_stop_charges_the_successful_position(seed):
    """Only block 0 misclassifies (s = 0.1 - 0.6 < 0; the others raise s): the chunk is charged up to its position
    in the visiting order, np.random.RandomState(seed).permutation(4) for image 0."""
    model = _linear([-3, 0.5, 0.5, 0.5], 0.1 + 0.4 * 1.5)
    res = attacks.eco(model, X, Y, eps=0.1, max_queries=20, block_size=1, batch_size=4, early_stop=True, seed=seed)
    position = list(np.random.RandomState(seed).permutation(4)).index(0)
    assert res.extra["queries_per_image"].tolist() == [1 + position + 1]
    np.testing.assert_allclose(res.x_adv.ravel(), [0.6, 0.4, 0.4, 0.4], atol=1e-6)
