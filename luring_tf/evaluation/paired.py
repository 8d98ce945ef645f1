"""Paired comparisons Luring − each baseline on the same images (issue 23, item 3).

The paper orders the approaches by rates measured on one image set: in Section 3 (Figure 2) Luring has the
highest DR and IAR over the adversarial examples kept for every M∘P; in Section 4 (Tables 1 / 14) the highest
AC_M and DAC over the evaluation set. A difference of point estimates at n = 100 may be noise: each
comparison here is paired over the images (:func:`luring_tf.evaluation.intervals.compare`: the interval of
the difference by a seeded paired bootstrap, the exact McNemar test) with a verdict in words.

Per-image outcomes (boolean ``[N]``): DR = M(x') ≠ M∘P(x'), IAR = M(x') = y (over the kept x'); AC_M =
M(x') = y, DAC = M∘P(x') ≠ M(x') or M(x') = y (over the whole evaluation set; the adversarial sets of the
two approaches are crafted on their own T from the same clean images, so they pair by clean image).
"""

from __future__ import annotations

import numpy as np

from luring_tf.evaluation import intervals
from luring_tf.storage import files

LURING = "luring"
CHARACTERIZATION_METRICS = ("DR", "IAR")
DEFENSE_METRICS = ("AC_M", "DAC")


def outcomes(metric: str, y, t_adv, m_adv) -> np.ndarray:
    """Per-image outcome of ``metric`` ("DR", "IAR", "AC_M", "DAC") from labels and the two models' predictions."""
    y, t, m = (np.asarray(a).reshape(-1) for a in (y, t_adv, m_adv))
    if metric == "DR":
        return m != t
    if metric == "IAR":
        return m == y
    if metric == "AC_M":
        return m == y
    if metric == "DAC":
        return (t != m) | (m == y)
    raise ValueError(f"no per-image outcome for {metric!r}")


def _pair(outcome: dict, baseline: str, seed: int, **where) -> dict:
    return {**where, "baseline": baseline, **intervals.compare(outcome[LURING], outcome[baseline], seed=seed)}


def characterization_pairs(attack: str, eps: float, y, cells: dict, seed: int) -> list[dict]:
    """Luring − each baseline for DR and IAR over the kept examples of one (attack, ε).

    ``y``: labels of the kept examples ``[K]``; ``cells``: approach -> ``(t_adv, m_adv)`` on those examples.
    Empty when Luring or every baseline is missing.
    """
    if LURING not in cells:
        return []
    pairs = []
    for metric in CHARACTERIZATION_METRICS:
        outcome = {name: outcomes(metric, y, t, m) for name, (t, m) in cells.items()}
        pairs += [_pair(outcome, name, seed, attack=attack, eps=eps, metric=metric)
                  for name in cells if name != LURING]
    return pairs


def _cell_outcomes(record: dict, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(clean-image index, per-image outcome of ``metric``) of one defense cell, read from its adversarial set."""
    stored = files.read_npz(record["adversarial_set"])
    return np.asarray(stored["index"]), outcomes(metric, stored["y"], stored["t_pred"], stored["m_pred"])


def defense_pairs(runs: dict, attack: str, seed: int, pick) -> list[dict]:
    """Luring − each baseline for AC_M and DAC per ε of a defense run.

    ``runs``: ``{(eps, approach): [cell records]}`` (each record names its ``adversarial_set``); ``pick(records,
    metric)`` returns the run a table row reports for ``metric`` (the run itself, or the MIM-W arg-min).
    """
    pairs = []
    for eps in dict.fromkeys(e for e, _ in runs):
        approaches = [a for e, a in runs if e == eps]
        if LURING not in approaches:
            continue
        for metric in DEFENSE_METRICS:
            chosen = {a: pick(runs[eps, a], metric) for a in approaches}
            read = {a: _cell_outcomes(record, metric) for a, record in chosen.items()}
            index = read[LURING][0]
            for name in approaches:
                if name == LURING or not np.array_equal(read[name][0], index):
                    continue  # another evaluation set: not paired
                outcome = {LURING: read[LURING][1], name: read[name][1]}
                pair = _pair(outcome, name, seed, attack=attack, eps=eps, metric=metric)
                pair["runs"] = {LURING: chosen[LURING]["attack"], name: chosen[name]["attack"]}
                pairs.append(pair)
    return pairs
