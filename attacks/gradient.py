"""White-box gradient attacks through CleverHans 4 (tf2): FGSM, PGD, MIM, MIM-L2.

FGSM, MIM and MIM-L2 are the CleverHans implementations, called unchanged; PGD is CleverHans's loop (its
``fast_gradient_method`` step and ``clip_eta`` projection) with the random start drawn here from the call's
seed (below). This module compiles them (the iteration count is passed as a tensor, so the loop becomes a
``tf.while_loop`` in one graph), fixes the paper's parameters as defaults (spec section 2, paper Appendix D.1)
and honours the :mod:`attacks.base` contract. All are untargeted, cross-entropy on logits, clipped to [0,1]
every step.

Compiled once per architecture (:mod:`attacks.compiled`): for a Keras model, each graph takes ε (and MIM-L2's
bound, PGD's step, start radius and seed) as tensors and the model's weights as arguments, and is kept per
(architecture, attack, static settings). The characterization's three ε, every chunk and the four T = M∘P of
one architecture reuse one trace (tracing costs about as much CPU as 10 iterations on 100 MNIST images).

ε may also be given per image (float [N]): the characterization attacks its three ε in one batch. Every step
is per image (gradients of a sum of per-image losses, per-image normalisation and projection), so an image's
result does not depend on the others in its batch, up to the float rounding of the model's batched kernels.

PGD's random start: CleverHans 4 draws it with a stateful ``tf.random.uniform`` whose seed is fixed when the
graph is traced (from TF's global seed), so a shared graph would give every call the same start. Here it is
drawn by stateless ops from the call's ``seed``: the same distribution (uniform in the l-inf box of
``rand_minmax``; in the l2 ball as CleverHans's ``random_lp_vector``, Calafiore et al. 1998), other draws.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import tensorflow as tf
from cleverhans.tf2.attacks.fast_gradient_method import fast_gradient_method
from cleverhans.tf2.attacks.momentum_iterative_method import momentum_iterative_method
from cleverhans.tf2.utils import clip_eta

from attacks import compiled
from attacks.base import (AttackResult, check_eps, check_momentum, check_positive, check_positive_int,
                          identity_result, prepare)
from attacks.helpers import project_linf, random_start, stateless_seed

_NORMS = {np.inf: np.inf, "inf": np.inf, 2: 2, "2": 2}


def _norm(norm) -> float | int:
    try:
        return _NORMS[norm]
    except (KeyError, TypeError):
        raise ValueError(f"norm must be np.inf or 2, got {norm!r}") from None


def _eps_for(norm, eps, n: int) -> float | np.ndarray:
    """A checked budget: a number, or one per image (float32 [n]). l-inf budgets live in [0,1]; an l2
    budget only has to be non-negative."""
    return _budget(eps, "eps", n, upper=1.0 if norm == np.inf else None)


def _budget(value, name: str, n: int, upper: float | None = 1.0) -> float | np.ndarray:
    if np.ndim(value) == 0:
        return check_eps(value, name, upper=upper)
    values = np.asarray(value)
    if values.shape != (n,):
        raise ValueError(f"{name} must be a number or one per image (shape [{n}]), got shape {values.shape}")
    return np.array([check_eps(v, name, upper=upper) for v in values.tolist()], np.float32)


def _tensor(value, x: tf.Tensor) -> tf.Tensor:
    """A number as a scalar tensor; one value per image as [N,1,...,1], to broadcast over ``x``'s image axes."""
    if np.ndim(value) == 0:
        return tf.constant(value, tf.float32)
    return tf.constant(np.reshape(value, (-1,) + (1,) * (len(x.shape) - 1)), tf.float32)


def _run(name: str, graph: compiled.Compiled, x: tf.Tensor, y: tf.Tensor, nb_iter: int, verbose: bool,
         *tensors) -> np.ndarray:
    """Run ``graph(x, y, nb_iter_tensor, *tensors)`` (numbers and per-image values as :func:`_tensor`)."""
    if verbose:
        print(f"[{name}] {len(x)} images, {nb_iter} iterations...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    args = [t if isinstance(t, tf.Tensor) else _tensor(t, x) for t in tensors]
    out = graph(x, y, tf.constant(nb_iter, tf.int32), *args).numpy()
    if verbose:
        print(f"[{name}] done in {time.perf_counter() - start:.1f}s", file=sys.stderr, flush=True)
    return out


def fgsm(model, x, y=None, *, eps: float, norm=np.inf, seed: int | None = None,
         verbose: bool = False) -> AttackResult:
    """FGSM (Goodfellow et al. 2015, "Explaining and harnessing adversarial examples"): one step of size ``eps``.

    Paper: Section 3.2 (characterization) and 4.2 (defense). x' = clip(x + eps*sign(grad CE), 0, 1).

    model: Keras model or callable returning logits. x: float32 [N,H,W,C] in [0,1]. y: int [N] or None
    (model's predictions). eps: step/budget, l-inf in [0,1] (``norm=inf``) or an l2 radius >= 0 (``norm=2``,
    "FGSM-L2": x' = clip(x + eps*g/||g||_2)); a number or one per image. seed: unused (deterministic), kept
    for the common signature. verbose: print start/end lines to stderr.
    """
    norm = _norm(norm)
    _, xt, yt, q = prepare(model, x, y)
    eps = _eps_for(norm, eps, len(xt))
    if np.all(eps == 0):
        return identity_result(xt, q)
    graph = compiled.for_model(model, ("fgsm", norm), lambda fn: lambda a, b, n, e: fast_gradient_method(
        fn, a, e, norm, clip_min=0.0, clip_max=1.0, y=b))
    out = _run("fgsm", graph, xt, yt, 1, verbose, eps)
    return AttackResult(out.astype(np.float32), 1, q + len(out))


def pgd(model, x, y=None, *, eps: float, eps_iter: float = 0.01, nb_iter: int = 1000, norm=np.inf,
        rand_init: bool = True, rand_minmax: float | None = 0.3, seed: int | None = None,
        verbose: bool = False) -> AttackResult:
    """PGD (Madry et al. 2018, "Towards deep learning models resistant to adversarial attacks"), CleverHans 4's loop.

    Paper: Section 3.2 / Appendix D.1: 1000 iterations, step 0.01, random init. Spec section 2: the original
    (cleverhans 3.0.1) draws the init in U[-0.3, 0.3] (``rand_minmax=0.3``) then projects it to the eps-ball;
    ``rand_minmax=None`` draws it in the eps-ball (U[-eps, eps]).
    Step: x <- FGSM step of ``eps_iter`` from x; project x - x0 to the eps-ball; clip to [0,1].

    eps: l-inf budget in [0,1] (or l2 radius with ``norm=2``); a number or one per image. eps_iter: step
    size (> 0; capped at eps, as CleverHans requires eps_iter <= eps). nb_iter: iterations (>= 1). rand_init:
    random start. seed: the random start's seed (stateless draws: the same seed, the same start, whatever
    else runs; None: a fresh one). verbose: start/end lines on stderr.
    """
    norm = _norm(norm)
    eps_iter = check_positive(eps_iter, "eps_iter")
    nb_iter = check_positive_int(nb_iter, "nb_iter")
    if rand_minmax is not None:
        rand_minmax = check_positive(rand_minmax, "rand_minmax")
    _, xt, yt, q = prepare(model, x, y)
    eps = _eps_for(norm, eps, len(xt))
    if np.all(eps == 0):
        return identity_result(xt, q)
    rand_init = bool(rand_init)

    def build(fn):
        def attack(a, b, n, e, step, radius, seeds):
            eta = random_start(tf.shape(a), norm, radius, seeds) if rand_init else tf.zeros_like(a)
            adv = tf.clip_by_value(a + clip_eta(eta, norm, e), 0.0, 1.0)
            for _ in tf.range(n):
                adv = fast_gradient_method(fn, adv, step, norm, clip_min=0.0, clip_max=1.0, y=b)
                adv = tf.clip_by_value(a + clip_eta(adv - a, norm, e), 0.0, 1.0)
            return adv
        return attack

    graph = compiled.for_model(model, ("pgd", norm, rand_init), build)
    out = _run("pgd", graph, xt, yt, nb_iter, verbose, eps, np.minimum(eps_iter, eps).astype(np.float32),
               eps if rand_minmax is None else rand_minmax, stateless_seed(seed))
    return AttackResult(out.astype(np.float32), nb_iter, q + nb_iter * len(out))


def mim(model, x, y=None, *, eps: float, eps_iter: float = 0.01, nb_iter: int = 1000, decay: float = 1.0,
        norm=np.inf, seed: int | None = None, verbose: bool = False) -> AttackResult:
    """MIM (Dong et al. 2018, "Boosting adversarial attacks with momentum"), CleverHans 4, no random init.

    Paper: Section 3.2 / Appendix D.1 (characterization: 1000 iterations, step 0.01, mu 1.0) and Section 4.2 /
    Appendix F.2 (defense: 1000 / 500 / 100 iterations on MNIST / SVHN / CIFAR10).
    Step: g <- grad / mean|grad|; m <- decay*m + g; x <- x + eps_iter*sign(m); project to the eps-ball; clip.

    eps: l-inf budget in [0,1] (l2 radius with ``norm=2``); a number or one per image. eps_iter: step (> 0).
    nb_iter: iterations (>= 1). decay: momentum factor mu (>= 0). seed: unused (deterministic). verbose:
    start/end lines on stderr.
    """
    norm = _norm(norm)
    eps_iter, nb_iter, decay = check_momentum(eps_iter, nb_iter, decay)
    _, xt, yt, q = prepare(model, x, y)
    eps = _eps_for(norm, eps, len(xt))
    if np.all(eps == 0):
        return identity_result(xt, q)
    graph = compiled.for_model(model, ("mim", norm, eps_iter, decay), lambda fn: lambda a, b, n, e: momentum_iterative_method(
        fn, a, e, eps_iter, n, norm, clip_min=0.0, clip_max=1.0, y=b, decay_factor=decay, sanity_checks=False))
    out = _run("mim", graph, xt, yt, nb_iter, verbose, eps)
    return AttackResult(out.astype(np.float32), nb_iter, q + nb_iter * len(out))


def miml2(model, x, y=None, *, eps: float, l2_bound: float = 2.0, eps_iter: float = 0.01, nb_iter: int = 1000,
          decay: float = 1.0, seed: int | None = None, verbose: bool = False) -> AttackResult:
    """MIM-L2 (Dong et al. 2018, l2 version), then clipped back into the l-inf ball (paper Appendix D.1).

    The CleverHans MIM with norm 2 (x <- x + eps_iter*m/||m||_2, perturbation scaled into the l2 ball of
    radius ``l2_bound``, clip [0,1]), then per-coordinate x' = x + clip(x' - x, -eps, eps) (the original
    ``clip_adv``). The output promise is therefore l-inf <= eps.
    Paper: l2 bound 30 on MNIST, 2 on SVHN/CIFAR10; the original code used 1.0 on SVHN/CIFAR10 (spec section 5);
    the default is the paper's 2.0, pass ``l2_bound=30.0`` on MNIST. Step 0.01, 1000 iterations, mu 1.0.

    eps: l-inf budget in [0,1], a number or one per image. l2_bound: l2 radius (> 0). eps_iter, nb_iter,
    decay: as :func:`mim`. seed: unused (deterministic). verbose: start/end lines on stderr.
    """
    l2_bound = check_positive(l2_bound, "l2_bound")
    eps_iter, nb_iter, decay = check_momentum(eps_iter, nb_iter, decay)
    _, xt, yt, q = prepare(model, x, y)
    eps = _eps_for(np.inf, eps, len(xt))
    if np.all(eps == 0):
        return identity_result(xt, q)

    def build(fn):
        def attack(a, b, n, e, bound):
            adv = momentum_iterative_method(fn, a, bound, eps_iter, n, 2, clip_min=0.0, clip_max=1.0, y=b,
                                            decay_factor=decay, sanity_checks=False)
            return project_linf(adv, a, e)
        return attack

    graph = compiled.for_model(model, ("miml2", eps_iter, decay), build)
    out = _run("miml2", graph, xt, yt, nb_iter, verbose, eps, l2_bound)
    return AttackResult(out.astype(np.float32), nb_iter, q + nb_iter * len(out))
