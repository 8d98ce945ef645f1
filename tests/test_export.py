"""luring_tf.export: the destination rules (never overwritten without --force, atomic), the callable package,
and a SavedModel / TFLite round trip on a tiny protected model (the acceptance run in test_any_classifier.py
covers the CLI's scripts around it)."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import ROOT, assert_one_line_error
from luring_tf.errors import UserError
from luring_tf.input_range import parse_input_range
from luring_tf.training.protect import Protected, saved_component
from luring_tf.storage.models_io import compose


def run_export(*args, cwd):
    return subprocess.run([sys.executable, "-m", "luring_tf.export", *args], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
                          timeout=300)


def test_existing_export_path_without_force_is_refused_before_anything(tmp_path):
    out = tmp_path / "exported"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = run_export("--target-model", str(tmp_path / "m.h5"), "--out", str(out), cwd=tmp_path)
    assert_one_line_error(result, f"export path {out} already exists", "--force")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    quantize_alone = run_export("--target-model", "m.h5", "--out", str(tmp_path / "new"), "--quantize", cwd=tmp_path)
    assert_one_line_error(quantize_alone, "--quantize", "--tflite")


def test_export_is_callable_as_the_package_and_as_the_api_function():
    import luring_tf
    import luring_tf.export as package

    assert callable(package) and callable(luring_tf.export)
    with pytest.raises(UserError, match="already exists"):
        luring_tf.export(None, ROOT)  # the repository folder exists: refused before the model is touched


def tiny_protected(input_range: str) -> Protected:
    keras.utils.set_random_seed(0)
    shape = (10, 12, 3)
    m = keras.Sequential([keras.Input(shape), keras.layers.Conv2D(4, 3, activation="relu"),
                          keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(5, activation="softmax")])
    # pooling + up-sampling, as the paper's components: with a dynamic batch their TFLite conversion failed
    p = keras.Sequential([keras.Input(shape), keras.layers.MaxPooling2D(2), keras.layers.UpSampling2D(2),
                          keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid")])
    rng = parse_input_range(input_range)
    component = saved_component(p, rng)
    return Protected(m, component, compose(component, m), rng, {"component_rule": "test"})


def test_saved_model_and_tflite_reproduce_keras_and_force_replaces_atomically(tmp_path):
    import luring_tf
    import tensorflow as tf

    protected = tiny_protected("mean=0.5,0.4,0.3:std=0.2,0.25,0.3")
    x01 = np.random.default_rng(1).random((40, 10, 12, 3), dtype=np.float32)
    out = tmp_path / "exported"
    record = luring_tf.export(protected, out, images=x01, tflite=True, quantize=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exported"]  # no temporary folder left
    stored = json.loads((out / "export.json").read_text())
    agreement = stored["tflite"]["agreement_with_keras_T"]
    assert {k: agreement[k] for k in ("value", "numerator", "denominator")} == {"value": 1.0, "numerator": 40,
                                                                                "denominator": 40}
    assert agreement["interval"][1] == 1.0 and 0.9 < agreement["interval"][0] < 1.0  # Wilson 40/40: [0.912, 1]
    assert agreement["interval_method"] == "Wilson score, 95 %"
    assert stored["saved_model"]["detect_agreement"]["label_vs_keras_M"]["value"] == 1.0
    x = protected.input_range.to_model_units(x01)
    loaded = tf.saved_model.load(str(out / "saved_model"))
    predicted = loaded.signatures["predict"](images=tf.constant(x))
    np.testing.assert_allclose(predicted["probabilities"].numpy(), protected.classifier.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    detected = loaded.signatures["detect"](images=tf.constant(x))
    np.testing.assert_array_equal(detected["flagged"].numpy(), detected["label"].numpy() != detected["label_T"].numpy())
    assert record["tflite"]["bytes"] == (out / "T.tflite").stat().st_size
    with pytest.raises(UserError, match="already exists"):
        luring_tf.export(protected, out, images=x01)
    luring_tf.export(protected, out, images=x01, tflite=False, force=True)
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "saved_model"]  # replaced, not merged
