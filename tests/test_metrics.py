"""DR, IAR, AC and DAC on hand-made prediction arrays, including undefined cases."""

import numpy as np
import pytest

from luring_tf.evaluation import metrics

# Six adversarial examples, true label y; t = M∘P(x'), m = M(x').
Y = np.array([0, 0, 0, 0, 0, 0])
T = np.array([1, 1, 1, 2, 0, 0])   # fools M∘P on the first four
M = np.array([0, 1, 3, 0, 0, 4])   # 1: detected & M right; 2: undetected & M wrong; 3: detected & M wrong;
#                                    4: detected & M right; 5: T right, M right; 6: T right, M wrong (detected)


def test_disagreement_and_inefficient_rates_count_by_hand():
    dr = metrics.disagreement_rate(Y, T, M)
    assert (dr.numerator, dr.denominator) == (3, 4)       # examples 1, 3, 4 disagree among the 4 successes
    iar = metrics.inefficient_adversarial_rate(Y, T, M)
    assert (iar.numerator, iar.denominator) == (2, 4)     # examples 1 and 4: M still right
    assert iar.value == 0.5


def test_adversarial_accuracy_and_dac():
    assert metrics.adversarial_accuracy(T, Y).value == pytest.approx(2 / 6)
    assert metrics.adversarial_accuracy(M, Y).value == pytest.approx(3 / 6)
    dac = metrics.detection_adversarial_accuracy(Y, T, M)
    # undetected and M wrong: only example 2 (t = m = 1 ≠ 0) → DAC = 1 - 1/6
    assert dac.value == pytest.approx(5 / 6) and dac.denominator == 6


def test_no_successful_example_leaves_dr_iar_undefined():
    y = np.array([3, 3]); t = np.array([3, 3]); m = np.array([1, 3])
    for rate in (metrics.disagreement_rate(y, t, m), metrics.inefficient_adversarial_rate(y, t, m)):
        assert rate.value is None and rate.denominator == 0
        assert str(rate) == "n/a" and rate.as_dict()["value"] is None


def test_empty_set_is_undefined_not_nan():
    empty = np.array([], dtype=int)
    assert metrics.detection_adversarial_accuracy(empty, empty, empty).value is None
    assert metrics.accuracy(empty, empty).value is None


def test_agreement_and_agreement_on_truth():
    a = np.array([1, 2, 3, 4]); b = np.array([1, 2, 0, 4]); y = np.array([1, 0, 3, 4])
    assert metrics.agreement(a, b).value == 0.75
    assert metrics.agreement_on_truth(a, b, y).value == 0.5


def test_length_mismatch_raises():
    with pytest.raises(ValueError, match="differ in length"):
        metrics.agreement([1, 2], [1])


def test_at_chance_level_threshold_is_one_over_k_plus_margin():
    assert metrics.at_chance_level(0.10, 10)
    assert metrics.at_chance_level(0.15, 10)              # 1/10 + 0.05, inclusive
    assert not metrics.at_chance_level(0.151, 10)
    assert metrics.at_chance_level(0.52, 2, margin=0.05)  # 1/2 + 0.05 = 0.55
    assert not metrics.at_chance_level(0.9, 10)
    assert not metrics.at_chance_level(None, 10)          # no test example: undefined, not at chance
    with pytest.raises(ValueError):
        metrics.at_chance_level(0.1, 0)


def test_wilson_interval_matches_known_values_and_is_named():
    from luring_tf.evaluation.intervals import rate_text
    from luring_tf.evaluation.metrics import Rate

    low, high = Rate(0, 10).interval
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)  # not empty at 0/n, unlike the normal one
    assert Rate(5, 10).interval == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert Rate(81, 263).interval == pytest.approx((0.2553, 0.3662), abs=1e-4)  # Newcombe (1998)
    assert Rate(10, 10).interval[1] == pytest.approx(1.0) and Rate(0, 0).interval == (None, None)
    record = Rate(12, 100).as_dict()
    assert record["interval_method"] == "Wilson score, 95 %" and record["numerator"] == 12
    assert rate_text(record) == "0.120 [0.070, 0.198] (12/100)"
