"""Training: same seed same weights, M untouched in classifier_training, divergence stops the run,
trained models checked against the paper and chance. Tiny models and data: seconds each."""

import json
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import h5py
import keras
import numpy as np
import pytest

from conftest import run_script
from luring_tf.training import trainers
from luring_tf.training import paper_models
from luring_tf.errors import UserError
from luring_tf.storage.models_io import model_input
from official_files import write_mnist

SHAPE = (8, 8, 1)


def _data(n_train=96, n_val=32, n_test=40, seed=0):
    rng = np.random.default_rng(seed)

    def split(n):
        y = np.arange(n) % 3
        x = rng.random((n, *SHAPE)).astype("float32") * 0.3
        x[np.arange(n), y * 2, :, 0] = 1.0  # the class is the bright row: learnable in a few steps
        return x, y

    (xt, yt), (xv, yv), (xs, ys) = split(n_train), split(n_val), split(n_test)
    return SimpleNamespace(x_train=xt, y_train=yt, x_val=xv, y_val=yv, x_test=xs, y_test=ys)


def _classifier(batch_norm=False, dropout=0.0, name="M"):
    layers = [keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(16, use_bias=not batch_norm)]
    if batch_norm:
        layers.append(keras.layers.BatchNormalization())
    layers += [keras.layers.ReLU()] + ([keras.layers.Dropout(dropout)] if dropout else [])
    layers += [keras.layers.Dense(3, name="logits"), keras.layers.Activation("softmax", name="softmax")]
    return keras.Sequential(layers, name=name)


def _component(name="P"):
    return keras.Sequential([keras.Input(SHAPE), keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
                             keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")], name=name)


CFG = {"steps": 12, "batch_size": 16, "lr": [0.01], "lr_boundaries": [], "eval_every": 4, "restarts": 0,
       "identity_warmup_steps": 3}


# -- classifier_training (issue 9, defect 6) --------------------------------------------------------

def test_classifier_training_runs_m_on_batch_statistics_without_changing_the_callers_m():
    keras.utils.set_random_seed(0)
    m, p = _classifier(batch_norm=True), _component()
    bn = next(layer for layer in m.layers if isinstance(layer, keras.layers.BatchNormalization))
    bn.moving_mean.assign(np.full(16, 5.0, "float32"))  # far from any batch mean: modes are told apart
    before = [w.copy() for w in m.get_weights()]
    trainer = trainers.ComponentTrainer(p, m, "luring", classifier_training=True)
    x = _data().x_train[:16]
    train_z, infer_z = np.asarray(trainer(x, training=True)), np.asarray(trainer(x, training=False))
    assert not np.allclose(train_z, infer_z, atol=1e-3)  # batch statistics while P trains
    with_batch_stats = keras.Model(model_input(m), m.get_layer("logits").output)
    reference = _classifier(batch_norm=True)
    reference.set_weights(m.get_weights())
    ref_logits = keras.Model(model_input(reference), reference.get_layer("logits").output)
    assert np.allclose(train_z, np.asarray(ref_logits(p(x), training=True)), atol=1e-4)
    assert np.allclose(infer_z, np.asarray(with_batch_stats(p(x), training=False)), atol=1e-4)
    trainer.compile(optimizer=keras.optimizers.Adam(0.01))
    m_logits = trainers.classifier_logits(m, x)
    trainer.fit(x, m_logits, batch_size=8, epochs=2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, m.get_weights()))  # moving averages untouched
    assert m.trainable and all(layer.trainable for layer in m.layers)  # and never frozen as a side effect


def test_classifier_training_false_keeps_m_in_inference_mode():
    keras.utils.set_random_seed(0)
    m, p = _classifier(batch_norm=True, dropout=0.5), _component()
    trainer = trainers.ComponentTrainer(p, m, "ce")
    x = _data().x_train[:16]
    logits = keras.Model(model_input(m), m.get_layer("logits").output)
    assert np.allclose(np.asarray(trainer(x, training=True)), np.asarray(logits(p(x), training=False)), atol=1e-5)


# -- reproducibility (defect 5) --------------------------------------------------------------------

def test_stateless_augmentation_depends_on_the_seed_only():
    augment = trainers.augmentation({"rotation_deg": 10, "shift_px": 2})
    x = _data().x_train[:8]
    a, b = np.asarray(augment.apply(x, [3, 1])), np.asarray(augment.apply(x, [3, 1]))
    assert np.array_equal(a, b) and not np.allclose(a, x)
    assert not np.allclose(a, np.asarray(augment.apply(x, [3, 2])))
    assert np.allclose(np.asarray(augment(x, training=False)), x)  # validation / test images never move
    zero = trainers.augmentation({"rotation_deg": 0, "shift_px": 0})
    assert np.allclose(np.asarray(zero.apply(x, [0, 0])), x, atol=1e-6)  # no motion = the identity


def _weights(model):
    return [np.asarray(w) for w in model.get_weights()]


def test_same_seed_same_weights_whatever_ran_before_in_the_process():
    data = _data()
    cfg = {"epochs": 2, "batch_size": 16, "lr": [0.01], "lr_boundaries": []}
    augment = trainers.augmentation({"rotation_deg": 8, "shift_px": 1})
    runs = []
    for noise in (0, 5):
        np.random.seed(noise), keras.utils.set_random_seed(noise)  # unrelated work before: must not matter
        keras.random.uniform((noise + 1,))
        m, _ = trainers.train_classifier(_classifier, data, cfg, augment=augment, seed=7)
        p = _component()  # built from whatever state the process is in
        trainers.train_component(p, m, data, dict(CFG, augment=True), "luring", augment, seed=7)
        auto = _component()
        trainers.train_autoencoder(auto, data, {"epochs": 1, "batch_size": 16, "lr": [0.01]}, seed=7)
        runs.append(_weights(m) + _weights(p) + _weights(auto))
    assert all(np.array_equal(a, b) for a, b in zip(*runs))


def _h5_weights(path):
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: arrays.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return arrays


def test_same_command_and_seed_give_identical_models_and_results(tmp_path):
    """Two runs of one tiny end-to-end quick configuration, augmentation on: same JSON, same weights."""
    write_mnist(tmp_path / "data", n_train=160, n_test=40, pattern=True)
    tiny = ["--dataset", "mnist", "--data-dir", str(tmp_path / "data"), "--seed", "7", "--quiet",
            "--approaches", "luring", "--attacks", "fgsm", "--eps", "0.3", "--n-examples", "5",
            "--set", "train.base.epochs=2", "--set", "train.base.lr=[0.003]",
            "--set", "train.base.augment={rotation_deg: 8, shift_px: 2}",
            "--set", "train.luring.steps=20", "--set", "train.luring.eval_every=10",
            "--set", "train.luring.identity_warmup_steps=30", "--set", "train.luring.lr_boundaries=[]",
            "--set", "train.luring.lr=[0.002]", "--set", "train.luring.augment=true",
            "--set", "train.luring.restarts=0"]
    def one(run):
        (tmp_path / run).mkdir()
        return run_script("run_characterization.py", *tiny, "--models-dir", "models", "--out", "out",
                          cwd=tmp_path / run)

    results = []
    with ThreadPoolExecutor(max_workers=2) as pool:  # the two runs side by side, one core each
        for run, result in zip(("one", "two"), pool.map(one, ("one", "two"))):
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
            results.append(json.loads((tmp_path / run / "out" / "characterization.json").read_text()))
    assert results[0]["table8"] == results[1]["table8"]
    assert json.dumps(results[0], sort_keys=True) == json.dumps(results[1], sort_keys=True)
    names = sorted(p.name for p in (tmp_path / "one" / "models").glob("*.h5"))
    assert names == ["M.h5", "luring_P.h5", "luring_T.h5"]
    for name in names:
        one, two = _h5_weights(tmp_path / "one" / "models" / name), _h5_weights(tmp_path / "two" / "models" / name)
        assert one.keys() == two.keys() and all(np.array_equal(one[k], two[k]) for k in one), name


# -- non-finite training (issue 10, defect 1) -------------------------------------------------------

def _poisoned(model):
    weights = model.get_weights()
    weights[0] = np.full_like(weights[0], np.nan)
    model.set_weights(weights)
    return model


def _assert_non_finite(excinfo, *fragments):
    message = str(excinfo.value)
    assert "\n" not in message and "non-finite" in message and "lr" in message
    for fragment in fragments:
        assert fragment in message, message


def test_non_finite_training_stops_with_a_one_line_error_naming_the_model(monkeypatch):
    data = _data()
    with pytest.raises(UserError) as excinfo:
        trainers.train_classifier(lambda: _poisoned(_classifier()), data,
                                  {"epochs": 2, "batch_size": 16, "lr": [0.01]}, name="stack T", section="stack")
    _assert_non_finite(excinfo, "stack T", "train.stack.lr")
    m = _classifier()
    for cfg, fragment in ((dict(CFG, identity_warmup_steps=0), "luring P"), (CFG, "identity warm-up")):
        monkeypatch.setattr(trainers, "reinitialise", _poisoned)  # P starts with NaN weights
        with pytest.raises(UserError) as excinfo:
            trainers.train_component(_component(), m, data, cfg, "luring")
        _assert_non_finite(excinfo, fragment)
    with pytest.raises(UserError) as excinfo:
        trainers.train_autoencoder(_component(), data, {"epochs": 1, "batch_size": 16, "lr": [0.01]})
    _assert_non_finite(excinfo, "auto P")


def test_a_diverging_first_lr_falls_back_before_giving_up():
    data = _data()
    calls = []

    def build():
        calls.append(1)
        return _poisoned(_classifier()) if len(calls) == 1 else _classifier()

    model, summary = trainers.train_classifier(build, data, {"epochs": 1, "batch_size": 16, "lr": [0.01],
                                                             "lr_fallback": [0.003], "fallback_below": 0.99})
    assert len(calls) == 2 and summary["lr"] == [0.003]
    assert all(np.isfinite(w).all() for w in model.get_weights())


# -- checks of trained models (defect 7) -----------------------------------------------------------

def test_zoo_warns_and_records_an_m_under_the_paper_and_a_t_at_chance(tmp_path, monkeypatch, capsys):
    import architectures

    monkeypatch.setattr(architectures, "build_classifier", lambda dataset, name="M": _classifier(name=name))
    monkeypatch.setattr(architectures, "build_luring_component", lambda dataset, dropout=0.0: _component())
    data = _data()
    good = {"dataset": "mnist", "seed": 0, "train": {"base": {"epochs": 3, "batch_size": 16, "lr": [0.01]}}}
    paper_models.obtain_models(data, good, tmp_path / "good", [])
    assert not json.loads((tmp_path / "good" / "training.json").read_text())["M"]["below_paper"]
    assert "WARNING" not in capsys.readouterr().out
    config = {"dataset": "mnist", "seed": 0, "train": {
        "base": {"epochs": 1, "batch_size": 16, "lr": [1e-12], "lr_boundaries": []},  # learns nothing
        "stack": {"epochs": 1, "batch_size": 16, "lr": [1e-12], "lr_boundaries": []},  # learns nothing
        "luring": dict(CFG, steps=24, lr=[0.01])}}
    models = paper_models.obtain_models(data, config, tmp_path, ["stack", "luring"])
    log = capsys.readouterr().out
    record = json.loads((tmp_path / "training.json").read_text())
    m_accuracy = record["M"]["test_accuracy"]
    assert record["M"]["paper_test_accuracy"] == 0.991 and m_accuracy < 0.97 and record["M"]["below_paper"]
    assert "WARNING: M's test accuracy" in log and "0.991" in log
    assert record["stack"]["at_chance"] and "WARNING: stack T" in log and "chance" in log
    predicted = np.argmax(models["luring"].predict(data.x_test, verbose=0), axis=1)
    assert record["luring"]["test_accuracy"] == pytest.approx(np.mean(predicted == data.y_test), abs=1e-4)
    assert record["luring"]["at_chance"] == (record["luring"]["test_accuracy"] <= 1 / 3 + 0.05)


def test_ce_and_luring_share_one_identity_warm_up(monkeypatch):
    data, m = _data(), _classifier()
    calls = []
    original = trainers.identity_warmup
    monkeypatch.setattr(trainers, "identity_warmup", lambda *a, **k: (calls.append(1), original(*a, **k)))
    for objective in ("ce", "luring", "ce"):
        trainers.train_component(_component(), m, data, dict(CFG, steps=4, eval_every=4), objective, seed=3)
    assert len(calls) == 1  # the warm-up ran once; the other two reused its weights
    other = _component()
    trainers.train_component(other, m, data, dict(CFG, steps=4, eval_every=4), "luring", seed=4)
    assert len(calls) == 2  # another seed is another warm-up
