"""The paper's metrics as pure functions of predicted labels (integer arrays of one length).

Every rate comes back as a :class:`Rate` that keeps its numerator and denominator, so outputs
can state the denominator and its 95 % Wilson score interval (:mod:`luring_tf.evaluation.intervals`),
and a rate over an empty set is *undefined* (``value is None``, printed ``n/a``), never 0 or NaN.

Notation: ``y`` = reference label (the true label; on the evaluation sets it equals the clean
predictions of M and of every M∘P), ``t_adv`` = M∘P's prediction on x', ``m_adv`` = M's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from luring_tf.evaluation import intervals


@dataclass(frozen=True)
class Rate:
    """``numerator / denominator``; ``value`` is None when the denominator is 0."""

    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    @property
    def interval(self) -> tuple[float | None, float | None]:
        """95 % Wilson score interval ``(low, high)``; ``(None, None)`` when undefined."""
        return intervals.wilson(self.numerator, self.denominator)

    def as_dict(self) -> dict:
        """``value``, ``numerator``, ``denominator``, ``interval`` [low, high] and ``interval_method``."""
        low, high = self.interval
        return {"value": self.value, "numerator": self.numerator, "denominator": self.denominator,
                "interval": None if low is None else [low, high], "interval_method": intervals.method_name()}

    def __str__(self) -> str:
        return "n/a" if self.value is None else f"{self.value:.3f}"


def with_interval(rate: dict) -> dict:
    """A stored rate dict (e.g. from a record written before intervals existed) with its Wilson interval added."""
    if "interval" in rate or rate.get("numerator") is None or rate.get("denominator") is None:
        return rate
    return dict(rate, **{k: v for k, v in Rate(rate["numerator"], rate["denominator"]).as_dict().items()
                         if k in ("interval", "interval_method")})


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
