"""Issue 11, items 2-5: any classifier -- input range folding, P by rule, --component, the scripts end to end.

The acceptance run: a 48x48x3, 7-class classifier taking [0,255] images (not a paper shape), trained a
few epochs on generated colour images, protected from an unlabeled folder of PNGs with
run_characterization.py, evaluated with run_defense.py --attack mim-w, exported; the SavedModel's
``detect`` and the TFLite T reproduce the Keras predictions in a fresh process without luring_tf.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, assert_one_line_error, run_script
from luring_tf.errors import UserError
from luring_tf.input_range import parse_input_range

SHAPE, CLASSES = (48, 48, 3), 7
COLOURS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1]], np.float32)

TINY_P = '''import keras
def build(input_shape):
    return keras.Sequential([keras.Input(input_shape), keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
                             keras.layers.Conv2D(input_shape[-1], 3, padding="same", activation="sigmoid")])
def wrong(input_shape):
    return keras.Sequential([keras.Input(input_shape), keras.layers.Conv2D(1, 3, padding="same")])
'''


def images(n: int, seed: int = 0):
    """[0,1] colour images whose class is the tint of a noisy background: float32 [n,48,48,3], labels [n]."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    x = 0.7 * COLOURS[y][:, None, None, :] + 0.3 * rng.random((n, *SHAPE), dtype=np.float32)
    return x.astype(np.float32), y


def classifier_0_255(seed: int = 0) -> keras.Model:
    """A small CNN taking [0,255] images (its own Rescaling) with a 7-way softmax, trained 4 epochs (test ~1.0)."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input(SHAPE), keras.layers.Rescaling(1 / 255.0),
                              keras.layers.Conv2D(16, 3, strides=2, activation="tanh"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(CLASSES),
                              keras.layers.Softmax()])
    x, y = images(400, seed)
    model.compile(keras.optimizers.Adam(0.02), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x * 255.0, y, epochs=4, batch_size=32, verbose=0)
    return model


# ------------------------------------------------------------------------------------------------ input range


@pytest.mark.parametrize("text,scale,offset", [("0,1", (1.0,), (0.0,)), ("0,255", (255.0,), (0.0,)),
                                               ("-1,1", (2.0,), (-1.0,)),
                                               ("mean=0.5,0.25,0:std=0.5,0.25,2", (2.0, 4.0, 0.5), (-1.0, -1.0, 0.0))])
def test_input_range_parses_to_the_affine_map(text, scale, offset):
    rng = parse_input_range(text)
    assert rng.scale == pytest.approx(scale) and rng.offset == pytest.approx(offset)
    x = np.random.default_rng(0).random((2, 4, 4, 3), dtype=np.float32)
    folded = keras.Sequential([keras.Input((4, 4, 3)), rng.from_unit()])(x)
    np.testing.assert_allclose(folded, rng.to_model_units(x), rtol=1e-6, atol=1e-6)
    back = keras.Sequential([keras.Input((4, 4, 3)), rng.to_unit()])(folded)
    np.testing.assert_allclose(back, x, atol=1e-5)


@pytest.mark.parametrize("text", ["", "0", "1,0", "0,1,2", "a,b", "0,inf", "mean=0.5", "mean=0.5:std=0",
                                  "mean=1,2:std=1,2,3", "min=0:max=1"])
def test_unparsable_input_range_is_a_one_line_error(text):
    with pytest.raises(UserError) as caught:
        parse_input_range(text)
    assert "\n" not in str(caught.value) and "--input-range" in str(caught.value)


def test_per_channel_range_must_match_the_channels():
    with pytest.raises(UserError, match="3 values per channel"):
        parse_input_range("mean=0.1,0.2,0.3:std=1,1,1").check_channels(1, "your model")


# ----------------------------------------------------------------------------------------------------- P rule


RULE = [((28, 28, 1), "Table 5"), ((20, 36, 1), "Table 5"), ((64, 64, 1), "Table 5"), ((48, 48, 3), "Table 6"),
        ((30, 30, 4), "Table 6"), ((65, 40, 3), "Table 15"), ((96, 96, 1), "Table 15"), ((224, 224, 3), "Table 15")]


@pytest.mark.parametrize("shape,table", RULE)
def test_rule_picks_the_papers_component_by_size_and_channels(shape, table):
    import architectures.by_shape as by_shape

    assert by_shape.component_rule(shape).startswith(table)


@pytest.mark.parametrize("shape", [(20, 36, 1), (65, 40, 1)])
def test_grey_components_keep_any_shape(shape):
    import architectures.by_shape as by_shape

    assert tuple(by_shape.build_component_for_shape(shape).output_shape[1:]) == shape


def test_table6_and_table7_components_keep_an_odd_colour_shape():
    import architectures.by_shape as by_shape

    assert tuple(by_shape.build_component_for_shape((30, 30, 4)).output_shape[1:]) == (30, 30, 4)
    assert tuple(by_shape.build_table7_component((30, 30, 3)).output_shape[1:]) == (30, 30, 3)


def test_imagenet_component_is_table15_with_a_third_upsampling():
    from architectures import imagenet

    p = imagenet.build_luring_component((72, 72, 3))
    convs = [layer.filters for layer in p.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs == [128, 256, 512, 512, 256, 128, 64, 3]
    assert sum(isinstance(layer, keras.layers.UpSampling2D) for layer in p.layers) == 3
    assert p.layers[-1].activation.__name__ == "sigmoid"


def test_user_component_loads_and_is_checked(tmp_path, monkeypatch):
    import architectures.by_shape as by_shape

    (tmp_path / "my_p.py").write_text(TINY_P)
    monkeypatch.chdir(tmp_path)
    assert tuple(by_shape.build_user_component("my_p:build", SHAPE).output_shape[1:]) == SHAPE
    for spec, fragment in [("my_p:wrong", "P must map"), ("no_such_module:f", "cannot import"),
                           ("my_p:missing", "has no function"), ("my_p", "module:function")]:
        with pytest.raises(UserError, match=fragment):
            by_shape.build_user_component(spec, SHAPE)


# ------------------------------------------------------------------------------------------------ bad models


def test_model_without_an_image_input_is_a_one_line_error(tmp_path):
    from luring_tf.storage.models_io import save_model
    from luring_tf.training.protect import load_target

    flat = keras.Sequential([keras.Input((20,)), keras.layers.Dense(3, activation="softmax")])
    path = save_model(flat, tmp_path / "flat.h5")
    with pytest.raises(UserError, match="not images.*rank-4") as caught:
        load_target(path)
    assert "\n" not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flat.h5"]


def test_bad_input_range_and_orphan_flags_fail_before_tensorflow(tmp_path):
    (tmp_path / "m.h5").write_bytes(b"not read: the range is checked first")
    bad_range = run_script("run_characterization.py", "--target-model", str(tmp_path / "m.h5"), "--input-range",
                           "0..255", cwd=tmp_path)
    assert_one_line_error(bad_range, "--input-range", "not a list of numbers")
    alone = run_script("run_characterization.py", "--input-range", "0,255", cwd=tmp_path)
    assert_one_line_error(alone, "--input-range", "only apply with --target-model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.h5"]


# ------------------------------------------------------------------------------------------ acceptance run


def test_non_paper_classifier_protected_evaluated_and_exported(tmp_path):
    import luring_tf
    from luring_tf.storage.models_io import save_model

    model = classifier_0_255()
    target = save_model(model, tmp_path / "mine.h5")
    folder = tmp_path / "pngs"
    folder.mkdir()
    x, _ = images(80, seed=1)
    for i, image in enumerate(x):  # unlabeled: every PNG at the top level
        Image.fromarray(np.round(image * 255).astype(np.uint8)).save(folder / f"img{i:03d}.png")
    (tmp_path / "tiny_p.py").write_text(TINY_P)
    tiny = ["--set", "train.luring.steps=20", "--set", "train.luring.eval_every=10", "--set",
            "train.luring.batch_size=16", "--set", "train.luring.lr=[0.0005]", "--set", "train.luring.restarts=0",
            "--set", "train.luring.identity_warmup_steps=200"]
    protect = run_script("run_characterization.py", "--target-model", str(target), "--data-dir", str(folder),
                         "--input-range", "0,255", "--component", "tiny_p:build", *tiny, cwd=tmp_path)
    assert protect.returncode == 0, protect.stderr[-3000:]
    record = json.loads((tmp_path / "mine_luring.json").read_text())
    assert record["input_range"]["text"] == "0,255" and record["component_rule"] == "--component tiny_p:build"
    assert record["labels"].startswith("none") and record["image_shape"] == list(SHAPE)
    assert record["test_agreement"]["denominator"] == 16  # the folder's 20 % hold-out of 80 images
    assert record["test_agreement"]["value"] > 0.5  # T answers as M on most test images (1.0 measured)

    attack = ["--set", "defense.attacks.mim.nb_iter=2", "--set", "defense.attacks.dim.nb_iter=2",
              "--set", "defense.attacks.dim.p=[1.0]", "--set", "defense.attacks.mim_ti.nb_iter=2",
              "--set", "defense.attacks.mim_ti.kernel_size=[3]", "--set", "defense.attacks.dim_ti.nb_iter=2",
              "--set", "defense.attacks.dim_ti.kernel_size=[3]"]
    defense = run_script("run_defense.py", "--target-model", str(target), "--attack", "mim-w", "--n-examples", "6",
                         "--eps", "0.03", *attack, cwd=tmp_path)
    assert defense.returncode == 0, defense.stderr[-3000:]
    assert "7.65 in your model's units" in defense.stdout and "M's own label" in defense.stdout
    summary = json.loads((tmp_path / "results" / "mine" / "defense" / "defense_mim-w.json").read_text())
    (row,) = summary["table"]
    assert row["runs"] == 4 and row["AC_M"]["denominator"] == row["n"] == summary["n"] <= 6

    protected = luring_tf.load_protected(target)
    from luring_tf.export.writer import reload_data

    # the API is the script's path: the same evaluation from Python reuses the script's 4 cells (resumable)
    again = luring_tf.evaluate(protected, reload_data(protected), attack="mim-w", eps=[0.03], n_examples=6,
                               overrides=attack[1::2], out_dir=tmp_path / "results" / "mine" / "defense",
                               verbose=False)
    assert all(cell["reused"] for cell in again["cells"]) and len(again["cells"]) == 4
    assert again["table"][0]["AC_M"] == row["AC_M"] and again["table"][0]["DAC"] == row["DAC"]

    out = tmp_path / "exported"
    export = luring_tf.export(protected, out, images=reload_data(protected), tflite=True)
    written = json.loads((out / "export.json").read_text())
    assert written["tflite"]["agreement_with_keras_T"]["value"] >= 0.99 and written["tflite"]["quantized"] is False
    assert export["summary"].startswith(f"export written to {out}")
    assert written["tflite"]["agreement_with_keras_T"]["denominator"] == 16
    assert written["internal"]["detect_agreement"]["label_T_vs_keras_T"]["value"] == 1.0
    assert written["public"]["agreement"]["detect_label_vs_keras"]["value"] == 1.0
    assert written["clean_test_flag_rate"]["denominator"] == 16
    # the CLI: the former layout answering with M (--serve-m), a policy calibrated on the folder's validation split
    legacy = subprocess.run([sys.executable, "-m", "luring_tf.export", "--target-model", str(target), "--out",
                             str(tmp_path / "exported-m"), "--serve-m", "--false-alarm", "0.25"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3"))
    assert legacy.returncode == 0, legacy.stderr[-3000:]
    legacy_record = json.loads((tmp_path / "exported-m" / "export.json").read_text())
    assert legacy_record["serve"] == "legacy" and (tmp_path / "exported-m" / "saved_model").is_dir()
    assert legacy_record["detection_policy"]["rule"] == "confidence"
    assert legacy_record["detection_policy"]["calibration"]["images"] == reload_data(protected).size("val")
    assert "clean test images flagged" in legacy.stdout

    # a fresh interpreter without luring_tf: plain Keras loads T, tf.saved_model.load runs detect
    x255 = (x[:16] * 255.0).astype(np.float32)
    np.save(tmp_path / "x.npy", x255)
    check = subprocess.run([sys.executable, "-c", FRESH, str(tmp_path)], capture_output=True, text=True,
                           env=dict(os.environ, PYTHONPATH="", TF_CPP_MIN_LOG_LEVEL="3"), cwd=tmp_path, timeout=300)
    assert check.returncode == 0, check.stderr[-3000:]
    fresh = np.load(tmp_path / "fresh.npz")
    t_keras = protected.protected.predict(x255, verbose=0).argmax(1)
    m_keras = model.predict(x255, verbose=0).argmax(1)
    np.testing.assert_array_equal(fresh["t_h5"], t_keras)
    np.testing.assert_array_equal(fresh["label_T"], t_keras)
    np.testing.assert_array_equal(fresh["label"], m_keras)
    np.testing.assert_array_equal(fresh["flagged"], m_keras != t_keras)


FRESH = """
import sys
from pathlib import Path
import numpy as np, keras, tensorflow as tf
root = Path(sys.argv[1])
x = np.load(root / "x.npy")
t = keras.models.load_model(root / "mine_luring_T.h5", compile=False)
detect = tf.saved_model.load(str(root / "exported" / "internal" / "saved_model")).signatures["detect"](images=tf.constant(x))
assert "luring_tf" not in sys.modules
np.savez(root / "fresh.npz", t_h5=t.predict(x, verbose=0).argmax(1), **{k: v.numpy() for k, v in detect.items()})
"""
