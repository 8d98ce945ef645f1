"""Issue 22 (and issue 26's first bullet): a user's real classifier protected from a folder of real PNGs.

Cases are built from the shipped real MNIST digits (``tests/real_images.py``): coloured / resized, relabelled,
written as PNG files, with a small Keras M trained on them in the user's input range.
"""

import json

import keras
import numpy as np
import pytest

from real_images import Case, build_case

BN_CASE = Case("colour-bn", (24, 24, 3), 5, "0,255", "logits", images=600)
SHORT = ["train.luring.steps=40", "train.luring.eval_every=20", "train.luring.batch_size=32",
         "train.luring.lr=[0.001]", "train.luring.lr_boundaries=[]", "train.luring.restarts=0",
         "train.luring.identity_warmup_steps=60", "train.luring.dropout=0.0"]


def bn_component(input_shape):
    """A small P with BatchNormalization after every convolution (as Tables 6, 7 and 15 have), [0,1] -> [0,1]."""
    layers = keras.layers
    return keras.Sequential([keras.Input(input_shape),
                             layers.Conv2D(16, 3, padding="same"), layers.BatchNormalization(), layers.ReLU(),
                             layers.Conv2D(16, 3, padding="same"), layers.BatchNormalization(), layers.ReLU(),
                             layers.Conv2D(input_shape[-1], 3, padding="same"), layers.BatchNormalization(),
                             layers.Activation("sigmoid")], name="P")


def dropout_component(input_shape):
    """:func:`bn_component` with a Dropout layer (as Table 6 has: ``train.luring.dropout`` 0.15 on svhn)."""
    p = bn_component(input_shape)
    return keras.Sequential([keras.Input(input_shape), *p.layers[:3], keras.layers.Dropout(0.15), *p.layers[3:]],
                            name="P")


@pytest.fixture(scope="module")
def bn_case(tmp_path_factory):
    return build_case(BN_CASE, tmp_path_factory.mktemp("bn_case"), epochs=8)


def _protect(info, overrides, component=bn_component):
    import luring_tf
    from luring_tf.data.folder import load_image_folder

    data = load_image_folder(info["folder"], BN_CASE.shape)
    model = keras.models.load_model(info["target"], compile=False)
    return luring_tf.protect(model, data, input_range=BN_CASE.input_range, component=component,
                             dataset="svhn", overrides=overrides)


def test_a_short_training_of_a_batch_norm_p_validates_what_it_trained(bn_case):
    """Failing-first (issue 22): with BatchNormalization in P and few steps, the training agreement was high and
    the validation / test agreement at chance -- P was validated with stale moving statistics. Now the
    moving statistics are recalibrated before every evaluation: validation and test agree with training."""
    assert bn_case["train_accuracy_M"] > 0.85  # M is a real classifier of these images
    record = _protect(bn_case, SHORT).record
    assert record["test_agreement"]["value"] >= 0.85  # was ~0.2 (chance for 5 classes)
    curve = record["training"]["curve"]
    assert len(curve) == 2 and all({"train_agreement", "val_agreement", "step"} <= set(p) for p in curve)
    last = curve[-1]
    assert last["train_agreement"] > 0.85
    assert last["val_agreement"] > last["train_agreement"] - 0.1  # was: train 0.9+, validation ~0.2


def test_the_same_command_twice_gives_the_same_p_and_record(bn_case, tmp_path):
    """Failing-first (issue 26): the same protection twice on a real-image folder -> identical P weights and record.
    P's Dropout drew its masks from a seed taken, when P was built, from Python's unseeded global state."""
    runs = [_protect(bn_case, SHORT + ["train.luring.steps=20"], dropout_component) for _ in range(2)]
    for a, b in zip(runs[0].component.get_weights(), runs[1].component.get_weights()):
        np.testing.assert_array_equal(a, b)
    first, second = (dict(run.record, training=dict(run.record["training"], seconds=None)) for run in runs)
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


TINY_CASE = Case("tiny grey non-square", (20, 16, 1), 2, "0,1", "softmax", images=500)


@pytest.fixture(scope="module")
def tiny_case(tmp_path_factory):
    return build_case(TINY_CASE, tmp_path_factory.mktemp("tiny_case"), epochs=8)


def test_user_model_defaults_protect_a_real_grey_model_and_set_wins(tiny_case):
    """--target-model without --dataset: the user-model defaults (Table 5 for small grey images, identity warm-up) apply below
    --set; the held-out agreement is high, the record names the P chosen and why, progress shows both curves."""
    from conftest import run_script

    folder = tiny_case["target"].parent
    result = run_script("run_characterization.py", "--target-model", "mine.h5", "--data-dir", "pngs",
                        "--input-range", TINY_CASE.input_range, "--set", "train.luring.steps=300", cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "user-model defaults for 20x16x1 images, K=2" in result.stdout
    assert "luring: evaluation 3/3 (step 300): train agreement" in result.stdout and "validation agreement" in result.stdout
    record = json.loads((folder / "mine_luring.json").read_text())
    assert record["status"] == "ok" and "Table 5" in record["component_rule"]  # small grey: the paper's rule
    assert record["user_defaults"]["values"]["train.luring.steps"] == 800  # the default ...
    assert record["training"]["steps"] == 300 and record["training"]["identity_warmup_steps"] == 300  # --set won
    assert record["test_agreement"]["value"] >= 0.8 and record["test_agreement"]["denominator"] == 100  # 0.84 measured (Table 5)
    assert record["val_agreement"]["value"] >= 0.8 and [p["step"] for p in record["training"]["curve"]] == [100, 200, 300]


def test_a_useless_t_is_refused_in_one_line_under_failed_names(tiny_case, tmp_path):
    """No silent useless T: below the floor (judged on validation images) the run ends non-zero with one line,
    the files get failed names and the record keeps the train / validation curve."""
    from conftest import assert_one_line_error, run_script

    folder = tmp_path / "refused"
    folder.mkdir()
    (folder / "mine.h5").write_bytes(tiny_case["target"].read_bytes())
    result = run_script("run_characterization.py", "--target-model", "mine.h5", "--data-dir",
                        str(tiny_case["folder"]), "--set", "train.luring.steps=2", "--set",
                        "train.luring.eval_every=1", "--set", "train.luring.identity_warmup_steps=0", "--set",
                        "train.luring.restarts=0", "--set", "train.luring.min_agreement=1.0", cwd=folder)
    assert_one_line_error(result, "validation images", "min_agreement=1", "steps", "warm-up", "--component",
                          "mine_luring_T.failed.h5")
    assert result.returncode != 0
    assert not (folder / "mine_luring_T.h5").exists() and not (folder / "mine_luring.json").exists()
    assert (folder / "mine_luring_T.failed.h5").is_file() and (folder / "mine_luring_P.failed.h5").is_file()
    record = json.loads((folder / "mine_luring.failed.json").read_text())
    assert record["status"] == "failed" and record["refusal"].startswith("the protected model T agrees")
    assert [p["step"] for p in record["training"]["curve"]] == [1, 2]
    assert {"train_agreement", "val_agreement"} <= set(record["training"]["curve"][-1])
    assert record["val_agreement"]["value"] < 1.0 and "test_agreement" in record


def test_user_model_defaults_sit_between_the_profile_and_set():
    """profile < user-model defaults < --set; with --dataset (a paper profile) the defaults do not apply."""
    from luring_tf.api import resolve_config

    config = resolve_config((40, 40, 3), None, classes=5, overrides=["train.luring.steps=7"])
    luring = config["train"]["luring"]
    assert luring["steps"] == 7 and luring["component"] == "compact" and luring["identity_warmup_steps"] == 300
    assert config["user_defaults"]["values"]["train.luring.steps"] == 800 and "compact P" in config["user_defaults"]["reason"]
    assert resolve_config((96, 72, 3), None, classes=2)["train"]["luring"]["steps"] == 500  # large
    grey = resolve_config((20, 16, 1), None, classes=2)  # small grey: Table 5 by the paper's rule, cheaper and luring
    assert grey["train"]["luring"]["component"] is None and "Table 5" in grey["user_defaults"]["reason"]
    assert resolve_config((80, 80, 1), None, classes=5)["train"]["luring"]["component"] == "compact"  # large grey
    assert resolve_config((48, 20, 1), None, classes=43)["train"]["luring"]["component"] == "compact"  # K > 10
    assert resolve_config((32, 48, 3), None, classes=43)["train"]["luring"]["lr"] == [0.0005]  # K > 10
    paper = resolve_config((40, 40, 3), "svhn", classes=5)
    assert paper["train"]["luring"]["component"] is None and paper["train"]["luring"]["steps"] == 100
    assert "user_defaults" not in paper


def test_recalibrated_moving_statistics_are_the_mean_batch_statistics():
    """batch_norm.recalibrate: moving mean / variance := the average of the batches' statistics, Dropout off,
    trainable weights unchanged; a model without BatchNormalization is not run at all."""
    from luring_tf.training import batch_norm

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Dropout(0.5), keras.layers.BatchNormalization()])
    x = np.random.default_rng(0).normal(3.0, 2.0, (64, 4, 4, 2)).astype(np.float32)
    assert batch_norm.recalibrate(model, x, 16) == 1
    norm = model.layers[-1]
    batches = x.reshape(4, 16, 4, 4, 2)
    np.testing.assert_allclose(norm.moving_mean.numpy(), batches.mean(axis=(1, 2, 3)).mean(0), rtol=1e-5)
    np.testing.assert_allclose(norm.moving_variance.numpy(), batches.var(axis=(1, 2, 3)).mean(0), rtol=1e-4)
    assert norm.momentum == 0.99 and model.layers[0].rate == 0.5  # put back
    np.testing.assert_array_equal(norm.gamma.numpy(), np.ones(2, np.float32))
    plain = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Conv2D(2, 1)])
    assert batch_norm.recalibrate(plain, x, 16) == 0
