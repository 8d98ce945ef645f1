"""Carlini-Wagner L2 (Carlini & Wagner 2017, "Towards evaluating the robustness of neural networks"), hand-written.

The cleverhans 3.0.1 algorithm (CleverHans 4's tf2 version fails on Keras 3): tanh-space variable, Adam,
binary search over the constant c per image, best (smallest l2) successful example kept. All images of the
batch are optimised together; each binary-search step is one compiled ``tf.while_loop``.
Paper Appendix D.2 (Table 9): 10 binary-search steps, learning rate 0.1, initial constant 0.5, 500 iterations.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from attacks.base import (AttackResult, Progress, check_eps, check_positive, check_positive_int,
                          identity_result, prepare)
from attacks.spsa import margin_loss


def cwl2(model, x, y=None, *, eps: float | None = None, binary_search_steps: int = 10,
         max_iterations: int = 500, learning_rate: float = 0.1, initial_const: float = 0.5,
         confidence: float = 0.0, abort_early: bool = True, seed: int | None = None,
         verbose: bool = False) -> AttackResult:
    """Untargeted CW-L2: minimise ||x' - x||_2^2 + c * max(z_y - max_{j != y} z_j + confidence, 0).

    x' = (tanh(w) + 1) / 2 stays in [0,1]; w starts at arctanh((2x - 1) * 0.999999); Adam (beta 0.9/0.999,
    eps 1e-8) on the modifier, reset every binary-search step. After each step, per image: success -> upper
    bound = c, else lower bound = c; c = (lower + upper)/2, or c*10 while no upper bound exists. With
    >= 10 steps the last one reuses the upper bound (cleverhans' ``repeat``). ``abort_early`` stops a step
    when the batch loss has not decreased by 0.01% over max_iterations/10 iterations. Images without any
    successful example (or whose best l2 exceeds ``eps``) are returned unchanged.

    model: Keras model or callable returning logits. x: float32 [N,H,W,C] in [0,1]. y: int [N] or None (model's
    predictions). eps: optional l2 cap (>= 0; None = unbounded): the output's l2 distance is <= eps.
    binary_search_steps, max_iterations: >= 1. learning_rate: Adam step (> 0). initial_const: first c (> 0).
    confidence: kappa (>= 0). abort_early: see above. seed: unused (deterministic). verbose: one line per
    binary-search step on stderr.
    extra: ``l2`` [N] (distance of the returned example), ``success`` [N], ``const`` [N] (final c).
    """
    cap = np.inf if eps is None else check_eps(eps, "eps", upper=None)
    steps = check_positive_int(binary_search_steps, "binary_search_steps")
    max_iterations = check_positive_int(max_iterations, "max_iterations")
    learning_rate = check_positive(learning_rate, "learning_rate")
    initial_const = check_positive(initial_const, "initial_const")
    confidence = check_eps(confidence, "confidence", upper=None)
    fn, xt, yt, q = prepare(model, x, y)
    if cap == 0:
        return identity_result(xt, q, l2=np.zeros(len(xt)), success=np.zeros(len(xt), bool))
    n = len(xt)
    axes = list(range(1, xt.shape.rank))
    w0 = tf.atanh((2.0 * xt - 1.0) * 0.999999)
    check_every = max(1, max_iterations // 10)

    @tf.function
    def optimise(const, best_l2, best_adv):
        def body(i, mod, m, v, prev, best_l2, best_adv, found, stop):
            with tf.GradientTape() as tape:
                tape.watch(mod)
                adv = (tf.tanh(w0 + mod) + 1.0) / 2.0
                l2 = tf.reduce_sum(tf.square(adv - xt), axes)
                margin = margin_loss(fn(adv), yt)
                loss = tf.reduce_sum(l2) + tf.reduce_sum(const * tf.maximum(margin + confidence, 0.0))
            grad = tape.gradient(loss, mod)
            # cleverhans keeps the example evaluated *before* the update
            fooled = margin + confidence < 0
            found = found | fooled
            improved = fooled & (l2 < best_l2)
            best_l2 = tf.where(improved, l2, best_l2)
            best_adv = tf.where(tf.reshape(improved, [-1] + [1] * len(axes)), adv, best_adv)
            t = tf.cast(i + 1, tf.float32)
            m = 0.9 * m + 0.1 * grad
            v = 0.999 * v + 0.001 * tf.square(grad)
            mod = mod - learning_rate * (m / (1 - 0.9 ** t)) / (tf.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
            at_check = tf.equal(i % check_every, 0) & abort_early
            stop = at_check & (loss > prev * 0.9999)
            prev = tf.where(at_check, loss, prev)
            return i + 1, mod, m, v, prev, best_l2, best_adv, found, stop

        zeros = tf.zeros_like(xt)
        init = (tf.constant(0), zeros, zeros, zeros, tf.constant(np.inf, tf.float32), best_l2, best_adv,
                tf.zeros([n], tf.bool), tf.constant(False))
        out = tf.while_loop(lambda i, *s: (i < max_iterations) & ~s[-1], body, init)
        return out[0], out[5], out[6], out[7]

    const = np.full(n, initial_const, np.float32)
    lower, upper = np.zeros(n), np.full(n, 1e10)
    best_l2 = tf.fill([n], tf.constant(np.inf, tf.float32))
    best_adv = xt
    iterations = 0
    progress = Progress("cwl2", steps, "binary-search steps", verbose)
    for step in range(steps):
        if steps >= 10 and step == steps - 1:
            const = np.where(upper < 1e9, upper, const).astype(np.float32)
        its, best_l2, best_adv, found = optimise(tf.constant(const), best_l2, best_adv)
        iterations += int(its)
        found = found.numpy()  # this step produced a successful example for the image
        upper = np.where(found, np.minimum(upper, const), upper)
        lower = np.where(found, lower, np.maximum(lower, const))
        const = np.where(upper < 1e9, (lower + upper) / 2, np.where(found, const, const * 10)).astype(np.float32)
        progress.update(step + 1)
    l2 = np.sqrt(best_l2.numpy().astype(np.float64))
    success = np.isfinite(l2) & (l2 <= cap)
    x_adv = np.where(success.reshape([-1] + [1] * len(axes)), best_adv.numpy(), xt.numpy()).astype(np.float32)
    return AttackResult(x_adv, iterations, q + iterations * n,
                        {"l2": np.where(success, l2, 0.0), "success": success, "const": const})
