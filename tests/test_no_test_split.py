"""Selection only on validation (issue 23, item 1): no trainer or selection step reads the test split.

The data set is a :class:`Dataset` whose ``x_test`` / ``y_test`` raise while "sealed": every read of the test
split -- an array access, ``streams.stream(data, "test", ...)``, ``streams.images``, ``streams.size``,
``streams.content_key`` all go through those attributes -- fails during the whole training of the quick
profile's models (M, Stack, Auto, C-E, Luring: checkpoints, warm-up, restarts, learning-rate fallback and the
choice of the best epoch included) and during the user-model protection (``luring_tf.protect``). Only the
input checks made before anything runs (``images_check.check_data``: shapes, finite values, range;
``protect.check_labels``: the labels are classes of M) and the two
reports written *after* a model is final are let through, by name: the test accuracy checked against the
paper / chance (``paper_models._test_rate``) and the protection record's evaluation set
(``protect.unit_data``). Real MNIST digits (the shipped sample), the quick profile at tiny sizes; seconds.
"""

import contextlib
import json

import keras
import numpy as np
import pytest

from luring_tf.config.profiles import load_config
from luring_tf.data import streams
from luring_tf.data.dataset import Dataset
from luring_tf.data.load import load_dataset
from luring_tf.training import paper_models, protect, trainers

SEAL = {"sealed": 0, "reads": []}


class SplitSealed(AssertionError):
    """The test split was read while sealed (training or selection)."""


class SealedDataset(Dataset):
    """A Dataset whose test split raises :class:`SplitSealed` while ``SEAL["sealed"]``."""

    def __getattribute__(self, name):
        if name in ("x_test", "y_test") and SEAL["sealed"]:
            SEAL["reads"].append(name)
            raise SplitSealed(f"the test split ({name}) was read during training or selection")
        return super().__getattribute__(name)


@contextlib.contextmanager
def sealed(value: bool = True):
    before = SEAL["sealed"]
    SEAL["sealed"] = value
    try:
        yield
    finally:
        SEAL["sealed"] = before


def _unsealed(function):
    """``function`` run with the test split readable (a report on a final model)."""
    def report(*args, **kwargs):
        with sealed(False):
            return function(*args, **kwargs)
    return report


TRAINERS = ("train_classifier", "train_autoencoder", "train_component", "identity_warmup")


@pytest.fixture
def guarded(monkeypatch):
    """Sealed real-MNIST data (128 train, 64 val, 64 test digits); counts the trainer calls; reports unsealed."""
    SEAL["reads"].clear()
    calls = []
    for name in TRAINERS:
        real = getattr(trainers, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            assert SEAL["sealed"], f"{_name} ran outside the sealed section"
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(trainers, name, counted)
    monkeypatch.setattr(paper_models, "_test_rate", _unsealed(paper_models._test_rate))
    monkeypatch.setattr(protect, "unit_data", _unsealed(protect.unit_data))
    import luring_tf.api

    monkeypatch.setattr(luring_tf.api, "check_data", _unsealed(luring_tf.api.check_data))  # input check, no choice
    monkeypatch.setattr(protect, "check_labels", _unsealed(protect.check_labels))  # labels are M's classes: no choice
    sample = load_dataset("mnist", "sample")
    data = SealedDataset(name="mnist", x_train=sample.x_train[:128], y_train=sample.y_train[:128],
                         x_val=sample.x_val[:64], y_val=sample.y_val[:64], x_test=sample.x_test[:64],
                         y_test=sample.y_test[:64], source="sealed sample")
    return data, calls


TINY = ["train.base.epochs=1", "train.stack.epochs=1", "train.auto.epochs=1", "train.base.batch_size=32",
        "train.stack.batch_size=32", "train.auto.batch_size=32"]
TINY += [f"train.{a}.{k}" for a in ("ce", "luring") for k in
         ("steps=6", "eval_every=3", "batch_size=32", "identity_warmup_steps=2", "lr_boundaries=[3]", "restarts=1")]


def _tiny_quick() -> dict:
    """The quick MNIST profile at tiny sizes, M's learning-rate fallback on (the paper profile's selection rule:
    a second run when the best validation accuracy is under 0.99, the better run kept)."""
    config = load_config("mnist", "quick", TINY)
    config["train"]["base"].update(lr_fallback=[0.001], fallback_below=0.99)
    return config


def test_the_seal_catches_a_read_of_the_test_split(guarded):
    data, _ = guarded
    with sealed(), pytest.raises(SplitSealed):
        streams.stream(data, "test", 16)
    with sealed(), pytest.raises(SplitSealed):
        data.images("test")
    with sealed():
        assert streams.size(data, "val") == 64 and len(data.x_train) == 128  # the other splits stay readable
    assert len(data.x_test) == 64  # unsealed: readable


def test_a_trainer_reading_the_test_split_would_fail(guarded, monkeypatch):
    data, _ = guarded
    config = _tiny_quick()

    def peeking(build, data, cfg, **kwargs):  # a selection on the test split, as the test must catch
        return build(), {"test_score": float(np.mean(data.y_test))}

    monkeypatch.setattr(trainers, "train_classifier", peeking)
    with sealed(), pytest.raises(SplitSealed):
        paper_models.train_and_save_classifier(data, config, "unused")


def test_the_quick_profiles_trainings_never_read_the_test_split(guarded, tmp_path, capsys):
    data, calls = guarded
    config = _tiny_quick()
    with sealed():
        models = paper_models.obtain_models(data, config, tmp_path, ["stack", "auto", "ce", "luring"])
    assert set(models) == {"M", "stack", "auto", "ce", "luring"}
    assert calls.count("train_classifier") == 2 and "train_autoencoder" in calls  # M, Stack; Auto
    assert calls.count("train_component") == 2 and "identity_warmup" in calls  # C-E, Luring (shared warm-up)
    assert SEAL["reads"] == []
    record = json.loads((tmp_path / "training.json").read_text())
    assert set(record) == {"M", "stack", "auto", "ce", "luring"}
    log = capsys.readouterr().out
    assert "retraining with lr [0.001]" in log  # M's fallback run: the better of two runs chosen, sealed
    assert "restart 1/1" in log  # tiny C-E / Luring collapse: the restart decided on validation, sealed
    assert all("test_accuracy" in record[name] for name in record)  # reported after training, unsealed
    assert all(record[name]["test_rate"]["denominator"] == 64 and record[name]["test_rate"]["interval"]
               for name in record)  # with its denominator and Wilson interval


def test_protecting_a_users_model_never_reads_the_test_split(guarded, monkeypatch):
    import luring_tf
    from luring_tf.training import protect

    data, calls = guarded
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10),
                              keras.layers.Activation("softmax")], name="user_model")
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(data.x_train, data.y_train, epochs=2, verbose=0)
    config = _tiny_quick()
    # what is read, not what a 6-step T is worth: the refusal of a useless T is tests/test_user_models.py's
    monkeypatch.setattr(protect, "refusal", lambda *args, **kwargs: None)
    with sealed():
        result = luring_tf.protect(model, data, config=config)
    assert calls.count("train_component") == 1 and SEAL["reads"] == []
    assert result.record["test_agreement"]["denominator"] == 64  # the record's evaluation, after training


def test_the_defenses_selections_never_read_the_test_split(guarded, tmp_path):
    """App. I's trapdoored model (its epoch chosen on validation), its detector's thresholds (validation false
    positives) and App. H.2's adversarially trained M (through ``train_classifier``), sealed."""
    import architectures
    from luring_tf.defenses import signature_detector, trapdoor

    data, calls = guarded
    config = _tiny_quick()
    config["train"]["advtrain"].update(epochs=1, batch_size=32, nb_iter=1, eps_warmup_epochs=0)
    cfg = dict(config["train"]["trapdoor"], epochs=2, batch_size=32, signature_images=32)
    keras.utils.set_random_seed(0)
    classifier = architectures.build_classifier("mnist")
    triggers = trapdoor.make_triggers((28, 28, 1), 10, cfg["squares"], cfg["square_size"], cfg["mask_ratio"], 0)
    with sealed():
        model, summary = trapdoor.train_trapdoored(classifier, data, triggers, cfg, 0, False)
        detector = signature_detector.obtain_detector(model, triggers, data, cfg, tmp_path / "detector.npz", 0)
        paper_models.train_and_save_classifier(data, config, tmp_path, "advtrain")
    assert len(summary["epochs"]) == 2 and len(detector.thresholds) == 10
    assert calls == ["train_classifier"] and SEAL["reads"] == []
