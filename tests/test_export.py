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
from real_digits import digits
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
    bad_rate = run_export("--target-model", "m.h5", "--out", str(tmp_path / "new"), "--false-alarm", "1.5", cwd=tmp_path)
    assert_one_line_error(bad_rate, "--false-alarm 1.5", "between 0 and 1")


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


def varied_protected(input_range: str) -> Protected:
    """M = one dense softmax layer with large random weights, so its answers vary across digits; P a random
    pooling / up-sampling / conv component (T disagrees with M on some images)."""
    keras.utils.set_random_seed(3)
    shape = (10, 12, 3)
    rng = parse_input_range(input_range)
    m = keras.Sequential([keras.Input(shape), rng.to_unit(), keras.layers.Flatten(),
                          keras.layers.Dense(5, activation="softmax",
                                             kernel_initializer=keras.initializers.RandomNormal(stddev=0.3))])
    p = keras.Sequential([keras.Input(shape), keras.layers.MaxPooling2D(2), keras.layers.UpSampling2D(2),
                          keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid")])
    component = saved_component(p, rng)
    return Protected(m, component, compose(component, m), rng, {"component_rule": "test"})


def test_saved_model_and_tflite_reproduce_keras_and_force_replaces_atomically(tmp_path):
    import luring_tf
    import tensorflow as tf

    protected = tiny_protected("mean=0.5,0.4,0.3:std=0.2,0.25,0.3")
    x01 = np.random.default_rng(1).random((40, 10, 12, 3), dtype=np.float32)
    out = tmp_path / "exported"
    record = luring_tf.export(protected, out, images=x01, tflite=True, quantize=False, serve="legacy")
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
    luring_tf.export(protected, out, images=x01, tflite=False, force=True, serve="legacy")
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "saved_model"]  # replaced, not merged


def test_public_artefact_exposes_only_T_and_M_stays_in_the_internal_one(tmp_path):
    """Issue 27 item 4: the default export served M (predict = M's probabilities, detect = M's label)."""
    import luring_tf
    import tensorflow as tf

    protected = varied_protected("0,255")
    x01, _ = digits(48, (10, 12, 3), seed=4)  # real digits, coloured and resized to the model's shape
    out = tmp_path / "exported"
    record = luring_tf.export(protected, out, images=x01, tflite=True)
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "internal", "public"]
    assert sorted(p.name for p in (out / "public").iterdir()) == ["T.tflite", "saved_model"]
    x = protected.input_range.to_model_units(x01)
    m_probs = protected.classifier.predict(x, verbose=0)
    t_probs = protected.protected.predict(x, verbose=0)
    m, t = m_probs.argmax(1), t_probs.argmax(1)
    assert (m != t).any() and (m == t).any()  # both cases occur on these images
    public = tf.saved_model.load(str(out / "public" / "saved_model")).signatures
    predicted = {k: v.numpy() for k, v in public["predict"](images=tf.constant(x)).items()}
    np.testing.assert_allclose(predicted["probabilities"], t_probs, rtol=1e-4, atol=1e-5)  # T's, not M's
    np.testing.assert_array_equal(predicted["label"], t)
    detected = {k: v.numpy() for k, v in public["detect"](images=tf.constant(x)).items()}
    assert sorted(detected) == ["flagged", "label"]  # no M output leaves the public artefact
    np.testing.assert_array_equal(detected["flagged"], m != t)
    np.testing.assert_array_equal(detected["label"], np.where(m != t, -1, t))  # T's answer, or the reject
    internal = tf.saved_model.load(str(out / "internal" / "saved_model")).signatures
    inside = {k: v.numpy() for k, v in internal["detect"](images=tf.constant(x)).items()}
    np.testing.assert_array_equal(inside["label"], m)
    np.testing.assert_array_equal(inside["label_T"], t)
    np.testing.assert_allclose(inside["probability_T_of_label"], t_probs[np.arange(len(m)), m], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(internal["predict"](images=tf.constant(x))["probabilities"].numpy(), m_probs,
                               rtol=1e-4, atol=1e-6)
    stored = json.loads((out / "export.json").read_text())
    assert stored["serve"] == "public" and "saved_model" not in stored
    assert stored["public"]["folder"] == "public/saved_model" and "users" in stored["public"]["where"]
    assert stored["internal"]["folder"] == "internal/saved_model" and "never" in stored["internal"]["where"]
    assert stored["public"]["agreement"]["detect_label_vs_keras"]["value"] == 1.0
    assert stored["internal"]["detect_agreement"]["label_vs_keras_M"]["value"] == 1.0
    assert stored["tflite"]["file"] == "public/T.tflite"
    flags = stored["clean_test_flag_rate"]
    assert (flags["numerator"], flags["denominator"]) == (int((m != t).sum()), 48)
    assert flags["interval_method"].startswith("Wilson") and flags["interval"][0] < flags["value"]
    assert stored["detection_policy"]["rule"] == "disagreement"
    assert "public/saved_model (T only" in record["summary"]
    with pytest.raises(UserError, match="serve='m'"):
        luring_tf.export(protected, tmp_path / "other", images=x01, tflite=False, serve="m")


def test_tflite_runs_on_litert_and_on_the_tf_lite_fallback(tmp_path, monkeypatch):
    """LiteRT's interpreter where installed (the `litert` extra), tf.lite.Interpreter as the fallback: both agree
    with the Keras T on real digits."""
    from luring_tf.export.writer import LITERT, TF_LITE, tflite_interpreter, tflite_labels, tflite_model

    pytest.importorskip("ai_edge_litert", reason="LiteRT not installed: pip install 'luring-tf[litert]'")
    protected = varied_protected("0,1")
    x, _ = digits(24, (10, 12, 3), seed=6)
    expected = protected.protected.predict(x, verbose=0).argmax(1)
    content = tflite_model(protected.protected, protected.image_shape, tmp_path, quantize=False)
    for runtime in (LITERT, TF_LITE):
        labels, used = tflite_labels(content, x, runtime)
        assert used == runtime
        np.testing.assert_array_equal(labels, expected)
    assert tflite_interpreter(content)[1] == LITERT  # preferred when installed
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)  # as if not installed: ImportError
    interpreter, used = tflite_interpreter(content)
    assert used == TF_LITE and type(interpreter).__module__.startswith("tensorflow")
    with pytest.raises(UserError, match="pip install 'luring-tf\\[litert\\]'"):
        tflite_interpreter(content, LITERT)
