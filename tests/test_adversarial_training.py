"""Adversarial training of M (App. H.2) and Tables 18-19: the inner PGD, the saved M, the --base flag, end to end."""

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import assert_one_line_error, run_script
from official_files import write_mnist
from tiny_models import write_tiny_models


def _tiny_classifier(shape=(8, 8, 1)):
    import keras

    return keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dense(10, name="logits"), keras.layers.Activation("softmax")], name="M")


def _mean_loss(model, x, y):
    import keras

    return float(np.mean(keras.losses.sparse_categorical_crossentropy(y, model(x))))


@pytest.mark.parametrize("eps,nb_iter", [(0.1, 5), (0.3, 3)])
def test_inner_pgd_stays_in_the_ball_and_box_and_raises_the_loss(eps, nb_iter):
    import keras

    from luring_tf.defenses.adversarial_training import AdversarialTrainer

    keras.utils.set_random_seed(0)
    model = _tiny_classifier()
    x = np.random.default_rng(0).uniform(0, 1, (64, 8, 8, 1)).astype("float32")
    x[:8] = 0.0  # images at the box's edge: clipping must hold
    y = np.arange(64) % 10
    trainer = AdversarialTrainer(model, eps=eps, eps_iter=eps / 3, nb_iter=nb_iter, seed=1)
    x_adv = trainer.perturb(x, y).numpy()
    assert np.abs(x_adv - x).max() <= eps + 1e-6
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert np.abs(x_adv - x).max() > 0.5 * eps
    clean, adv = _mean_loss(model, x, y), _mean_loss(model, x_adv, y)
    start_only = _mean_loss(model, AdversarialTrainer(model, eps, eps / 3, 1, seed=1).perturb(x, y).numpy(), y)
    assert adv > clean and adv > start_only - 1e-6
    np.testing.assert_array_equal(trainer.perturb(x, y).numpy(), x_adv)  # same seed and step, same batch
    assert not np.array_equal(trainer.perturb(x, y, step=1).numpy(), x_adv)  # another step, another start
    assert np.array_equal(AdversarialTrainer(model, 0.0, 0.01, 2).perturb(x, y).numpy(), x)  # eps = 0: identity


def test_eps_warm_up_scales_the_ball_then_holds_it():
    from luring_tf.defenses.adversarial_training import AdversarialTrainer

    model = _tiny_classifier()
    x = np.random.default_rng(1).uniform(0.3, 0.7, (32, 8, 8, 1)).astype("float32")
    y = np.arange(32) % 10
    trainer = AdversarialTrainer(model, eps=0.2, eps_iter=0.1, nb_iter=3, warmup_steps=4)
    assert [round(float(trainer.scale(step)), 3) for step in (0, 1, 3, 10)] == [0.25, 0.5, 1.0, 1.0]
    assert np.abs(trainer.perturb(x, y, step=0).numpy() - x).max() <= 0.05 + 1e-6
    assert np.abs(trainer.perturb(x, y, step=9).numpy() - x).max() > 0.15


def test_advtrain_saves_a_plain_keras_m_trained_on_adversarial_batches(tmp_path):
    import keras
    import tensorflow as tf

    from luring_tf.defenses.adversarial_training import AdversarialTrainer, adversarial_wrap
    from luring_tf.storage.models_io import save_model
    from luring_tf.training.trainers import train_classifier

    rng = np.random.default_rng(0)
    y = np.arange(120) % 10
    x = (rng.uniform(0, 0.2, (120, 8, 8, 1)) + (np.arange(8)[None, :, None, None] == (y % 8)[:, None, None, None]) * 0.7
         ).astype("float32")
    data = SimpleNamespace(x_train=x[:100], y_train=y[:100], x_val=x[100:], y_val=y[100:])
    cfg = {"epochs": 2, "batch_size": 25, "lr": [0.01], "lr_boundaries": [], "eps": 0.1, "eps_iter": 0.05,
           "nb_iter": 2}
    seen = []

    def wrap(model):
        trainer = adversarial_wrap(cfg, seed=0)(model)
        seen.append(trainer)
        return trainer

    model, summary = train_classifier(_tiny_classifier, data, cfg, seed=0, wrap=wrap, deterministic=False)
    trainer = seen[0]
    assert isinstance(trainer, AdversarialTrainer) and trainer.classifier is model
    assert int(trainer.optimizer.iterations.numpy()) == 8 and summary["best_epoch"] is not None
    # compiled: the step (PGD loop included) is one graph, the loop a While op in it
    graph = tf.function(lambda a, b: trainer.perturb(a, b)).get_concrete_function(
        tf.TensorSpec([None, 8, 8, 1]), tf.TensorSpec([None], tf.int64)).graph
    assert any(op.type in ("While", "StatelessWhile") for op in graph.get_operations())
    path = save_model(model, tmp_path / "M.h5")
    code = ("import sys, numpy as np, keras; m = keras.models.load_model(sys.argv[1], compile=False); "
            "assert 'luring_tf' not in sys.modules; print(m.output_shape[-1], m.count_params())")
    result = subprocess.run([sys.executable, "-c", code, str(path)], cwd=tmp_path, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-2:] == ["10", str(model.count_params())]
    loaded = keras.models.load_model(path, compile=False)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_inner_pgd_of_a_fused_softmax_m_attacks_m_as_trained_not_its_initial_last_layer():
    """issue 27 #3: for M ending in ``Dense(10, activation='softmax')`` the inner PGD's logits follow M's training:
    after training (real digits) they are log M(x) up to a constant per row, and the PGD batches are those of a
    view made afresh from the trained M."""
    import keras
    import tensorflow as tf

    from real_digits import split_digits as digits
    from luring_tf.defenses.adversarial_training import AdversarialTrainer, adversarial_wrap, pgd_linf
    from luring_tf.storage.models_io import logits_view
    from luring_tf.training.trainers import train_classifier

    def fused():
        return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                 keras.layers.Dense(32, activation="relu"),
                                 keras.layers.Dense(10, activation="softmax")], name="M")

    x, y = digits(250)
    data = SimpleNamespace(x_train=x[:200], y_train=y[:200], x_val=x[200:], y_val=y[200:])
    cfg = {"epochs": 5, "batch_size": 50, "lr": [0.01], "lr_boundaries": [], "eps": 0.1, "eps_iter": 0.05,
           "nb_iter": 2}
    seen = []

    def wrap(model):
        seen.append(adversarial_wrap(cfg, seed=0)(model))
        return seen[-1]

    model, _ = train_classifier(fused, data, cfg, seed=0, wrap=wrap, deterministic=False)
    trainer = seen[0]
    assert isinstance(trainer, AdversarialTrainer) and trainer.classifier is model
    x_test, y_test = digits(64, "test")
    view = np.asarray(trainer._logits(x_test), np.float64)
    log_m = np.log(np.asarray(model(x_test, training=False), np.float64))
    top = view - view.max(1, keepdims=True)
    shifted = top - np.log(np.exp(top).sum(1, keepdims=True))  # log-softmax of the view
    deviation = float(np.abs(shifted - log_m).max())
    print(f"fused-softmax M after adversarial training: inner-PGD logits deviate from log M(x) by {deviation:.3g}")
    assert deviation < 1e-3
    fresh = logits_view(model)
    seed = tf.constant([0, 7], tf.int64)
    np.testing.assert_array_equal(
        trainer.perturb(x_test, y_test, step=7).numpy(),
        pgd_linf(lambda t: fresh(t, training=False), x_test, y_test, 0.1, 0.05, 2, seed).numpy())


@pytest.mark.parametrize("script", ["run_characterization.py", "run_defense.py"])
def test_unknown_base_is_a_one_line_error(script, tmp_path):
    result = run_script(script, "--base", "foo", cwd=tmp_path)
    assert_one_line_error(result, "unknown --base 'foo'", "advtrain")


def test_bad_advtrain_value_is_a_one_line_error(tmp_path):
    result = run_script("run_characterization.py", "--base", "advtrain", "--set", "train.advtrain.eps=2", cwd=tmp_path)
    assert_one_line_error(result, "train.advtrain.eps=2", "[0, 1]")


TINY_TRAIN = ["--set", "train.advtrain.epochs=2", "--set", "train.advtrain.batch_size=50",
              "--set", "train.advtrain.lr=[0.003]", "--set", "train.advtrain.eps=0.1", "--set", "train.advtrain.nb_iter=1",
              "--set", "train.luring.steps=10", "--set", "train.luring.eval_every=10", "--set", "train.luring.lr=[0.002]",
              "--set", "train.luring.lr_boundaries=[]", "--set", "train.luring.identity_warmup_steps=30",
              "--set", "train.luring.restarts=0"]
TINY_DEFENSE = ["--set", "defense.attacks.mim.nb_iter=2", "--set", "defense.attacks.dim.nb_iter=2",
                "--set", "defense.attacks.dim.p=[1.0]", "--set", "defense.attacks.mim_ti.nb_iter=2",
                "--set", "defense.attacks.mim_ti.kernel_size=[3]", "--set", "defense.attacks.dim_ti.nb_iter=2",
                "--set", "defense.attacks.dim_ti.kernel_size=[3]", "--set", "defense.white_box.nb_iter=3"]


def test_advtrain_end_to_end_writes_tables_18_and_19(tmp_path):
    """Standard models made by hand, then --base advtrain through both scripts; re-rendering recomputes nothing."""
    from luring_tf.report.advtrain import render

    x_train, y_train, _, _ = write_mnist(tmp_path / "data", n_train=120, n_test=30, pattern=True)
    models = tmp_path / "models"
    write_tiny_models(models, x_train, y_train)
    common = ["--data-dir", str(tmp_path / "data"), "--models-dir", str(models), "--base", "advtrain",
              "--n-examples", "5", "--quiet", *TINY_TRAIN]

    char = run_script("run_characterization.py", *common, "--attacks", "fgsm", "--out", str(tmp_path / "char"),
                      cwd=tmp_path)
    assert char.returncode == 0, char.stdout[-3000:] + char.stderr[-3000:]
    for name in ("M.h5", "luring_P.h5", "luring_T.h5"):
        assert (models / "advtrain" / name).is_file()
    table18 = json.loads((tmp_path / "char" / "table18.json").read_text())["table18"]
    assert list(table18) == ["base", "base_luring", "advtrain", "advtrain_luring"]
    assert table18["advtrain_luring"]["agreement_on_truth"]["denominator"] == 30
    assert "AdvTrain-Luring" in (tmp_path / "char" / "table18.md").read_text()

    out = tmp_path / "defense"
    defense = run_script("run_defense.py", *common, *TINY_DEFENSE, "--attack", "mim-w", "--out", str(out),
                         cwd=tmp_path)
    assert defense.returncode == 0, defense.stdout[-3000:] + defense.stderr[-3000:]
    record = json.loads((out / "tables_18_19.json").read_text())
    assert record["eps"] == [0.1]  # Table 19's eps: the adversarial training's
    rows = {row["base"]: row for row in record["table19"]}
    assert set(rows) == {"base", "advtrain"}
    for row in rows.values():
        assert row["n"] == row["AC_M_wb"]["denominator"] == row["DAC"]["denominator"] <= 5
    # MIM-W with FGSM: fgsm + mim + dim + mim_ti + dim_ti cells per model, Base cells under <out>/base
    assert len(list((out / "base" / "cells" / "luring").glob("*.json"))) == 5
    assert len(list((out / "cells" / "luring").glob("*.json"))) == 5
    assert len(list((out / "cells" / "white_box").glob("pgd_*.json"))) == 1
    assert record["findings"][0]["holds"] in (True, False, None)
    table19 = (out / "table19.md").read_text()
    assert "AdvTrain-Luring" in table19 and "Base-Luring" in table19 and " / 0.98 |" not in table19  # eps 0.1: no paper value
    before = {path: path.stat().st_mtime_ns for path in out.rglob("*.json") if path.name != "tables_18_19.json"}
    assert render(out).startswith("# Table 18")
    assert (out / "table19.md").read_text() == table19
    assert {path: path.stat().st_mtime_ns for path in before} == before
