"""Transfer-oriented MIM variants: DIM, MIM-TI, DIM-TI (paper Section 4.2, Appendix F.2; spec section 3.1).

One compiled MIM loop (the CleverHans MIM update, spec section 2) with two optional hooks:

* input diversity (DIM, Xie et al. 2019): the logits are taken on T(x_t), the gradient w.r.t. x_t through T;
* translation invariance (TI, Dong et al. 2019): the raw gradient is convolved with a gaussian kernel
  (``tf.nn.depthwise_conv2d``, SAME, same kernel per channel) *before* the mean-|g| normalisation.

With ``p = 0`` and ``kernel_size = 1`` the loop is exactly CleverHans MIM (tested).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from attacks.base import (AttackResult, Progress, check_eps, check_momentum, check_positive, check_positive_int,
                          check_probability, identity_result, prepare)
from attacks.helpers import depthwise_kernel, project_linf, run_in_chunks, tf_generator

DIVERSITIES = ("original", "xie")
RESIZE_MAPPINGS = ("legacy", "half_pixel")


def resize_nearest(x: tf.Tensor, size, mapping: str = "legacy") -> tf.Tensor:
    """Nearest-neighbour resize of ``x`` [N,H,W,C] to ``size`` (h, w), differentiable w.r.t. the kept pixels.

    ``legacy``: TF1's ``resize_images(..., NEAREST_NEIGHBOR)`` as the original code ran it (TF 1.12,
    align_corners=False, no half-pixel centres): output row i reads input row floor(i * H/h), so 32 -> 31 drops
    row 31, 32 -> 30 drops rows 15 and 31, 28 -> 27 drops row 27. ``half_pixel``: TF2's
    ``tf.image.resize(method="nearest")``, row floor((i + 0.5) * H/h): 32 -> 31 drops row 15 instead.
    """
    if mapping == "legacy":  # the op behind tf.compat.v1.image.resize_nearest_neighbor (it has a gradient)
        return tf.raw_ops.ResizeNearestNeighbor(images=x, size=tf.cast(size, tf.int32), align_corners=False,
                                                half_pixel_centers=False)
    return tf.image.resize(x, size, method="nearest")


def _input_diversity(x: tf.Tensor, p: float, gen: tf.random.Generator, diversity: str,
                     resize: str = "legacy") -> tf.Tensor:
    """T(x) with probability p (one Bernoulli and one size/offset draw per batch per iteration), else x.

    ``original`` (the authors' code): resize *down* to r x r, r ~ U{H-2, H-1}, nearest neighbour, then zero-pad
    back to H x W at a random offset (top/left ~ U{0..H-r-1}). ``xie`` (Xie et al. 2019, scaled to H): resize
    *up* to r ~ U{H..round(H*330/299)-1} (nearest), zero-pad to round(H*330/299) at a random offset, then resize
    back to H x W (bilinear) so fixed-size Keras inputs still fit. ``resize``: the nearest-neighbour mapping of
    :func:`resize_nearest` (``legacy`` = the original's TF1 one).
    """
    h, w = int(x.shape[1]), int(x.shape[2])
    if diversity == "original":
        rem = gen.uniform([], 1, 3, dtype=tf.int32)
        resized = resize_nearest(x, tf.stack([h - rem, w - rem]), resize)
        top = gen.uniform([], 0, rem, dtype=tf.int32)
        left = gen.uniform([], 0, rem, dtype=tf.int32)
        out = tf.pad(resized, [[0, 0], [top, rem - top], [left, rem - left], [0, 0]])
    else:
        hmax, wmax = int(round(h * 330 / 299)), int(round(w * 330 / 299))
        grow = gen.uniform([], 0, hmax - h, dtype=tf.int32)
        rh, rw = h + grow, w + grow * (wmax - w) // max(1, hmax - h)
        resized = resize_nearest(x, tf.stack([rh, rw]), resize)
        top = gen.uniform([], 0, hmax - rh + 1, dtype=tf.int32)
        left = gen.uniform([], 0, wmax - rw + 1, dtype=tf.int32)
        padded = tf.pad(resized, [[0, 0], [top, hmax - rh - top], [left, wmax - rw - left], [0, 0]])
        padded.set_shape([None, hmax, wmax, x.shape[3]])
        out = tf.image.resize(padded, [h, w], method="bilinear")
    out.set_shape(x.shape)
    return tf.cond(gen.uniform([]) < p, lambda: out, lambda: x)


def transfer_mim(model, x, y=None, *, eps: float, eps_iter: float = 0.01, nb_iter: int = 1000,
                 decay: float = 1.0, p: float = 0.0, diversity: str = "original", resize: str = "legacy",
                 kernel_size: int = 1, nsig: float = 3.0, seed: int | None = None,
                 verbose: bool = False) -> AttackResult:
    """MIM with optional input diversity (DIM) and translation-invariant gradient smoothing (TI).

    Per iteration: g = grad_x CE(model(T(x_t)), y) (T only with probability p); g <- K * g (depthwise conv,
    SAME) if kernel_size > 1; g <- g / max(1e-12, mean|g|); m <- decay*m + g; x <- x + eps_iter*sign(m);
    x <- clip(x0 + clip(x - x0, -eps, eps), 0, 1).

    model: Keras model or callable returning logits. x: float32 [N,H,W,C] in [0,1]. y: int [N] or None
    (model's clean predictions). eps: l-inf budget in [0,1]. eps_iter: step (> 0; spec 0.01). nb_iter:
    iterations (paper 1000 / 500 / 100 on MNIST / SVHN / CIFAR10). decay: momentum mu (1.0).
    p: probability of the diversity transform, in [0,1]. diversity: ``"original"`` (code: resize down, pad) or
    ``"xie"`` (Xie et al.: resize up, pad, resize back). resize: nearest-neighbour mapping of the diversity
    transform, ``"legacy"`` (default: TF1's, as the original code ran) or ``"half_pixel"`` (TF2's
    ``tf.image.resize``; keeps other rows, see :func:`resize_nearest`). kernel_size: TI kernel side k >= 1 (1 = no smoothing;
    paper grid 3, 5, 10, 15). nsig: kernel half-width in standard deviations (original code: 3).
    seed: seeds the diversity draws. verbose: progress line every ~10% of the iterations on stderr.
    """
    eps = check_eps(eps)
    eps_iter, nb_iter, decay = check_momentum(eps_iter, nb_iter, decay)
    p = check_probability(p, "p")
    kernel_size = check_positive_int(kernel_size, "kernel_size")
    nsig = check_positive(nsig, "nsig")
    if diversity not in DIVERSITIES:
        raise ValueError(f"diversity must be one of {DIVERSITIES}, got {diversity!r}")
    if resize not in RESIZE_MAPPINGS:
        raise ValueError(f"resize must be one of {RESIZE_MAPPINGS}, got {resize!r}")
    fn, xt, yt, q = prepare(model, x, y)
    if xt.shape.rank != 4 and (p > 0 or kernel_size > 1):
        raise ValueError(f"DIM/TI need image batches [N,H,W,C], got shape {tuple(xt.shape)}")
    if eps == 0:
        return identity_result(xt, q)
    kernel = depthwise_kernel(kernel_size, nsig, int(xt.shape[-1])) if kernel_size > 1 else None
    gen = tf_generator(seed)
    axes = list(range(1, xt.shape.rank))

    def one_step(adv, momentum):
        with tf.GradientTape() as tape:
            tape.watch(adv)
            inp = _input_diversity(adv, p, gen, diversity, resize) if p > 0 else adv
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(yt, fn(inp))
        grad = tape.gradient(loss, adv)
        if kernel is not None:
            grad = tf.nn.depthwise_conv2d(grad, kernel, [1, 1, 1, 1], "SAME")
        grad = grad / tf.maximum(1e-12, tf.reduce_mean(tf.abs(grad), axes, keepdims=True))
        momentum = decay * momentum + grad
        adv = adv + eps_iter * tf.stop_gradient(tf.sign(momentum))
        return project_linf(adv, xt, eps), momentum

    @tf.function
    def run(adv, momentum, n):
        return tf.while_loop(lambda i, a, m: i < n, lambda i, a, m: (i + 1, *one_step(a, m)),
                             (tf.constant(0), adv, momentum))[1:]

    state = [xt, tf.zeros_like(xt)]

    def chunk(n):
        state[0], state[1] = run(state[0], state[1], tf.constant(n))

    name = "dim" if p > 0 and kernel is None else "dim_ti" if p > 0 else "mim_ti" if kernel is not None else "mim"
    run_in_chunks(chunk, nb_iter, Progress(name, nb_iter, "iterations", verbose))
    return AttackResult(state[0].numpy().astype(np.float32), nb_iter, q + nb_iter * len(xt))


def dim(model, x, y=None, *, eps: float, p: float = 1.0, diversity: str = "original", resize: str = "legacy",
        eps_iter: float = 0.01, nb_iter: int = 1000, decay: float = 1.0, seed: int | None = None,
        verbose: bool = False) -> AttackResult:
    """DIM, "MIMDiverse" (Xie et al. 2019, "Improving transferability of adversarial examples with input diversity").

    Paper Section 4.2 / Appendix F.2: p searched in {0.1, ..., 1.0}; best 1.0 / 1.0 / 0.6 (MNIST/SVHN/CIFAR10).
    The default transform is the original code's (spec 3.1): resize **down** to {H-2, H-1} and zero-pad back,
    which differs from Xie et al. (resize **up** 299 -> [299, 330) and pad to 330); ``diversity="xie"`` gives
    the latter, scaled to H and resized back to H. The nearest-neighbour resize uses TF1's mapping
    (``resize="legacy"``, as the original ran it); TF2's half-pixel one keeps different rows
    (``resize="half_pixel"``). Parameters: see :func:`transfer_mim` (kernel_size = 1).
    """
    return transfer_mim(model, x, y, eps=eps, eps_iter=eps_iter, nb_iter=nb_iter, decay=decay, p=p,
                        diversity=diversity, resize=resize, kernel_size=1, seed=seed, verbose=verbose)


def mim_ti(model, x, y=None, *, eps: float, kernel_size: int = 5, nsig: float = 3.0, eps_iter: float = 0.01,
           nb_iter: int = 1000, decay: float = 1.0, seed: int | None = None, verbose: bool = False) -> AttackResult:
    """MIM-TI (Dong et al. 2019, "Evading defenses to transferable adversarial examples by translation-invariant
    attacks"): MIM whose gradient is smoothed by a k x k gaussian kernel before normalisation.

    Paper Appendix F.2, Tables 11-13: k searched in {3, 5, 10, 15} (the original code: gkern(k, nsig=3), plus
    (1, 1) = identity = plain MIM). Even k uses TF's asymmetric SAME padding, as the original.
    Parameters: see :func:`transfer_mim` (p = 0).
    """
    return transfer_mim(model, x, y, eps=eps, eps_iter=eps_iter, nb_iter=nb_iter, decay=decay, p=0.0,
                        kernel_size=kernel_size, nsig=nsig, seed=seed, verbose=verbose)


def dim_ti(model, x, y=None, *, eps: float, kernel_size: int = 5, nsig: float = 3.0, p: float = 1.0,
           diversity: str = "original", resize: str = "legacy", eps_iter: float = 0.01, nb_iter: int = 1000,
           decay: float = 1.0, seed: int | None = None, verbose: bool = False) -> AttackResult:
    """DIM-TI ("MIM-TI-DIM"): input diversity and translation-invariant smoothing together (Dong et al. 2019).

    Logits on T(x_t), kernel on the gradient, then normalisation and momentum (spec 3.1). Paper: p fixed to
    1.0 / 1.0 / 0.6 on MNIST / SVHN / CIFAR10 (default 1.0), kernel grid {3, 5, 10, 15}.
    Parameters: see :func:`transfer_mim`.
    """
    return transfer_mim(model, x, y, eps=eps, eps_iter=eps_iter, nb_iter=nb_iter, decay=decay, p=p,
                        diversity=diversity, resize=resize, kernel_size=kernel_size, nsig=nsig, seed=seed,
                        verbose=verbose)
