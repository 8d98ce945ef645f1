"""Non-finite values stop the run with one line naming the model: outputs, adversarial examples, weights.

Tiny untrained Keras models; no data set, no training (protect_model's training is replaced by a stub).
"""

from __future__ import annotations

from types import SimpleNamespace

import keras
import numpy as np
import pytest

from luring_tf.training import protect
from luring_tf.training import trainers
from luring_tf.evaluation.adversarial import craft, predict_labels, select_examples
from luring_tf.errors import UserError
from luring_tf.finite import check_finite, check_weights_finite
from luring_tf.storage.models_io import compose, save_model


def classifier(name: str = "M") -> keras.Sequential:
    """28x28x1 -> 10 classes, softmax output, like the package's M."""
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10),
                             keras.layers.Activation("softmax")], name=name)


def component() -> keras.Sequential:
    """28x28x1 -> 28x28x1 in [0,1], like a luring component P."""
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(1, 3, padding="same",
                                                                           activation="sigmoid")], name="P")


def poisoned(model: keras.Model, value: float) -> keras.Model:
    """``model`` with ``value`` (NaN, Inf or a huge number) in its last Dense layer's bias or kernel."""
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)][-1]
    kernel, bias = dense.get_weights()
    if np.isfinite(value):
        kernel = np.full_like(kernel, value)  # finite weights whose logits overflow to Inf
    else:
        bias[3] = value
    dense.set_weights([kernel, bias])
    return model


def one_line_error(fn, *fragments: str) -> str:
    with pytest.raises(UserError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


X = np.random.default_rng(0).uniform(0, 1, (6, 28, 28, 1)).astype(np.float32)
Y = np.arange(6, dtype=np.int64)


# ------------------------------------------------------------------------------------------------ check_finite


def test_check_finite_passes_finite_floats_and_integers():
    check_finite(np.zeros((3, 2), np.float32), "x")
    check_finite([np.ones(3), np.arange(4)], "x")
    check_finite(np.array([2 ** 62], np.int64), "x")


@pytest.mark.parametrize("values, counts", [
    (np.array([0.0, np.nan, np.nan], np.float32), "2 NaN, 0 Inf"),
    (np.array([np.inf, -np.inf]), "0 NaN, 2 Inf"),
    ([np.zeros(2), np.array([[np.nan, np.inf]])], "1 NaN, 1 Inf"),
])
def test_check_finite_names_what_and_counts(values, counts):
    one_line_error(lambda: check_finite(values, "the outputs of model T", "retrain it"),
                   "non-finite values in the outputs of model T", counts, "retrain it")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_check_weights_finite(value):
    check_weights_finite(classifier(), "M.h5")
    one_line_error(lambda: check_weights_finite(poisoned(classifier(), value), "M.h5"), "the weights of M.h5",
                   "retrain it")


# ---------------------------------------------------------------------------------------- predictions, attacks


@pytest.mark.parametrize("value", [np.nan, 1e38])  # a NaN bias; finite weights whose logits overflow
def test_predict_labels_refuses_non_finite_outputs(value):
    assert predict_labels(classifier(), X).shape == (6,)
    bad = poisoned(classifier("luring_T_model"), value)
    one_line_error(lambda: predict_labels(bad, X, name="luring_T.h5"),
                   "non-finite values in the outputs of model luring_T.h5 on 6 images", "NaN")
    one_line_error(lambda: predict_labels(bad, X), "model luring_T_model")  # no name: the Keras name


def test_select_examples_names_the_approach_whose_T_is_non_finite():
    models = {"M": classifier(), "luring": compose(component(), poisoned(classifier(), np.nan))}
    one_line_error(lambda: select_examples(models, X, Y, 3, 0), "outputs of model luring_T")


def test_craft_refuses_non_finite_adversarial_examples():
    x_adv, info = craft("fgsm", classifier(), X, Y, 0.1, {}, verbose=False)
    assert np.isfinite(x_adv).all() and info["queries"] > 0
    bad = poisoned(classifier("T"), np.nan)
    one_line_error(lambda: craft("fgsm", bad, X, Y, 0.1, {}, verbose=False, name="luring_T.h5"),
                   "adversarial examples of fgsm (eps=0.1) on model luring_T.h5", "NaN")


# -------------------------------------------------------------------------------------------- protect your model


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_load_target_refuses_a_model_with_non_finite_weights(tmp_path, value):
    path = save_model(poisoned(classifier(), value), tmp_path / "mine.h5")
    one_line_error(lambda: protect.load_target(path, "mnist"), f"the weights of --target-model {path}")


def test_protect_model_never_saves_a_component_with_non_finite_weights(tmp_path, monkeypatch):
    path = save_model(classifier(), tmp_path / "mine.h5")
    target = protect.load_target(path, "mnist")

    def diverged(component, *args, **kwargs):
        component.set_weights([np.full_like(w, np.nan) for w in component.get_weights()])
        return {}

    monkeypatch.setattr(trainers, "train_component", diverged)
    data = SimpleNamespace(x_train=X, y_train=Y, x_test=X, y_test=Y)
    config = {"dataset": "mnist", "profile": "quick", "seed": 0, "train": {"luring": {}}}
    one_line_error(lambda: protect.protect_model(path, data, config, target),
                   f"weights of the luring component P trained for {path}", "lower learning rate")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.h5"]  # no P, no T, no record
