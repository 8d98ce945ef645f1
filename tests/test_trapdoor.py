"""Trapdoored public model (Table 20): triggers, training, the signature detector, and run_defense.py --public trapdoor."""

import importlib.util
import json
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import ROOT, run_script
from official_files import write_mnist

TRAP_CFG = {"init": "scratch", "epochs": 3, "batch_size": 16, "lr": [0.01], "lr_boundaries": [],
            "inject_ratio": 0.5, "clean_margin": 1.0}


def _tiny_classifier(shape, seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(32, activation="relu"),
                             keras.layers.Dense(10, name="logits"), keras.layers.Activation("softmax")], name="M")


def _smooth_images(n, shape, seed):
    """Generated images and labels: a grey level per image (its label: level in tenths) plus faint noise, in [0, 1]."""
    rng = np.random.default_rng(seed)
    level = rng.uniform(0.0, 1.0, (n, 1, 1, 1))
    x = np.clip(level + rng.normal(0, 0.02, (n, *shape)), 0, 1).astype(np.float32)
    return x, np.minimum((level.reshape(-1) * 10).astype(np.int64), 9)


def test_triggers_are_seeded_blends_inside_squares():
    from luring_tf.defenses.trapdoor import make_triggers

    a = make_triggers((12, 12, 3), 10, squares=5, square_size=3, mask_ratio=0.1, seed=4)
    b = make_triggers((12, 12, 3), 10, squares=5, square_size=3, mask_ratio=0.1, seed=4)
    assert np.array_equal(a.masks, b.masks) and np.array_equal(a.patterns, b.patterns)
    assert a.masks.shape == (10, 12, 12, 1) and a.patterns.shape == (10, 12, 12, 3)
    assert set(np.unique(a.masks)) <= {0.0, np.float32(0.1)} and 9 <= (a.masks[0] > 0).sum() <= 45
    assert np.array_equal(a.patterns[..., 0], a.patterns[..., 2])  # grey on RGB
    x = np.random.default_rng(0).uniform(size=(10, 12, 12, 3)).astype(np.float32)
    stamped = a.stamp(x, np.arange(10)).numpy()
    outside = np.broadcast_to(a.masks == 0, x.shape)
    assert np.array_equal(stamped[outside], x[outside])  # only the squares change
    assert np.max(np.abs(stamped - x)) <= 0.1 + 1e-6  # an alpha blend at opacity mask_ratio


def test_trapdoored_model_answers_the_trigger_label_and_the_detector_flags_triggered_inputs():
    from luring_tf.defenses.signature_detector import fit_detector
    from luring_tf.defenses.trapdoor import make_triggers, train_trapdoored, trapdoor_accuracy

    shape = (8, 8, 1)
    (x_train, y_train), (x_val, y_val) = _smooth_images(1200, shape, 1), _smooth_images(300, shape, 2)
    data = SimpleNamespace(x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val)
    # opacity 0.5 (the paper's code: 0.1) so that a tiny dense model learns the triggers in seconds
    triggers = make_triggers(shape, 10, squares=3, square_size=3, mask_ratio=0.5, seed=0)
    model, summary = train_trapdoored(_tiny_classifier(shape), data, triggers, TRAP_CFG, seed=0, deterministic=False)
    held_out, _ = _smooth_images(500, shape, 3)
    accuracy = trapdoor_accuracy(model, triggers, held_out, seed=5)
    assert accuracy > 0.6, (accuracy, summary)  # chance is 0.1
    assert summary["selected"]["val_trapdoor_accuracy"] == max(e["val_trapdoor_accuracy"] for e in summary["epochs"])
    detector = fit_detector(model, triggers, data.x_train[:300], data.x_val, fpr=0.05)
    targets = np.arange(500) % 10
    flagged = detector.flag(model, triggers.stamp(held_out, targets).numpy(), labels=targets)
    assert flagged.mean() > 0.5  # triggered inputs match their label's signature


def test_signature_threshold_gives_its_false_positive_rate_on_held_out_clean_inputs():
    from luring_tf.defenses.signature_detector import cosine, fit_detector
    from luring_tf.defenses.trapdoor import make_triggers

    assert cosine(np.zeros((1, 4)), np.ones((1, 4)))[0] == 0.5  # as sklearn scores an all-zero vector
    assert np.allclose(cosine(np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([[2.0, 0.0], [-1.0, -1.0]])), [1.0, -1.0])
    shape = (8, 8, 1)
    model = _tiny_classifier(shape, seed=3)
    rng = np.random.default_rng(7)
    fit_clean, held_out = (rng.uniform(size=(n, *shape)).astype(np.float32) for n in (3000, 3000))
    triggers = make_triggers(shape, 10, squares=3, square_size=3, mask_ratio=0.1, seed=1)
    for fpr in (0.05, 0.2):
        detector = fit_detector(model, triggers, fit_clean[:200], fit_clean, fpr=fpr)
        rate = detector.flag(model, held_out).mean()
        sigma = np.sqrt(fpr * (1 - fpr) * (1 / 3000 + 1 / 3000))  # threshold estimate + held-out sampling
        assert abs(rate - fpr) < 4 * sigma, (fpr, rate)


TINY = ["--set", "defense.attacks.mim.nb_iter=2", "--set", "defense.attacks.dim.nb_iter=2",
        "--set", "defense.attacks.dim.p=[1.0]", "--set", "defense.attacks.mim_ti.nb_iter=2",
        "--set", "defense.attacks.mim_ti.kernel_size=[3]", "--set", "defense.attacks.dim_ti.nb_iter=2",
        "--set", "defense.attacks.dim_ti.kernel_size=[3]", "--set", "train.trapdoor.epochs=2",
        "--set", "train.trapdoor.batch_size=32", "--set", "train.trapdoor.signature_images=null",
        "--n-examples", "6", "--eps", "0.3", "--quiet"]


def test_table20_end_to_end_trains_once_and_reruns_from_stored_results(tmp_path, capsys):
    import keras

    from luring_tf.storage.models_io import save_model

    x_train, y_train, _, _ = write_mnist(tmp_path / "data", n_train=200, n_test=40, pattern=True)
    m = _tiny_classifier((28, 28, 1))
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(x_train[..., None].astype("float32") / 255, y_train, epochs=30, batch_size=50, verbose=0)
    save_model(m, tmp_path / "models" / "M.h5")
    args = ["--attack", "mim-w", "--public", "trapdoor", "--data-dir", str(tmp_path / "data"),
            "--models-dir", str(tmp_path / "models"), "--out", str(tmp_path / "out"), *TINY]
    result = run_script("run_defense.py", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "trapdoor_mim-w.json").read_text())
    (row,) = summary["table"]
    assert row["approach"] == "trapdoor" and row["n"] == 6 and row["runs"] == 5  # fgsm, mim, dim, mim_ti, dim_ti
    cells = summary["cells"]
    assert {c["attack"] for c in cells} == {"fgsm", "mim", "dim", "mim-ti", "dim-ti"}
    for metric in ("AC_M", "DAC", "DAC_signature"):  # the adversary's best run per metric
        assert row[metric]["value"] == min(c[metric]["value"] for c in cells)
        assert row["argmin"][metric]["attack"] in {c["attack"] for c in cells}
    assert row["paper"] == {"AC_MoP": 0.0, "AC_M": 0.54, "DAC": 0.94}
    assert summary["detector"]["clean_test_fpr"]["denominator"] == 40
    trapdoor_dir = tmp_path / "models" / "trapdoor"
    plain = keras.models.load_model(trapdoor_dir / "trapdoored.h5")  # plain Keras, no luring_tf needed
    assert plain.predict(np.zeros((2, 28, 28, 1), np.float32), verbose=0).shape == (2, 10)
    assert {p.name for p in trapdoor_dir.iterdir() if not p.name.startswith(".")} >= {
        "trapdoored.h5", "triggers.npz", "detector.npz", "training.json"}
    assert "Table 20" in (tmp_path / "out" / "trapdoor_mim-w.md").read_text()
    stamp = (trapdoor_dir / "trapdoored.h5").stat().st_mtime_ns
    spec = importlib.util.spec_from_file_location("run_defense", ROOT / "run_defense.py")
    run_defense = importlib.util.module_from_spec(spec)  # the rerun in this process: TensorFlow is loaded already
    spec.loader.exec_module(run_defense)
    assert run_defense.main(args) == 0
    again = capsys.readouterr().out
    assert "0 computed, 5 reused" in again and "training the trapdoored model" not in again
    assert (trapdoor_dir / "trapdoored.h5").stat().st_mtime_ns == stamp
    assert json.loads((tmp_path / "out" / "trapdoor_mim-w.json").read_text())["table"] == summary["table"]
