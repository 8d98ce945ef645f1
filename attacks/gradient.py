"""White-box gradient attacks through CleverHans 4 (tf2): FGSM, PGD, MIM, MIM-L2.

These are the CleverHans implementations, called unchanged; this module only compiles them (the iteration
count is passed as a tensor, so their ``while i < nb_iter`` loop becomes a ``tf.while_loop`` in one graph),
fixes the paper's parameters as defaults (spec section 2, paper Appendix D.1) and honours the
:mod:`attacks.base` contract. All are untargeted, cross-entropy on logits, clipped to [0,1] every step.

Compiled once per architecture: for a Keras model, the graph of FGSM, MIM and MIM-L2 takes ε (and MIM-L2's
bound) as a tensor, and the model's weights as arguments, and is kept per (architecture, attack, static
settings) (:mod:`attacks.compiled`): the characterization's three ε, every chunk and the four T = M∘P of
one architecture reuse one trace (tracing costs about as much CPU as 10 iterations on 100 MNIST images).
CleverHans 4's PGD tests ε with Python ``if``/``assert``, so PGD is traced per call as before.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import tensorflow as tf
from cleverhans.tf2.attacks.fast_gradient_method import fast_gradient_method
from cleverhans.tf2.attacks.momentum_iterative_method import momentum_iterative_method
from cleverhans.tf2.attacks.projected_gradient_descent import projected_gradient_descent

from attacks.base import (AttackResult, check_eps, check_momentum, check_positive, check_positive_int,
                          identity_result, prepare)
from attacks import compiled
from attacks.helpers import project_linf
from luring_tf import seeding

_NORMS = {np.inf: np.inf, "inf": np.inf, 2: 2, "2": 2}


def _norm(norm) -> float | int:
    try:
        return _NORMS[norm]
    except (KeyError, TypeError):
        raise ValueError(f"norm must be np.inf or 2, got {norm!r}") from None


def _eps_for(norm, eps: float) -> float:
    # l-inf budgets live in [0,1]; an l2 budget only has to be non-negative.
    return check_eps(eps, "eps", upper=1.0 if norm == np.inf else None)


def _run(name: str, fn, x: tf.Tensor, y: tf.Tensor, nb_iter: int, seed: int | None, verbose: bool,
         *tensors: float) -> np.ndarray:
    """Run ``fn(x, y, nb_iter_tensor, *tensors)``: a :class:`attacks.compiled.Compiled` graph (deterministic),
    or PGD's ``tf.function``.

    PGD's random start is drawn by an op whose seed is fixed when the graph is traced, from TF's global seed:
    so its graph is traced with ``seed`` as the global seed, holding :data:`luring_tf.seeding.LOCK` (another
    thread of a ``--jobs`` run cannot reseed in between), and run after.
    """
    if verbose:
        print(f"[{name}] {len(x)} images, {nb_iter} iterations...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    args = (x, y, tf.constant(nb_iter, tf.int32), *[tf.constant(v, tf.float32) for v in tensors])
    if isinstance(fn, compiled.Compiled):
        out = fn(*args).numpy()
    else:
        with seeding.tf_seed(seed):
            traced = fn.get_concrete_function(*args)
        out = traced(*args).numpy()
    if verbose:
        print(f"[{name}] done in {time.perf_counter() - start:.1f}s", file=sys.stderr, flush=True)
    return out


def fgsm(model, x, y=None, *, eps: float, norm=np.inf, seed: int | None = None,
         verbose: bool = False) -> AttackResult:
    """FGSM (Goodfellow et al. 2015, "Explaining and harnessing adversarial examples"): one step of size ``eps``.

    Paper: Section 3.2 (characterization) and 4.2 (defense). x' = clip(x + eps*sign(grad CE), 0, 1).

    model: Keras model or callable returning logits. x: float32 [N,H,W,C] in [0,1]. y: int [N] or None
    (model's predictions). eps: step/budget, l-inf in [0,1] (``norm=inf``) or an l2 radius >= 0 (``norm=2``,
    "FGSM-L2": x' = clip(x + eps*g/||g||_2)). seed: unused (deterministic), kept for the common signature.
    verbose: print start/end lines to stderr.
    """
    norm = _norm(norm)
    eps = _eps_for(norm, eps)
    _, xt, yt, q = prepare(model, x, y)
    if eps == 0:
        return identity_result(xt, q)
    graph = compiled.for_model(model, ("fgsm", norm), lambda fn: lambda a, b, n, e: fast_gradient_method(
        fn, a, e, norm, clip_min=0.0, clip_max=1.0, y=b))
    out = _run("fgsm", graph, xt, yt, 1, seed, verbose, eps)
    return AttackResult(out.astype(np.float32), 1, q + len(out))


def pgd(model, x, y=None, *, eps: float, eps_iter: float = 0.01, nb_iter: int = 1000, norm=np.inf,
        rand_init: bool = True, rand_minmax: float | None = 0.3, seed: int | None = None,
        verbose: bool = False) -> AttackResult:
    """PGD (Madry et al. 2018, "Towards deep learning models resistant to adversarial attacks"), CleverHans 4.

    Paper: Section 3.2 / Appendix D.1: 1000 iterations, step 0.01, random init. Spec section 2: the original
    (cleverhans 3.0.1) draws the init in U[-0.3, 0.3] (``rand_minmax=0.3``) then projects it to the eps-ball;
    ``rand_minmax=None`` draws it in the eps-ball (U[-eps, eps]).

    eps: l-inf budget in [0,1] (or l2 radius with ``norm=2``). eps_iter: step size (> 0; capped at eps, as
    CleverHans requires eps_iter <= eps). nb_iter: iterations (>= 1). rand_init: random start. seed: seeds
    TF's global RNG (``tf.random.set_seed``) so the random start repeats. verbose: start/end lines on stderr.
    """
    norm = _norm(norm)
    eps = _eps_for(norm, eps)
    eps_iter = check_positive(eps_iter, "eps_iter")
    nb_iter = check_positive_int(nb_iter, "nb_iter")
    if rand_minmax is not None:
        rand_minmax = check_positive(rand_minmax, "rand_minmax")
    fn, xt, yt, q = prepare(model, x, y)
    if eps == 0:
        return identity_result(xt, q)
    step = min(eps_iter, eps)
    out = _run("pgd", tf.function(lambda a, b, n: projected_gradient_descent(
        fn, a, eps, step, n, norm, clip_min=0.0, clip_max=1.0, y=b, rand_init=rand_init,
        rand_minmax=rand_minmax)), xt, yt, nb_iter, seed, verbose)
    return AttackResult(out.astype(np.float32), nb_iter, q + nb_iter * len(out))


def mim(model, x, y=None, *, eps: float, eps_iter: float = 0.01, nb_iter: int = 1000, decay: float = 1.0,
        norm=np.inf, seed: int | None = None, verbose: bool = False) -> AttackResult:
    """MIM (Dong et al. 2018, "Boosting adversarial attacks with momentum"), CleverHans 4, no random init.

    Paper: Section 3.2 / Appendix D.1 (characterization: 1000 iterations, step 0.01, mu 1.0) and Section 4.2 /
    Appendix F.2 (defense: 1000 / 500 / 100 iterations on MNIST / SVHN / CIFAR10).
    Step: g <- grad / mean|grad|; m <- decay*m + g; x <- x + eps_iter*sign(m); project to the eps-ball; clip.

    eps: l-inf budget in [0,1] (l2 radius with ``norm=2``). eps_iter: step (> 0). nb_iter: iterations (>= 1).
    decay: momentum factor mu (>= 0). seed: unused (deterministic). verbose: start/end lines on stderr.
    """
    norm = _norm(norm)
    eps = _eps_for(norm, eps)
    eps_iter, nb_iter, decay = check_momentum(eps_iter, nb_iter, decay)
    _, xt, yt, q = prepare(model, x, y)
    if eps == 0:
        return identity_result(xt, q)
    graph = compiled.for_model(model, ("mim", norm, eps_iter, decay), lambda fn: lambda a, b, n, e: momentum_iterative_method(
        fn, a, e, eps_iter, n, norm, clip_min=0.0, clip_max=1.0, y=b, decay_factor=decay, sanity_checks=False))
    out = _run("mim", graph, xt, yt, nb_iter, seed, verbose, eps)
    return AttackResult(out.astype(np.float32), nb_iter, q + nb_iter * len(out))


def miml2(model, x, y=None, *, eps: float, l2_bound: float = 2.0, eps_iter: float = 0.01, nb_iter: int = 1000,
          decay: float = 1.0, seed: int | None = None, verbose: bool = False) -> AttackResult:
    """MIM-L2 (Dong et al. 2018, l2 version), then clipped back into the l-inf ball (paper Appendix D.1).

    The CleverHans MIM with norm 2 (x <- x + eps_iter*m/||m||_2, perturbation scaled into the l2 ball of
    radius ``l2_bound``, clip [0,1]), then per-coordinate x' = x + clip(x' - x, -eps, eps) (the original
    ``clip_adv``). The output promise is therefore l-inf <= eps.
    Paper: l2 bound 30 on MNIST, 2 on SVHN/CIFAR10; the original code used 1.0 on SVHN/CIFAR10 (spec section 5);
    the default is the paper's 2.0, pass ``l2_bound=30.0`` on MNIST. Step 0.01, 1000 iterations, mu 1.0.

    eps: l-inf budget in [0,1]. l2_bound: l2 radius (> 0). eps_iter, nb_iter, decay: as :func:`mim`.
    seed: unused (deterministic). verbose: start/end lines on stderr.
    """
    eps = check_eps(eps)
    l2_bound = check_positive(l2_bound, "l2_bound")
    eps_iter, nb_iter, decay = check_momentum(eps_iter, nb_iter, decay)
    _, xt, yt, q = prepare(model, x, y)
    if eps == 0:
        return identity_result(xt, q)

    def build(fn):
        def attack(a, b, n, e, bound):
            adv = momentum_iterative_method(fn, a, bound, eps_iter, n, 2, clip_min=0.0, clip_max=1.0, y=b,
                                            decay_factor=decay, sanity_checks=False)
            return project_linf(adv, a, e)
        return attack

    graph = compiled.for_model(model, ("miml2", eps_iter, decay), build)
    out = _run("miml2", graph, xt, yt, nb_iter, seed, verbose, eps, l2_bound)
    return AttackResult(out.astype(np.float32), nb_iter, q + nb_iter * len(out))
