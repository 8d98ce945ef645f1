"""The Python API (luring_tf.protect / evaluate / detect / export): cheap import, the [0,1] views, a tiny protect."""

import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from test_export import tiny_protected


def test_import_luring_tf_loads_neither_tensorflow_nor_keras():
    code = "import sys, luring_tf; assert callable(luring_tf.protect); " \
           "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    # touching luring_tf.protect imports luring_tf.api, which must stay light too
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


def test_unit_views_fold_the_input_range():
    protected = tiny_protected("-1,1")
    x01 = np.random.default_rng(0).random((6, 10, 12, 3), dtype=np.float32)
    x = protected.input_range.to_model_units(x01)
    assert x.min() < 0 < x.max()
    views = protected.unit_models()
    np.testing.assert_allclose(views["M"].predict(x01, verbose=0), protected.classifier.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(views["luring"].predict(x01, verbose=0), protected.protected.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)


def test_detect_answers_m_and_flags_disagreement():
    import luring_tf

    protected = tiny_protected("0,255")
    x = np.random.default_rng(2).random((20, 10, 12, 3), dtype=np.float32) * 255
    result = luring_tf.detect(protected, x)
    m = protected.classifier.predict(x, verbose=0).argmax(1)
    t = protected.protected.predict(x, verbose=0).argmax(1)
    np.testing.assert_array_equal(result.answer, m)
    np.testing.assert_array_equal(result.flagged, m != t)


def tiny_p(input_shape):
    import keras

    return keras.Sequential([keras.Input(input_shape), keras.layers.Conv2D(input_shape[-1], 3, padding="same",
                                                                           activation="sigmoid")])


def test_protect_an_in_memory_model_on_unlabeled_arrays():
    import luring_tf
    from luring_tf.api import as_dataset

    protected = tiny_protected("0,255")
    x = np.random.default_rng(3).random((60, 10, 12, 3), dtype=np.float32)
    data = as_dataset(x, seed=5)
    assert (data.size("train"), data.size("val"), data.size("test")) == (39, 9, 12)  # seeded 20 % hold-out, 17 % val
    result = luring_tf.protect(protected.classifier, data, input_range="0,255", component=tiny_p,
                               overrides=["train.luring.steps=4", "train.luring.eval_every=2",
                                          "train.luring.batch_size=8", "train.luring.restarts=0",
                                          "train.luring.dropout=0.0", "train.luring.min_agreement=0.0"])
    assert result.paths is None and result.record["labels"].startswith("none")  # nothing saved, M's labels
    assert result.record["component_rule"] == "--component tiny_p"
    assert result.record["test_agreement"]["denominator"] == 12
    flags = result.record["clean_test_flag_rate"]  # false alarms of the detection scheme on the clean test images
    assert flags["denominator"] == 12 and flags["numerator"] == 12 - result.record["test_agreement"]["numerator"]
    assert flags["interval_method"].startswith("Wilson") and flags["interval"][0] <= flags["value"]
    assert result.protected.layers[-1] is protected.classifier  # T = [P_saved, M] holds the very M
    with pytest.raises(Exception, match="shape"):
        luring_tf.protect(protected.classifier, as_dataset(np.zeros((20, 8, 8, 3), np.float32)))
