"""When the detection scheme flags an input, and what it costs on clean images (false alarms).

The paper's rule (Section 4.1, :data:`PAPER`) flags x when M(x) != T(x). On a clean image every flag is a
false alarm, so a deployer needs its clean flag rate (with its denominator and interval) and a way to lower
it. The **confidence policy** keeps the paper's rule but flags x only when, in addition, T is unsure of M's
label: T's probability of M's predicted label is below a threshold τ,

    flagged(x) = M(x) != T(x)  and  softmax(T(x))[M(x)] < τ.

It can only remove flags (never add one): its false alarms and its DAC are at most the paper's. τ is
calibrated on **clean validation images** (:func:`calibrate`) to a target false-alarm rate α: the largest
τ that flags at most ⌊α·N⌋ of the N validation images. The test split never takes part, so the flag rate
measured there is a held-out estimate of the policy's false-alarm rate.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from luring_tf.errors import UserError
from luring_tf.evaluation import metrics

PAPER_RULE = "disagreement"  # the paper's: flag when M(x) != T(x)
CONFIDENCE_RULE = "confidence"  # flag when M(x) != T(x) and T's probability of M's label < threshold
RULES = (PAPER_RULE, CONFIDENCE_RULE)


@dataclasses.dataclass(frozen=True)
class DetectionPolicy:
    """A flagging rule: ``rule`` (:data:`RULES`), its ``threshold`` τ in (0, 1] for the confidence rule,
    the ``target_false_alarm`` it was calibrated to and the ``calibration`` record (images, rate reached)."""

    rule: str = PAPER_RULE
    threshold: float | None = None
    target_false_alarm: float | None = None
    calibration: dict | None = None

    def __post_init__(self):
        if self.rule not in RULES:
            raise UserError(f"unknown detection rule {self.rule!r}: choose {' or '.join(RULES)}")
        if self.rule == CONFIDENCE_RULE and not (isinstance(self.threshold, (int, float))
                                                 and 0.0 <= self.threshold <= 1.0):
            raise UserError(f"the confidence rule needs a threshold in [0, 1], got {self.threshold!r}: "
                            "calibrate one with luring_tf.calibrate_detection(protected, data, false_alarm=0.05)")

    def flags(self, m_pred, t_pred, t_prob_of_m) -> np.ndarray:
        """bool [N]: the flagged inputs, from M's and T's labels (int [N]) and T's probability of M's label."""
        disagree = np.asarray(m_pred) != np.asarray(t_pred)
        if self.rule == PAPER_RULE:
            return disagree
        return disagree & (np.asarray(t_prob_of_m) < self.threshold)

    def describe(self) -> str:
        """One sentence for reports."""
        if self.rule == PAPER_RULE:
            return "flag when M(x) ≠ T(x) (the paper's rule)"
        text = f"flag when M(x) ≠ T(x) and T's probability of M's label < {self.threshold:.4g}"
        if self.target_false_alarm is not None:
            cal = self.calibration or {}
            text += (f", calibrated on {cal.get('images', '?')} clean {cal.get('split', 'validation')} images "
                     f"to a false-alarm rate ≤ {self.target_false_alarm:g}")
        return text

    def as_dict(self) -> dict:
        return {"rule": self.rule, "threshold": self.threshold, "target_false_alarm": self.target_false_alarm,
                "calibration": self.calibration, "description": self.describe()}

    @classmethod
    def from_dict(cls, record: dict) -> "DetectionPolicy":
        return cls(record.get("rule", PAPER_RULE), record.get("threshold"), record.get("target_false_alarm"),
                   record.get("calibration"))


PAPER = DetectionPolicy()


def resolve(policy) -> DetectionPolicy:
    """``None`` / ``"paper"`` / ``"disagreement"`` -> :data:`PAPER`; a :class:`DetectionPolicy` or its dict as is."""
    if policy is None or (isinstance(policy, str) and policy in ("paper", PAPER_RULE)):
        return PAPER
    if isinstance(policy, DetectionPolicy):
        return policy
    if isinstance(policy, dict):
        return DetectionPolicy.from_dict(policy)
    raise UserError(f"detection policy {policy!r}: give None or 'paper' (flag when M(x) != T(x)), or a policy "
                    "calibrated by luring_tf.calibrate_detection(protected, data, false_alarm=0.05)")


def check_false_alarm(value, flag: str = "false_alarm") -> float:
    """A target false-alarm rate: a number strictly between 0 and 1, else a one-line ``UserError``."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 < float(value) < 1.0
    if not ok:
        raise UserError(f"{flag} {value!r}: give the target share of clean images flagged, a number strictly "
                        "between 0 and 1 (e.g. 0.05)")
    return float(value)


def probabilities(outputs: np.ndarray) -> np.ndarray:
    """Class probabilities [N,K] from a model's outputs: kept when they already are (rows >= 0 summing to 1),
    else taken as logits (softmax)."""
    out = np.asarray(outputs, np.float64)
    if out.size and out.min() >= 0.0 and np.allclose(out.sum(axis=1), 1.0, atol=1e-3):
        return out
    out = out - out.max(axis=1, keepdims=True)
    exp = np.exp(out)
    return exp / exp.sum(axis=1, keepdims=True)


@dataclasses.dataclass(frozen=True)
class Scores:
    """What every policy reads: M's and T's labels (int64 [N]) and T's probability of M's label (float [N])."""

    m_pred: np.ndarray
    t_pred: np.ndarray
    t_prob_of_m: np.ndarray

    def __len__(self) -> int:
        return len(self.m_pred)


def scores_from_outputs(m_outputs, t_outputs) -> Scores:
    """:class:`Scores` from M's and T's outputs [N,K] (probabilities or logits)."""
    m_pred = np.argmax(m_outputs, axis=1).astype(np.int64)
    t_prob = probabilities(t_outputs)
    return Scores(m_pred, np.argmax(t_outputs, axis=1).astype(np.int64),
                  t_prob[np.arange(len(m_pred)), m_pred] if len(m_pred) else np.zeros(0))


def scores(classifier, protected, x, batch_size: int = 500, names=("M", "T")) -> Scores:
    """:class:`Scores` of M (``classifier``) and T (``protected``) on ``x`` float32 [N,H,W,C] (their input range)."""
    return scores_from_outputs(*(checked_outputs(model, x, batch_size, name)
                                 for model, name in zip((classifier, protected), names)))


def checked_outputs(model, x, batch_size: int = 500, name: str = "T") -> np.ndarray:
    """``model``'s outputs [N,K] on ``x`` (its input range), refused in one line when not finite."""
    from luring_tf import inference
    from luring_tf.finite import check_finite

    out = inference.outputs(model, np.asarray(x, np.float32), batch_size)
    check_finite(out, f"the outputs of model {name} on {len(out)} images")
    return out


def flag_rate(policy: DetectionPolicy, s: Scores) -> metrics.Rate:
    """Share of the images of ``s`` that ``policy`` flags (on clean images: the false-alarm rate)."""
    flagged = policy.flags(s.m_pred, s.t_pred, s.t_prob_of_m)
    return metrics.Rate(int(np.sum(flagged)), int(len(flagged)))


def calibrate(s: Scores, false_alarm: float, split: str = "validation") -> DetectionPolicy:
    """The confidence policy whose flag rate on the clean images of ``s`` is at most ``false_alarm``, the
    largest such (the threshold is the midpoint between the last score kept flagged and the next one).

    ``s``: :class:`Scores` on clean **validation** images (never the test split: it measures the policy
    afterwards). When the paper's rule already flags at most the target, τ = 1 (the policy is the paper's).
    """
    alpha = check_false_alarm(false_alarm)
    n = len(s)
    if n == 0:
        raise UserError(f"no clean {split} images to calibrate the detection policy on: give a data set with a "
                        "validation split (or clean validation images)")
    disagree = np.sort(np.asarray(s.t_prob_of_m)[s.m_pred != s.t_pred])
    allowed = int(math.floor(alpha * n + 1e-9))
    if allowed >= len(disagree):
        threshold, binding = 1.0, False
    elif allowed == 0:
        threshold, binding = float(disagree[0]), True  # strictly below the lowest score: nothing flagged
    else:
        threshold, binding = float((disagree[allowed - 1] + disagree[allowed]) / 2.0), True
    policy = DetectionPolicy(CONFIDENCE_RULE, threshold, alpha)
    reached = flag_rate(policy, s)
    calibration = {"split": split, "images": n, "flag_rate": reached.as_dict(),
                   "paper_rule_flag_rate": flag_rate(PAPER, s).as_dict(), "binding": binding}
    return dataclasses.replace(policy, calibration=calibration)
