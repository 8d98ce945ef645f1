"""Confidence intervals and paired tests for the paper's rates (issue 23).

* :func:`wilson` -- the Wilson score interval of one rate ``k / n`` (every rate of every output);
* :func:`paired_bootstrap` -- the interval of the difference of two rates measured on the **same** images
  (per-image outcomes ``a`` and ``b``), resampling images with replacement, seeded;
* :func:`mcnemar_exact` -- the exact (binomial) McNemar test of the same pairs;
* :func:`mean_interval` -- a seeded percentile-bootstrap interval of a mean (e.g. the mean l0 of Figure 3);
* :func:`compare` -- both paired statistics and the verdict in words: is the paper's ordering (Luring above a
  baseline) *supported*, *contradicted* or *not resolved* at this n.

Pure numpy / stdlib; no scipy. Outcomes are boolean (or 0/1) arrays ``[N]``, one entry per image.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 10_000
SUPPORTED, CONTRADICTED, NOT_RESOLVED = "supported", "contradicted", "not resolved"


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def method_name(confidence: float = CONFIDENCE) -> str:
    """The name written beside every interval, e.g. ``"Wilson score, 95 %"``."""
    return f"Wilson score, {100 * confidence:g} %"


def wilson(numerator: int, denominator: int, confidence: float = CONFIDENCE) -> tuple[float | None, float | None]:
    """Wilson score interval ``(low, high)`` in [0, 1] of the rate ``numerator / denominator``.

    ``(None, None)`` when ``denominator`` is 0 (an undefined rate has no interval). Unlike the normal
    ("Wald") interval it stays inside [0, 1] and is not empty at 0 / n or n / n.
    """
    k, n = int(numerator), int(denominator)
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= numerator <= denominator, got {k}/{n}")
    if n == 0:
        return None, None
    z = _z(confidence)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    # exact ends: 0 / n has low 0 and n / n has high 1 (rounding would leave 1e-17)
    return (0.0 if k == 0 else low), (1.0 if k == n else high)


def rate_interval(rate: dict | None) -> tuple[float | None, float | None]:
    """``(low, high)`` of a rate dict (stored, or the Wilson interval of its counts); ``(None, None)`` when undefined."""
    if not rate or rate.get("value") is None:
        return None, None
    if rate.get("interval"):
        return tuple(rate["interval"])
    if rate.get("numerator") is None or not rate.get("denominator"):
        return None, None
    return wilson(rate["numerator"], rate["denominator"])


def rate_text(rate: dict | None, digits: int = 3, counts: bool = True) -> str:
    """``0.930 [0.913, 0.944] (930/1000)``; ``counts=False``: ``0.930 [0.913, 0.944]``; ``n/a`` when undefined."""
    if not rate or rate.get("value") is None:
        return "n/a" if not rate or rate.get("denominator") is None else f"n/a (0/{rate['denominator']})"
    low, high = rate_interval(rate)
    out = f"{rate['value']:.{digits}f}"
    if low is not None:
        out += f" [{low:.{digits}f}, {high:.{digits}f}]"
    if counts and rate.get("numerator") is not None:
        out += f" ({rate['numerator']}/{rate['denominator']})"
    return out


def _pairs(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a).reshape(-1).astype(bool)
    b = np.asarray(b).reshape(-1).astype(bool)
    if a.shape != b.shape:
        raise ValueError(f"paired outcomes differ in length: {a.shape[0]} and {b.shape[0]}")
    return a, b


def paired_bootstrap(a, b, resamples: int = RESAMPLES, seed: int = 0,
                     confidence: float = CONFIDENCE) -> dict:
    """Difference ``mean(a) - mean(b)`` of two per-image outcomes on the same images, with a bootstrap interval.

    Images are resampled with replacement (``resamples`` times, ``seed``), each pair kept together; the
    interval is the percentile interval of the resampled differences. For 0/1 outcomes the difference of a
    resample only depends on how many drawn images are ``a``-only and ``b``-only, so the resamples are drawn
    as multinomial counts of (a-only, b-only, same): the same distribution as drawing indices, in O(resamples).
    Returns ``{"difference", "low", "high", "n"}`` (None values when there is no image).
    """
    a, b = _pairs(a, b)
    n = len(a)
    if n == 0:
        return {"difference": None, "low": None, "high": None, "n": 0}
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, [only_a / n, only_b / n, 1.0 - (only_a + only_b) / n], size=int(resamples))
    diffs = (counts[:, 0] - counts[:, 1]) / n
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(diffs, [tail, 1.0 - tail])
    return {"difference": (only_a - only_b) / n, "low": float(low), "high": float(high), "n": n}


def mcnemar_exact(a, b) -> dict:
    """Exact two-sided McNemar test of paired outcomes: ``{"a_only", "b_only", "p_value"}``.

    Under equal rates the ``a_only + b_only`` discordant images split as Binomial(·, 1/2);
    ``p = min(1, 2 P(X <= min(a_only, b_only)))`` (1.0 without discordant image).
    """
    a, b = _pairs(a, b)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    m = only_a + only_b
    tail = sum(math.comb(m, k) for k in range(min(only_a, only_b) + 1))
    return {"a_only": only_a, "b_only": only_b, "p_value": min(1.0, 2 * tail / 2 ** m) if m else 1.0}


def mean_interval(values, resamples: int = 2000, seed: int = 0,
                  confidence: float = CONFIDENCE) -> tuple[float | None, float | None]:
    """Seeded percentile-bootstrap interval of ``mean(values)``; ``(None, None)`` for no value."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(values) == 0:
        return None, None
    rng = np.random.default_rng(seed)
    means = np.empty(int(resamples))
    for start in range(0, len(means), 500):  # bounded memory: 500 resamples of N values at a time
        stop = min(start + 500, len(means))
        means[start:stop] = values[rng.integers(0, len(values), (stop - start, len(values)))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def verdict(low: float | None, high: float | None, p_value: float | None, alpha: float = 0.05) -> str:
    """The paper's ordering "a above b" in words, from the interval of ``a - b`` and the McNemar p-value.

    *supported*: the interval lies above 0 and McNemar rejects equal rates at ``alpha``; *contradicted*: the
    interval lies below 0 and McNemar rejects; *not resolved* otherwise (both must agree: at small n the
    percentile bootstrap alone is too eager).
    """
    if low is None or high is None or p_value is None or p_value >= alpha:
        return NOT_RESOLVED
    if low > 0:
        return SUPPORTED
    if high < 0:
        return CONTRADICTED
    return NOT_RESOLVED


def compare(a, b, seed: int = 0, resamples: int = RESAMPLES, confidence: float = CONFIDENCE) -> dict:
    """Paired comparison of per-image outcomes ``a`` (Luring) and ``b`` (a baseline) on the same images.

    JSON-ready: ``n``, both rates (``luring_value``, ``baseline_value``), ``difference`` = rate(a) - rate(b) with ``interval`` (paired bootstrap),
    the exact McNemar ``p_value`` and discordant counts, ``method`` and the ``verdict`` on "a > b".
    """
    a, b = _pairs(a, b)
    boot = paired_bootstrap(a, b, resamples, seed, confidence)
    test = mcnemar_exact(a, b)
    n = len(a)
    return {"n": n, "luring_value": float(a.mean()) if n else None,
            "baseline_value": float(b.mean()) if n else None,
            "difference": boot["difference"], "interval": [boot["low"], boot["high"]],
            "p_value": test["p_value"], "luring_only": test["a_only"], "baseline_only": test["b_only"],
            "method": f"paired bootstrap over images ({resamples} resamples, seed {seed}), {100 * confidence:g} %; "
                      "exact McNemar test",
            "verdict": verdict(boot["low"], boot["high"], test["p_value"], 1.0 - confidence)}
