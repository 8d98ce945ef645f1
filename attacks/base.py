"""The contract every attack honours, and the checks shared by all of them.

Every attack in :mod:`attacks` has the signature::

    attack(model, x, y=None, *, eps, seed=None, verbose=False, **params) -> AttackResult

* ``model``: a Keras model or any callable mapping a float32 batch ``[N,H,W,C]`` in [0,1] to **logits**
  ``[N,K]`` (never probabilities; strip a trailing softmax first, e.g.
  ``keras.Model(m.inputs, m.get_layer("logits").output)``).
* ``x``: float32 ``[N,H,W,C]`` in [0,1].
* ``y``: int class indices ``[N]``; ``None`` means the model's own clean predictions (no label leaking).
* ``eps``: the threat model's bound (l-inf unless the attack's docstring says l2).
* the result's ``x_adv`` is float32 ``[N,H,W,C]`` in [0,1].
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import tensorflow as tf

LogitsFn = Callable[[tf.Tensor], tf.Tensor]


@dataclass
class AttackResult:
    """What an attack returns.

    x_adv: float32 ``[N,H,W,C]`` in [0,1], the adversarial batch.
    iterations: optimisation steps run (per image; the maximum over images where they differ).
    queries: images the model evaluated in total (forward or forward+gradient), label inference included.
    extra: attack-specific details (e.g. per-image query counts, l2 norms, success flags).
    """

    x_adv: np.ndarray
    iterations: int
    queries: int
    extra: dict[str, Any] = field(default_factory=dict)


def is_keras_model(model: Any) -> bool:
    """Whether ``model`` is a Keras model (its weights live in variables), not a plain callable."""
    return hasattr(model, "layers") and hasattr(model, "trainable_variables")


def logits_fn(model: Any) -> LogitsFn:
    """Adapter: a Keras model (called with ``training=False``) or any callable ``x -> logits``."""
    if not callable(model):
        raise ValueError(f"model must be a Keras model or a callable x -> logits, got {type(model).__name__}")
    if is_keras_model(model):
        return lambda t: model(t, training=False)
    return model


def prepare(model: Any, x: Any, y: Any, batch_size: int = 1024) -> tuple[LogitsFn, tf.Tensor, tf.Tensor, int]:
    """Check ``x`` and ``y``; return (logits function, x tensor, int64 labels, label queries spent)."""
    fn = logits_fn(model)
    x_np = np.asarray(x, dtype=np.float32)
    if x_np.ndim < 2 or x_np.shape[0] == 0:
        raise ValueError(f"x must be a non-empty batch [N,...], got shape {x_np.shape}")
    if not np.isfinite(x_np).all() or x_np.min() < 0.0 or x_np.max() > 1.0:
        raise ValueError("x must be finite and in [0,1]: scale images to [0,1] first")
    queries = 0
    if y is None:
        preds = []
        for start in range(0, len(x_np), batch_size):
            preds.append(np.argmax(np.asarray(fn(tf.constant(x_np[start:start + batch_size]))), axis=1))
        y_np = np.concatenate(preds)
        queries = len(x_np)
    else:
        y_np = np.asarray(y)
        if y_np.ndim != 1 or y_np.shape[0] != x_np.shape[0] or not np.issubdtype(y_np.dtype, np.integer):
            raise ValueError(f"y must be int class indices of shape [{x_np.shape[0]}], got {y_np.dtype} {y_np.shape}")
    return fn, tf.constant(x_np), tf.constant(y_np, dtype=tf.int64), queries


def check_eps(eps: float, name: str = "eps", upper: float | None = 1.0) -> float:
    """``eps`` must be a number in [0, upper] (``upper=None``: only non-negative, e.g. an l2 bound)."""
    try:
        value = float(eps)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {eps!r}") from None
    if not math.isfinite(value) or value < 0 or (upper is not None and value > upper):
        bound = f"[0, {upper}]" if upper is not None else ">= 0"
        raise ValueError(f"{name} must be in {bound} for images in [0,1], got {eps!r}")
    return value


def check_positive_int(value: Any, name: str) -> int:
    """``value`` must be an integer >= 1 (iterations, queries, samples, kernel sizes...)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def check_probability(value: Any, name: str = "p") -> float:
    """``value`` must be a probability in [0, 1]."""
    try:
        p = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a probability in [0,1], got {value!r}") from None
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be a probability in [0,1], got {value!r}")
    return p


def check_positive(value: Any, name: str) -> float:
    """``value`` must be a finite number > 0 (step sizes, learning rates, deltas)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number > 0, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a number > 0, got {value!r}")
    return v


def check_momentum(eps_iter: Any, nb_iter: Any, decay: Any) -> tuple[float, int, float]:
    """The step / iterations / momentum triple of the MIM family: eps_iter > 0, nb_iter >= 1, decay >= 0."""
    return (check_positive(eps_iter, "eps_iter"), check_positive_int(nb_iter, "nb_iter"),
            check_eps(decay, "decay", upper=None))


class Progress:
    """One progress line on stderr every ~10% of ``total`` units (iterations or queries); silent if not verbose."""

    def __init__(self, name: str, total: int, unit: str, verbose: bool):
        self.name, self.total, self.unit, self.verbose = name, max(1, int(total)), unit, verbose
        self._next = 0.1

    def update(self, done: float) -> None:
        if not self.verbose:
            return
        frac = done / self.total
        if frac + 1e-12 >= self._next or done >= self.total:
            print(f"[{self.name}] {int(done)}/{self.total} {self.unit} ({100 * min(frac, 1):.0f}%)",
                  file=sys.stderr, flush=True)
            while self._next <= frac + 1e-12:
                self._next += 0.1


def identity_result(x: tf.Tensor, label_queries: int, **extra: Any) -> AttackResult:
    """The result of an attack with a zero budget (eps = 0): x itself, nothing but labels queried."""
    return AttackResult(np.array(x, dtype=np.float32), 0, label_queries, dict(extra))
