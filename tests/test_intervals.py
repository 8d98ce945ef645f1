"""Intervals and paired tests (issue 23, items 2-3): Wilson score, paired bootstrap, exact McNemar, verdicts;
every Rate carries its interval; a characterization on real MNIST digits records paired verdicts that match a
recomputation from its stored cells. Seconds."""

import numpy as np
import pytest
from scipy import stats

from luring_tf.evaluation import intervals, metrics
from luring_tf.report import rates


def test_wilson_matches_the_textbook_values_and_stays_in_0_1():
    # Wilson (1927) / Newcombe (1998) table: 0/10 -> [0, 0.2775], 80/100 -> [0.7112, 0.8666]
    assert intervals.wilson(0, 10) == (0.0, pytest.approx(0.2775, abs=1e-4))
    assert intervals.wilson(80, 100) == (pytest.approx(0.7112, abs=1e-4), pytest.approx(0.8666, abs=1e-4))
    low, high = intervals.wilson(10, 10)
    assert high == 1.0 and low == pytest.approx(0.7225, abs=1e-4)
    # the example: at n = 100 a rate of 0.80 is known to about ±0.08
    low, high = intervals.wilson(80, 100)
    assert 0.07 < (high - low) / 2 < 0.09
    assert intervals.wilson(0, 0) == (None, None)
    assert intervals.wilson(5, 10, 0.99)[0] < intervals.wilson(5, 10)[0]  # wider at 99 %
    with pytest.raises(ValueError):
        intervals.wilson(11, 10)


def test_wilson_covers_the_true_rate_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    for p, n in ((0.1, 50), (0.5, 30), (0.93, 100)):
        draws = rng.binomial(n, p, 4000)
        bounds = np.array([intervals.wilson(k, n) for k in draws])
        coverage = np.mean((bounds[:, 0] <= p) & (p <= bounds[:, 1]))
        assert 0.92 < coverage < 0.985, (p, n, coverage)


def test_rate_as_dict_states_denominator_interval_and_method():
    rate = metrics.accuracy([1, 1, 0, 2], [1, 1, 1, 2]).as_dict()
    assert rate["numerator"] == 3 and rate["denominator"] == 4 and rate["value"] == 0.75
    assert rate["interval"] == pytest.approx(list(intervals.wilson(3, 4)))
    assert rate["interval_method"] == "Wilson score, 95 %"
    empty = metrics.disagreement_rate([0], [0], [1]).as_dict()  # no x' fools T: undefined, no interval
    assert empty["value"] is None and empty["interval"] is None
    old = {"value": 0.5, "numerator": 5, "denominator": 10}  # a record written before intervals
    assert metrics.with_interval(old)["interval"] == pytest.approx(list(intervals.wilson(5, 10)))
    assert rates.text(old, 2) == "0.50 [0.24, 0.76] (5/10)" and rates.text(None) == "n/a"


def test_mcnemar_exact_matches_the_binomial_test():
    a = np.array([1] * 9 + [0] * 2 + [1] * 20 + [0] * 5, bool)
    b = np.array([0] * 9 + [1] * 2 + [1] * 20 + [0] * 5, bool)
    test = intervals.mcnemar_exact(a, b)
    assert (test["a_only"], test["b_only"]) == (9, 2)
    assert test["p_value"] == pytest.approx(stats.binomtest(2, 11, 0.5).pvalue)
    assert intervals.mcnemar_exact(a, a)["p_value"] == 1.0
    assert intervals.mcnemar_exact([1] * 5, [0] * 5)["p_value"] == pytest.approx(2 / 32)


def test_paired_bootstrap_is_seeded_and_agrees_with_resampling_indices():
    rng = np.random.default_rng(3)
    a = rng.random(200) < 0.7
    b = np.where(rng.random(200) < 0.8, a, ~a)  # paired: mostly the same outcome
    one = intervals.paired_bootstrap(a, b, seed=5)
    assert one == intervals.paired_bootstrap(a, b, seed=5)
    assert one["difference"] == pytest.approx(a.mean() - b.mean())
    index = np.random.default_rng(9).integers(0, 200, (4000, 200))  # the textbook bootstrap, by indices
    slow = np.quantile(a[index].mean(1) - b[index].mean(1), [0.025, 0.975])
    assert one["low"] == pytest.approx(slow[0], abs=0.012) and one["high"] == pytest.approx(slow[1], abs=0.012)
    same = intervals.paired_bootstrap(a, a)
    assert same["low"] == same["high"] == same["difference"] == 0.0


def test_verdicts_need_the_interval_and_mcnemar_to_agree():
    supported = intervals.compare([1] * 30 + [0] * 70, [0] * 100)  # Luring better on 30 images, never worse
    assert supported["verdict"] == "supported" and supported["interval"][0] > 0
    contradicted = intervals.compare([0] * 100, [1] * 30 + [0] * 70)
    assert contradicted["verdict"] == "contradicted" and contradicted["interval"][1] < 0
    # 5 images better, none worse out of 12: the bootstrap interval alone excludes 0, McNemar (p = 0.0625) does not
    small = intervals.compare([1] * 5 + [0] * 7, [0] * 12)
    assert small["interval"][0] > 0 and small["p_value"] > 0.05 and small["verdict"] == "not resolved"
    tied = intervals.compare([1, 0] * 50, [1, 0] * 50)
    assert tied["verdict"] == "not resolved" and tied["difference"] == 0.0
