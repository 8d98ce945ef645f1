"""The paper's metrics as pure functions of predicted labels (integer arrays of one length).

Every rate comes back as a :class:`Rate` that keeps its numerator and denominator, so outputs
can state the denominator, and a rate over an empty set is *undefined* (``value is None``,
printed ``n/a``), never 0 or NaN.

Notation: ``y`` = reference label (the true label; on the evaluation sets it equals the clean
predictions of M and of every M∘P), ``t_adv`` = M∘P's prediction on x', ``m_adv`` = M's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

INTERVAL_METHOD = "Wilson score interval, 95 %"
Z_95 = 1.959963984540054  # the standard normal's 97.5 % quantile


@dataclass(frozen=True)
class Rate:
    """``numerator / denominator``; ``value`` is None when the denominator is 0."""

    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    def as_dict(self) -> dict:
        return {"value": self.value, "numerator": self.numerator, "denominator": self.denominator}

    def wilson_interval(self, z: float = Z_95) -> tuple[float, float] | None:
        """The Wilson score interval of the proportion (95 % for the default ``z``); None when undefined.

        Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 / n or n / n.
        """
        n = self.denominator
        if not n:
            return None
        p = self.numerator / n
        scale = 1.0 + z * z / n
        centre = (p + z * z / (2 * n)) / scale
        half = z / scale * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n))
        return max(0.0, centre - half), min(1.0, centre + half)

    def with_interval(self) -> dict:
        """:meth:`as_dict` plus ``interval_95`` ([low, high], or None) and ``interval_method`` (its name)."""
        interval = self.wilson_interval()
        return {**self.as_dict(), "interval_95": None if interval is None else [round(v, 6) for v in interval],
                "interval_method": INTERVAL_METHOD}

    def __str__(self) -> str:
        return "n/a" if self.value is None else f"{self.value:.3f}"


def interval_text(rate: dict | None, digits: int = 3) -> str:
    """``"0.120 (12/100; 95 % CI 0.07-0.20)"`` from a :meth:`Rate.with_interval` dict; ``n/a`` when undefined."""
    if not rate or rate.get("value") is None:
        return "n/a"
    low, high = rate["interval_95"]
    return (f"{rate['value']:.{digits}f} ({rate['numerator']}/{rate['denominator']}; 95 % CI "
            f"{low:.{digits}f}–{high:.{digits}f})")


def _arrays(*arrays):
    out = [np.asarray(a).reshape(-1) for a in arrays]
    if len({a.shape for a in out}) > 1:
        raise ValueError(f"prediction arrays differ in length: {[a.shape[0] for a in out]}")
    return out


def _rate(mask: np.ndarray, among: np.ndarray) -> Rate:
    return Rate(int(np.sum(mask & among)), int(np.sum(among)))


def agreement(pred_a, pred_b) -> Rate:
    """Share of examples where two models predict the same class."""
    a, b = _arrays(pred_a, pred_b)
    return _rate(a == b, np.ones_like(a, dtype=bool))


def accuracy(pred, y) -> Rate:
    """Share of examples predicted as ``y``."""
    p, y = _arrays(pred, y)
    return _rate(p == y, np.ones_like(p, dtype=bool))


def agreement_on_truth(pred_a, pred_b, y) -> Rate:
    """Table 8's "Agree": share of examples where both models predict the true label."""
    a, b, y = _arrays(pred_a, pred_b, y)
    return _rate((a == y) & (b == y), np.ones_like(a, dtype=bool))


def disagreement_rate(y, t_adv, m_adv) -> Rate:
    """DR (Equation 3): among x' that fool M∘P (t_adv ≠ y), the share where M and M∘P disagree."""
    y, t, m = _arrays(y, t_adv, m_adv)
    return _rate(m != t, t != y)


def inefficient_adversarial_rate(y, t_adv, m_adv) -> Rate:
    """IAR (Equation 3): among x' that fool M∘P, the share that M still classifies as y."""
    y, t, m = _arrays(y, t_adv, m_adv)
    return _rate(m == y, t != y)


def adversarial_accuracy(pred_adv, y) -> Rate:
    """AC (Section 4.1): accuracy on the whole adversarial set, successful or not (AC_M∘P, AC_M)."""
    return accuracy(pred_adv, y)


def detection_adversarial_accuracy(y, t_adv, m_adv) -> Rate:
    """DAC (Equation 4): share of x' either detected (M ≠ M∘P) or well classified by M.

    ``1 - #{M∘P(x') = M(x') ≠ y} / |X'|`` over the whole adversarial set.
    """
    y, t, m = _arrays(y, t_adv, m_adv)
    return _rate((t != m) | (m == y), np.ones_like(y, dtype=bool))


def detection_accuracy_flagged(y, m_adv, flagged) -> Rate:
    """DAC under any flagging rule: share of x' either ``flagged`` (bool [N]) or well classified by M.

    With ``flagged = t_adv != m_adv`` it is :func:`detection_adversarial_accuracy` (Equation 4).
    """
    y, m, f = _arrays(y, m_adv, flagged)
    return _rate(f.astype(bool) | (m == y), np.ones_like(y, dtype=bool))


CHANCE_MARGIN = 0.05  # absolute accuracy margin above 1/K under which a model counts as at chance level


def at_chance_level(accuracy: float | None, n_classes: int, margin: float = CHANCE_MARGIN) -> bool:
    """Whether a test ``accuracy`` is at chance level: ``accuracy <= 1/n_classes + margin``.

    A collapsed luring component (P outputs one constant image) leaves T = M∘P answering one class,
    i.e. about 1/K on balanced test sets. ``None`` (no test example) is not at chance.
    """
    if n_classes < 1:
        raise ValueError(f"n_classes must be positive, got {n_classes}")
    return accuracy is not None and accuracy <= 1.0 / n_classes + margin
