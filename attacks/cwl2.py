"""Carlini-Wagner L2 (Carlini & Wagner 2017, "Towards evaluating the robustness of neural networks"), hand-written.

The cleverhans 3.0.1 algorithm (CleverHans 4's tf2 version fails on Keras 3): tanh-space variable, Adam,
binary search over the constant c per image, best (smallest l2) successful example kept.
Paper Appendix D.2 (Table 9): 10 binary-search steps, learning rate 0.1, initial constant 0.5, 500 iterations.

Batching: cleverhans 3.0.1 attacks one image at a time by default (``batch_size=1``), so its early abort is a
per-image decision. Here all images are optimised together, but each one keeps its own abort state: an image
that aborts leaves the batch (the batch is compacted between abort checks), and an image that does not abort
follows exactly the iterations it would follow alone.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from attacks.base import (AttackResult, Progress, check_eps, check_positive, check_positive_int,
                          identity_result, prepare)
from attacks.spsa import margin_loss

PREV_LOSS_SENTINEL = 1e6  # cleverhans 3.0.1's ``prev = 1e6``: an image whose loss starts above it aborts at once
NO_BOUND = 1e10  # cleverhans 3.0.1's initial upper bound on c ("no successful c known yet")


def _segments(max_iterations: int, check_every: int, abort_early: bool) -> list[tuple[int, int]]:
    """[start, end) iteration ranges, each ending right after an abort check (iterations 0, c, 2c, ...)."""
    if not abort_early:
        return [(0, max_iterations)]
    ends = sorted({min(e + 1, max_iterations) for e in range(0, max_iterations, check_every)} | {max_iterations})
    return list(zip([0, *ends[:-1]], ends))


def cwl2(model, x, y=None, *, eps: float | None = None, binary_search_steps: int = 10,
         max_iterations: int = 500, learning_rate: float = 0.1, initial_const: float = 0.5,
         confidence: float = 0.0, abort_early: bool = True, seed: int | None = None,
         verbose: bool = False) -> AttackResult:
    """Untargeted CW-L2: minimise ||x' - x||_2^2 + c * max(z_y - max_{j != y} z_j + confidence, 0).

    x' = (tanh(w) + 1) / 2 stays in [0,1]; w starts at arctanh((2x - 1) * 0.999999); Adam (beta 0.9/0.999,
    eps 1e-8) on the modifier, reset every binary-search step. After each step, per image: success -> upper
    bound = c, else lower bound = c; c = (lower + upper)/2, or c*10 while no upper bound exists. With
    >= 10 steps the last one runs with c = the upper bound (cleverhans' ``repeat``; 1e10 for an image that never
    succeeded, as cleverhans 3.0.1). ``abort_early``, per image as cleverhans 3.0.1 with its default batch of one:
    every max_iterations/10 iterations (from iteration 0) the image's loss is compared with the one at the
    previous check (initially 1e6); if it has not decreased by 0.01% the image stops this binary-search step,
    and the example of that iteration is not recorded (cleverhans breaks before its bookkeeping). So an image
    whose loss starts above 1e6 (hopeless at a large c) stops after one iteration. Images without any
    successful example (or whose best l2 exceeds ``eps``) are returned unchanged.
    Small departures from cleverhans 3.0.1: the l2 distance is measured to x itself, not to tanh(arctanh(...))
    of x (which differs by < 1e-6 per pixel); Adam uses the bias-corrected form m_hat / (sqrt(v_hat) + 1e-8).

    model: Keras model or callable returning logits. x: float32 [N,H,W,C] in [0,1]. y: int [N] or None (model's
    predictions). eps: optional l2 cap (>= 0; None = unbounded): the output's l2 distance is <= eps.
    binary_search_steps, max_iterations: >= 1. learning_rate: Adam step (> 0). initial_const: first c (> 0).
    confidence: kappa (>= 0). abort_early: see above. seed: unused (deterministic). verbose: one line per
    binary-search step on stderr.
    Returns ``iterations`` = the most iterations any image ran (over all binary-search steps) and ``queries`` =
    the images the model evaluated (each image once per iteration it ran, plus the default labels).
    extra: ``l2`` [N] (distance of the returned example), ``success`` [N], ``const`` [N] (final c),
    ``iterations_per_image`` [N].
    """
    cap = np.inf if eps is None else check_eps(eps, "eps", upper=None)
    steps = check_positive_int(binary_search_steps, "binary_search_steps")
    max_iterations = check_positive_int(max_iterations, "max_iterations")
    learning_rate = check_positive(learning_rate, "learning_rate")
    initial_const = check_positive(initial_const, "initial_const")
    confidence = check_eps(confidence, "confidence", upper=None)
    fn, xt, yt, q = prepare(model, x, y)
    n = len(xt)
    if cap == 0:
        return identity_result(xt, q, l2=np.zeros(n), success=np.zeros(n, bool),
                               iterations_per_image=np.zeros(n, np.int64))
    axes = list(range(1, xt.shape.rank))
    w0_all = tf.atanh((2.0 * xt - 1.0) * 0.999999)
    check_every = max(1, max_iterations // 10)
    img = tf.TensorSpec([None, *xt.shape[1:]], tf.float32)
    vec = tf.TensorSpec([None], tf.float32)
    flags = tf.TensorSpec([None], tf.bool)

    @tf.function(input_signature=[img, img, tf.TensorSpec([None], tf.int64), vec, img, img, img, vec, vec, img,
                                  flags, tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32)])
    def optimise(x0, w0, y0, const, mod, m, v, prev, best_l2, best_adv, found, start, end):
        """Iterations [start, end) for the images given (all alive at ``start``); returns the state and ``alive``."""
        def body(i, mod, m, v, prev, best_l2, best_adv, found, alive):
            with tf.GradientTape() as tape:
                tape.watch(mod)
                adv = (tf.tanh(w0 + mod) + 1.0) / 2.0
                l2 = tf.reduce_sum(tf.square(adv - x0), axes)
                margin = margin_loss(fn(adv), y0)
                loss = l2 + const * tf.maximum(margin + confidence, 0.0)  # per image
                total = tf.reduce_sum(loss)  # its gradient w.r.t. an image's modifier is that image's own
            grad = tape.gradient(total, mod)
            at_check = tf.equal(i % check_every, 0) & abort_early
            alive = alive & ~(at_check & (loss > prev * 0.9999))
            prev = tf.where(at_check & alive, loss, prev)
            # cleverhans keeps the example evaluated *before* the update, unless the image just aborted
            fooled = (margin + confidence < 0) & alive
            found = found | fooled
            improved = fooled & (l2 < best_l2)
            best_l2 = tf.where(improved, l2, best_l2)
            best_adv = tf.where(tf.reshape(improved, [-1] + [1] * len(axes)), adv, best_adv)
            t = tf.cast(i + 1, tf.float32)
            m = 0.9 * m + 0.1 * grad
            v = 0.999 * v + 0.001 * tf.square(grad)
            mod = mod - learning_rate * (m / (1 - 0.9 ** t)) / (tf.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
            return i + 1, mod, m, v, prev, best_l2, best_adv, found, alive

        init = (start, mod, m, v, prev, best_l2, best_adv, found, tf.ones_like(found))
        return tf.while_loop(lambda i, *s: (i < end) & tf.reduce_any(s[-1]), body, init)[1:]

    segments = _segments(max_iterations, check_every, abort_early)
    const = np.full(n, initial_const, np.float32)
    lower, upper = np.zeros(n), np.full(n, NO_BOUND)
    best_l2 = np.full(n, np.inf, np.float32)
    best_adv = xt.numpy()
    iterations = np.zeros(n, np.int64)
    progress = Progress("cwl2", steps, "binary-search steps", verbose)
    for step in range(steps):
        if steps >= 10 and step == steps - 1:
            const = upper.astype(np.float32)
        found = np.zeros(n, bool)  # this step produced a successful example for the image
        active = np.arange(n)
        zeros = tf.zeros_like(xt)
        mod, m, v = zeros, zeros, zeros
        prev = tf.fill([n], tf.constant(PREV_LOSS_SENTINEL, tf.float32))
        for start, end in segments:
            if len(active) == 0:
                break
            ids = tf.constant(active)
            mod, m, v, prev, seg_l2, seg_adv, seg_found, alive = optimise(
                tf.gather(xt, ids), tf.gather(w0_all, ids), tf.gather(yt, ids), tf.constant(const[active]),
                mod, m, v, prev, tf.constant(best_l2[active]), tf.constant(best_adv[active]),
                tf.constant(found[active]), tf.constant(start), tf.constant(end))
            best_l2[active], best_adv[active], found[active] = seg_l2.numpy(), seg_adv.numpy(), seg_found.numpy()
            iterations[active] += end - start  # an abort only happens at a segment's last iteration
            keep = alive.numpy()
            if not keep.all():  # compact: aborted images leave the batch
                kept = tf.constant(np.flatnonzero(keep))
                mod, m, v, prev = (tf.gather(t, kept) for t in (mod, m, v, prev))
                active = active[keep]
        upper = np.where(found, np.minimum(upper, const), upper)
        lower = np.where(found, lower, np.maximum(lower, const))
        const = np.where(upper < 1e9, (lower + upper) / 2, np.where(found, const, const * 10)).astype(np.float32)
        progress.update(step + 1)
    l2 = np.sqrt(best_l2.astype(np.float64))
    success = np.isfinite(l2) & (l2 <= cap)
    x_adv = np.where(success.reshape([-1] + [1] * len(axes)), best_adv, xt.numpy()).astype(np.float32)
    return AttackResult(x_adv, int(iterations.max()), q + int(iterations.sum()),
                        {"l2": np.where(success, l2, 0.0), "success": success, "const": const,
                         "iterations_per_image": iterations})
