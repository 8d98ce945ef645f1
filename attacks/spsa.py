"""SPSA (Uesato et al. 2018, "Adversarial risk and the dangers of evaluating against weak attacks"), hand-written.

The port of cleverhans 3.0.1 ``SPSA`` / ``SPSAAdam`` as the original code ran it (spec section 3.2): the
CleverHans 4 tf2 version fails on Keras 3 (``lr=`` passed to the optimizer) and its estimate lacks 1/delta.
Batched over images; the ``spsa_samples`` perturbations are evaluated in chunks of at most ``spsa_chunk``
images per model call, so memory stays bounded whatever the batch.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from attacks.base import (AttackResult, Progress, check_eps, check_positive, check_positive_int,
                          identity_result, prepare)
from attacks.helpers import project_linf, run_in_chunks, tf_generator


def margin_loss(logits: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """z_y - max_{j != y} z_j per example (SPSA minimises it; negative = misclassified)."""
    onehot = tf.one_hot(y, tf.shape(logits)[-1]) > 0
    z_y = tf.reduce_sum(tf.where(onehot, logits, 0.0), axis=-1)
    z_other = tf.reduce_max(tf.where(onehot, tf.constant(-np.inf, logits.dtype), logits), axis=-1)
    return z_y - z_other


def _check_samples(spsa_samples: int, spsa_chunk: int) -> tuple[int, int]:
    spsa_samples = check_positive_int(spsa_samples, "spsa_samples")
    spsa_chunk = check_positive_int(spsa_chunk, "spsa_chunk")
    if spsa_samples % 2:
        raise ValueError(f"spsa_samples must be even (antithetic +/- pairs), got {spsa_samples}")
    if spsa_chunk < 2:
        raise ValueError(f"spsa_chunk must be >= 2 (one +/- pair), got {spsa_chunk}")
    return spsa_samples, spsa_chunk


def _make_estimator(fn, delta: float, pairs: int, pairs_per_call: int, gen: tf.random.Generator):
    """Graph function (x [n,...], y [n]) -> mean_k(L(x + D_k) * D_k) / delta over 2*pairs antithetic samples."""

    def chunk(xp, y, c):
        shape = tf.concat([[c], tf.shape(xp)], 0)
        d = delta * tf.sign(gen.uniform(shape, -1.0, 1.0))
        d = tf.concat([d, -d], 0)  # [2c, n, ...]
        pts = tf.reshape(xp[None] + d, tf.concat([[-1], tf.shape(xp)[1:]], 0))
        losses = tf.reshape(margin_loss(fn(pts), tf.tile(y, [2 * c])), [2 * c, -1])
        losses = tf.reshape(losses, tf.concat([tf.shape(losses), tf.ones([tf.rank(xp) - 1], tf.int32)], 0))
        return tf.reduce_sum(losses * d, 0)

    full, rest = divmod(pairs, pairs_per_call)

    def estimate(xp, y):
        acc = tf.while_loop(lambda j, a: j < full, lambda j, a: (j + 1, a + chunk(xp, y, pairs_per_call)),
                            (tf.constant(0), tf.zeros_like(xp)))[1]
        if rest:
            acc = acc + chunk(xp, y, rest)
        return acc / (2.0 * pairs) / delta

    return estimate


def _groups(n: int, spsa_samples: int, spsa_chunk: int) -> tuple[int, int]:
    """(images per group, +/- pairs per model call) so that one call sees at most spsa_chunk images."""
    group = min(n, max(1, spsa_chunk // 2))
    return group, max(1, min(spsa_samples // 2, spsa_chunk // (2 * group)))


def spsa_gradient_estimate(model, x, y=None, *, delta: float = 0.01, spsa_samples: int = 128,
                           spsa_chunk: int = 8192, seed: int | None = None) -> np.ndarray:
    """SPSA estimate of grad_x of the margin loss at x, as cleverhans 3.0.1 computes it: float32 ``[N,...]``.

    g = mean_k(L(x + D_k) * D_k) / delta, D_k = delta * v_k, v_k Rademacher, antithetic pairs (+D, -D).
    For a smooth L this is ~ delta * grad L (the original's scale; Adam is scale-invariant).
    spsa_samples: even number of evaluation points per image. spsa_chunk: max images per model call.
    seed: seeds the Rademacher draws.
    """
    delta = check_positive(delta, "delta")
    spsa_samples, spsa_chunk = _check_samples(spsa_samples, spsa_chunk)
    fn, xt, yt, _ = prepare(model, x, y)
    group, per_call = _groups(len(xt), spsa_samples, spsa_chunk)
    est = tf.function(_make_estimator(fn, delta, spsa_samples // 2, per_call, tf_generator(seed)))
    return np.concatenate([est(xt[s:s + group], yt[s:s + group]).numpy() for s in range(0, len(xt), group)])


def spsa(model, x, y=None, *, eps: float, learning_rate: float = 0.1, delta: float = 0.01,
         spsa_samples: int = 128, nb_iter: int = 100, spsa_chunk: int = 8192, beta1: float = 0.9,
         beta2: float = 0.999, adam_epsilon: float = 1e-9, seed: int | None = None,
         verbose: bool = False) -> AttackResult:
    """SPSA attack (Uesato et al. 2018) with Adam, l-inf ball, untargeted, no early stop; returns the last iterate.

    Paper Appendix F.1: learning rate 0.1, 100 iterations, "batch size" 128 (= ``spsa_samples``: 64 antithetic
    pairs). The original code ran ``learning_rate=0.01`` (spec 3.2/5): pass it to replicate the code.
    Loss (minimised): margin z_y - max_{j != y} z_j on logits. Init delta ~ U[-eps, eps], projected; each
    iteration: gradient estimate (:func:`spsa_gradient_estimate`), bias-corrected Adam step on the perturbation,
    projection x + clip(delta, -eps, eps) clipped to [0,1].

    model: Keras model or callable returning logits. x: float32 [N,H,W,C] in [0,1]. y: int [N] or None (model's
    predictions). eps: l-inf budget in [0,1]. learning_rate: Adam step (> 0). delta: finite-difference size.
    spsa_samples: even evaluation points per image per iteration. nb_iter: iterations. spsa_chunk: max images
    per model call (memory bound; images are split into groups when spsa_chunk < 2N). beta1, beta2,
    adam_epsilon: Adam constants (cleverhans TensorAdam defaults). seed: seeds init and Rademacher draws.
    verbose: progress line every ~10% of the iterations on stderr.
    Queries: N * nb_iter * spsa_samples (+ N for the default labels).
    """
    eps = check_eps(eps)
    learning_rate = check_positive(learning_rate, "learning_rate")
    delta = check_positive(delta, "delta")
    nb_iter = check_positive_int(nb_iter, "nb_iter")
    spsa_samples, spsa_chunk = _check_samples(spsa_samples, spsa_chunk)
    for name, beta in (("beta1", beta1), ("beta2", beta2)):
        if not 0.0 <= float(beta) < 1.0:
            raise ValueError(f"{name} must be in [0,1), got {beta!r}")
    adam_epsilon = check_positive(adam_epsilon, "adam_epsilon")
    fn, xt, yt, q = prepare(model, x, y)
    if eps == 0:
        return identity_result(xt, q)
    gen = tf_generator(seed)
    group, per_call = _groups(len(xt), spsa_samples, spsa_chunk)
    estimate = _make_estimator(fn, delta, spsa_samples // 2, per_call, gen)

    def adam_step(x0, y, pert, m, v, t):
        grad = estimate(x0 + pert, y)
        t = t + 1.0
        m = beta1 * m + (1.0 - beta1) * grad
        v = beta2 * v + (1.0 - beta2) * tf.square(grad)
        m_hat = m / (1.0 - tf.pow(beta1, t))
        v_hat = v / (1.0 - tf.pow(beta2, t))
        pert = pert - learning_rate * m_hat / (tf.sqrt(v_hat) + adam_epsilon)
        return project_linf(x0 + pert, x0, eps) - x0, m, v, t

    @tf.function(reduce_retracing=True)
    def run(x0, y, pert, m, v, t, n):
        body = lambda i, *s: (i + 1, *adam_step(x0, y, *s))
        return tf.while_loop(lambda i, *s: i < n, body, (tf.constant(0), pert, m, v, t))[1:]

    @tf.function(reduce_retracing=True)
    def init(x0):
        return project_linf(x0 + gen.uniform(tf.shape(x0), -eps, eps), x0, eps) - x0

    out, total_groups = [], -(-len(xt) // group)
    for gi, s in enumerate(range(0, len(xt), group)):
        x0, y0 = xt[s:s + group], yt[s:s + group]
        state = [init(x0), tf.zeros_like(x0), tf.zeros_like(x0), tf.constant(0.0)]
        progress = Progress(f"spsa group {gi + 1}/{total_groups}" if total_groups > 1 else "spsa",
                            nb_iter, "iterations", verbose)

        def chunk(n):
            state[:] = run(x0, y0, *state, tf.constant(n))

        run_in_chunks(chunk, nb_iter, progress)
        out.append((x0 + state[0]).numpy())
    x_adv = np.clip(np.concatenate(out), 0.0, 1.0).astype(np.float32)
    return AttackResult(x_adv, nb_iter, q + len(xt) * nb_iter * spsa_samples,
                        {"learning_rate": learning_rate, "images_per_group": group, "pairs_per_call": per_call})
