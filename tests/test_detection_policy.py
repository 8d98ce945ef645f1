"""The detection scheme's false alarms on clean images and the calibrated policy (issue 26), on real MNIST digits.

M: a tiny classifier trained on the MNIST sample's training digits; T = M∘P with P a fixed 5x5 box blur, so T
disagrees with M on ~15 % of clean digits (the paper's rule flags them all: false alarms). The confidence policy
is calibrated on clean images M never saw and measured on other clean images it was not calibrated on.
"""

import json
import math

import keras
import numpy as np
import pytest

from luring_tf.errors import UserError
from luring_tf.evaluation import detection_policy as dp
from luring_tf.evaluation.metrics import Rate
from luring_tf.input_range import parse_input_range
from luring_tf.storage.models_io import compose
from luring_tf.training.protect import Protected

TARGET = 0.05


@pytest.fixture(scope="module")
def setup():
    from luring_tf.data import load_dataset

    data = load_dataset("mnist", "sample")  # train 3320, val 680, test 1000 real digits in [0,1]
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.AveragePooling2D(2), keras.layers.Flatten(),
                          keras.layers.Dense(10), keras.layers.Activation("softmax")], name="M")
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(data.x_train, data.y_train, epochs=3, batch_size=64, verbose=0)
    p = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(1, 5, padding="same", use_bias=False)],
                         name="P")
    p.layers[0].set_weights([np.full((5, 5, 1, 1), 1.0 / 25, np.float32)])
    protected = Protected(m, p, compose(p, m), parse_input_range("0,1"), {"component_rule": "5x5 blur"})
    return data, protected


def test_calibrated_policy_reaches_its_target_false_alarm_rate_on_held_out_clean_digits(setup):
    data, protected = setup
    x = np.concatenate([data.x_val, data.x_test])  # 1,680 clean digits M was not trained on
    s = dp.scores(protected.classifier, protected.protected, x)
    paper = dp.flag_rate(dp.PAPER, s)
    assert paper.interval[0] > 2 * TARGET  # the paper's rule: ~15 % false alarms, far above the target
    # 4-fold cross-calibration: every digit is held out once, under a policy calibrated on the other three folds
    folds = np.array_split(np.random.default_rng(0).permutation(len(x)), 4)
    held_flags, calibrated = 0, []
    for k, held in enumerate(folds):
        cal = np.concatenate([f for j, f in enumerate(folds) if j != k])
        part = lambda idx: dp.Scores(s.m_pred[idx], s.t_pred[idx], s.t_prob_of_m[idx])
        policy = dp.calibrate(part(cal), TARGET)
        assert policy.rule == "confidence" and policy.calibration["binding"]
        reached = policy.calibration["flag_rate"]
        assert reached["numerator"] == math.floor(TARGET * len(cal))  # as close to the target as allowed, not over
        held_flags += int(dp.flag_rate(policy, part(held)).numerator)
        calibrated.append(policy.threshold)
    held_out = Rate(held_flags, len(x))
    # within sampling error: the held-out rate's sampling SD plus the calibration set's (1,260 digits)
    error = 1.96 * math.sqrt(TARGET * (1 - TARGET) * (1 / len(x) + 1 / 1260))
    assert abs(held_out.value - TARGET) <= error, (held_out.as_dict(), error)
    low, high = held_out.interval
    assert low <= TARGET <= high
    assert held_out.value < paper.value / 2  # the policy removes most of the paper rule's false alarms
    print(f"held-out clean false alarms: paper rule {paper} of {paper.denominator}, policy {held_out} "
          f"({held_out.numerator}/{held_out.denominator}, 95 % CI {low:.3f}-{high:.3f}); thresholds "
          f"{np.round(calibrated, 3).tolist()}")


def test_calibrate_detection_uses_the_validation_split_and_detect_applies_the_policy(setup):
    import luring_tf

    data, protected = setup
    policy = luring_tf.calibrate_detection(protected, data, false_alarm=TARGET)
    assert policy.calibration["images"] == len(data.x_val) == 680  # the validation split, never the test split
    expected = dp.calibrate(dp.scores(protected.classifier, protected.protected, data.x_val), TARGET)
    assert policy.threshold == expected.threshold
    paper = luring_tf.detect(protected, data.x_test)
    result = luring_tf.detect(protected, data.x_test, policy=policy)
    np.testing.assert_array_equal(paper.flagged, paper.m_pred != paper.t_pred)  # the default: the paper's rule
    np.testing.assert_array_equal(result.answer, paper.answer)
    np.testing.assert_array_equal(result.flagged, paper.flagged & (result.t_prob_of_m < policy.threshold))
    assert result.flagged.sum() < paper.flagged.sum() and not (result.flagged & ~paper.flagged).any()
    assert result.policy is policy and paper.policy.rule == "disagreement"
    t_probs = protected.protected.predict(data.x_test[:20], verbose=0)
    np.testing.assert_allclose(result.t_prob_of_m[:20], t_probs[np.arange(20), paper.m_pred[:20]], rtol=1e-5)
    with pytest.raises(UserError, match="strictly between 0 and 1"):
        luring_tf.calibrate_detection(protected, data, false_alarm=1.5)
    with pytest.raises(UserError, match="no validation split"):
        luring_tf.calibrate_detection(protected, type(data)(**{**data.__dict__, "x_val": None, "y_val": None}))


def test_defense_tables_report_clean_false_alarms_and_dac_with_and_without_the_policy(setup, tmp_path):
    from luring_tf.evaluation.defense import run_defense
    from luring_tf.report.defense import write_defense

    data, protected = setup
    config = {"dataset": "mnist", "profile": "test", "seed": 0,
              "defense": {"n_examples": 100, "batch_size": 100, "eps": [0.1, 0.2], "attacks": {"fgsm": {}}}}
    models = {"M": protected.classifier, "blur": protected.protected}
    record = run_defense(models, data, config, "fgsm", tmp_path, verbose=False, false_alarm=TARGET)
    entry = record["false_alarms"]["blur"]
    flags = entry["test_flag_rate"]
    assert flags["denominator"] == 1000 and flags["interval_method"].startswith("Wilson")
    assert flags["interval"][0] < flags["value"] < flags["interval"][1]
    assert entry["policy"]["calibration"]["images"] == 680
    assert entry["policy_test_flag_rate"]["value"] < flags["value"]
    for row in record["table"]:
        assert row["clean_flag_rate"] == flags
        assert row["DAC_policy"]["denominator"] == row["DAC"]["denominator"] == row["n"]
        assert row["DAC_policy"]["value"] <= row["DAC"]["value"]  # the policy only removes flags
    assert any(row["DAC_policy"]["value"] < row["DAC"]["value"] for row in record["table"])
    record.update(dataset="mnist", profile="test")  # as the scripts add them
    json_path, md_path = write_defense(record, tmp_path)[:2]
    stored = json.loads(json_path.read_text())
    assert stored["table"][0]["clean_flag_rate"]["interval"] == flags["interval"]
    assert stored["false_alarms"]["blur"]["policy"]["rule"] == "confidence"
    text = md_path.read_text()
    assert "DAC, policy" in text and "clean flag rate [95 % CI]" in text and "Wilson score" in text
    assert f"{flags['value']:.3f} [{flags['interval'][0]:.3f}, {flags['interval'][1]:.3f}] ({flags['numerator']}/1000)" in text
    for row in record["table"]:
        print(f"fgsm eps {row['eps']}: DAC {row['DAC']['value']:.2f} (paper rule), DAC {row['DAC_policy']['value']:.2f} "
              f"(policy at {TARGET}); clean flags {flags['value']:.3f} -> {entry['policy_test_flag_rate']['value']:.3f}")
    again = run_defense(models, data, config, "fgsm", tmp_path, verbose=False, false_alarm=None)
    assert all("DAC_policy" not in row for row in again["table"]) and again["table"][0]["clean_flag_rate"] == flags


def test_the_savedmodel_takes_the_calibrated_policy(setup, tmp_path):
    import luring_tf
    import tensorflow as tf

    data, protected = setup
    out = tmp_path / "exported"
    record = luring_tf.export(protected, out, images=data, tflite=False, policy=TARGET)  # calibrated on data.x_val
    stored = json.loads((out / "export.json").read_text())
    policy = stored["detection_policy"]
    assert policy["rule"] == "confidence" and policy["calibration"]["images"] == 680
    assert policy["target_false_alarm"] == TARGET and "calibrated on 680 clean validation" in policy["description"]
    clean, paper = stored["clean_test_flag_rate"], stored["clean_test_flag_rate_paper_rule"]
    assert clean["denominator"] == paper["denominator"] == 1000 and clean["numerator"] < paper["numerator"]
    assert stored["public"]["agreement"]["flagged_vs_keras"]["value"] == 1.0
    assert stored["internal"]["detect_agreement"]["flagged_vs_keras"]["value"] == 1.0
    expected = luring_tf.detect(protected, data.x_test[:200], policy=dp.DetectionPolicy.from_dict(policy))
    public = tf.saved_model.load(str(out / "public" / "saved_model")).signatures["detect"]
    served = public(images=tf.constant(data.x_test[:200]))
    np.testing.assert_array_equal(served["flagged"].numpy(), expected.flagged)
    assert expected.flagged.any() and not expected.flagged.all()
    assert "clean test images flagged" in record["summary"]
    with pytest.raises(UserError, match="validation images"):
        luring_tf.export(protected, tmp_path / "other", images=data.x_test, tflite=False, policy=TARGET)
