"""Streams (issue 11): array-backed streams give the pre-stream pipeline's batches bit for bit, a folder of
the same images gives the same batches and the same trained weights, unlabeled folders train P, and
``--tfds NAME`` streams any tfds set (a fake tfds module: offline). Tiny data and models: seconds."""

from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from luring_tf.cli import run_folder
from luring_tf.data import streams, tfds_any, tfds_source
from luring_tf.data.dataset import Dataset
from luring_tf.data.folder import load_image_folder
from luring_tf.errors import UserError
from luring_tf.storage.fingerprint import weights_digest
from luring_tf.training import trainers

SHAPE = (8, 8, 1)


def _uint8_images(n, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.integers(0, 80, (n, *SHAPE), dtype=np.uint8)
    x[np.arange(n), y * 2, :, 0] = 255  # the class is the bright row
    return x, y.astype(np.int64)


def _as_folder(root: Path, x: np.ndarray, y: np.ndarray) -> Path:
    for i, (image, label) in enumerate(zip(x, y)):
        (root / f"class{label}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[..., 0]).save(root / f"class{label}" / f"{i:04d}.png")
    return root


def _legacy_pipeline(x, targets, batch_size, seed):
    """The trainers' pipeline before streams (luring_tf.training.trainers._train_dataset, without augmentation)."""
    ds = tf.data.Dataset.from_tensor_slices((x, targets)).shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.repeat().batch(batch_size).prefetch(tf.data.AUTOTUNE)


def test_array_stream_gives_the_pre_stream_batches_bit_for_bit():
    x, y = _uint8_images(50)
    x = x.astype(np.float32) / 255
    logits = np.random.default_rng(1).normal(size=(50, 3)).astype(np.float32)
    data = SimpleNamespace(x_train=x, y_train=y)
    for target in (y, logits):
        new = streams.stream(data, "train", 16, extras=(target,), shuffle=True, seed=7, repeat=True)
        for (a, ta), (b, tb) in zip(new.take(8), _legacy_pipeline(x, target, 16, 7).take(8)):  # > 2 passes
            np.testing.assert_array_equal(a.numpy(), b.numpy())
            np.testing.assert_array_equal(ta.numpy(), tb.numpy())


def test_training_streams_run_without_tf_data_autotuning(tmp_path):
    """Autotuning's model thread made deleting a training iterator wait up to a minute at every fit's end
    (streams.untuned): the trainers' streams -- arrays, folders, augmented batches, trapdoor batches -- have it off."""
    from luring_tf.defenses.trapdoor import injected_dataset, make_triggers

    array_data, folder_data = _paired(tmp_path)
    augment = trainers.Augmentation(10, 1)
    triggers = make_triggers(SHAPE, 3, squares=1, square_size=2, mask_ratio=0.1, seed=0)
    pipelines = {
        "arrays": streams.stream(array_data, "train", 16, extras=("labels",), shuffle=True, repeat=True),
        "folder": streams.stream(folder_data, "val", 16),
        "augmented": trainers._train_dataset(array_data, "labels", 16, augment, seed=3),
        "trapdoor": injected_dataset(array_data.x_train, array_data.y_train, triggers, 8, 0.5, 0),
    }
    for name, ds in pipelines.items():
        assert ds.options().autotune.enabled is False, name
        next(iter(ds))  # and they still produce batches


def _paired(tmp_path, n_train=60):
    """The same images as an array-backed Dataset and as a folder whose split has the same files in the same order."""
    x, y = _uint8_images(n_train + 30)
    folder = load_image_folder(_as_folder(tmp_path / "imgs", x, y), SHAPE, test_size=10, seed=3)
    index = {Path(p).stem: int(Path(p).stem) for s in ("train", "val", "test") for p in folder.files[s]}
    rows = {s: [index[Path(p).stem] for p in folder.files[s]] for s in ("train", "val", "test")}
    arrays = Dataset("tiny", *[v for s in ("train", "val", "test")
                               for v in (x[rows[s]].astype(np.float32) / np.float32(255), y[rows[s]])], "arrays")
    return arrays, folder


def test_folder_streams_equal_array_streams_with_extras(tmp_path):
    arrays, folder = _paired(tmp_path)
    logits = np.random.default_rng(2).normal(size=(arrays.size("train"), 3)).astype(np.float32)
    extras = ("labels", logits, "images")
    a_stream = arrays.stream("train", 12, extras=extras, shuffle=True, seed=4, repeat=True)
    f_stream = folder.stream("train", 12, extras=extras, shuffle=True, seed=4, repeat=True)
    for a, f in zip(a_stream.take(10), f_stream.take(10)):
        for u, v in zip(a, f):
            np.testing.assert_array_equal(u.numpy(), v.numpy())
    np.testing.assert_array_equal(arrays.images("val"), folder.images("val"))


def test_training_from_a_folder_gives_the_weights_of_training_from_its_arrays(tmp_path):
    arrays, folder = _paired(tmp_path)

    def classifier():
        return keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(8, activation="relu"),
                                 keras.layers.Dense(3), keras.layers.Softmax()])

    def component():
        return keras.Sequential([keras.Input(SHAPE), keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")])

    digests = []
    for data in (arrays, folder):
        m, _ = trainers.train_classifier(classifier, data, {"epochs": 1, "batch_size": 16, "lr": [0.01],
                                                            "lr_boundaries": []}, seed=1)
        p = component()
        trainers.train_component(p, m, data, {"steps": 6, "batch_size": 16, "lr": [0.01], "lr_boundaries": [],
                                              "eval_every": 3, "restarts": 0, "identity_warmup_steps": 2},
                                 "luring", seed=2)
        digests.append((weights_digest(m), weights_digest(p)))
    assert digests[0] == digests[1]


def test_p_trains_on_an_unlabeled_folder(tmp_path):
    x, _ = _uint8_images(40)
    root = tmp_path / "flat"
    root.mkdir()
    for i, image in enumerate(x):
        Image.fromarray(image[..., 0]).save(root / f"{i}.png")
    data = load_image_folder(root, SHAPE, test_size=5)
    m = keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(3)])
    p = keras.Sequential([keras.Input(SHAPE), keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")])
    summary = trainers.train_component(p, m, data, {"steps": 4, "batch_size": 8, "lr": [0.01], "lr_boundaries": [],
                                                    "eval_every": 2, "restarts": 0}, "luring", seed=0)
    assert summary["steps"] == 4 and 0.0 <= summary["initial_val_agreement"] <= 1.0


# -- --tfds NAME ---------------------------------------------------------------------------------

class FakeBuilder:
    """A tfds builder of tiny uint8 images: splits as arrays, tfds slice strings 'train[a:b]' honoured."""

    def __init__(self, splits, prepared=True, fail_download=None, features=("image", "label")):
        self.splits_data, self.prepared, self.fail_download = splits, prepared, fail_download
        shape = next(iter(splits.values()))[0].shape[1:]
        self.info = SimpleNamespace(
            features={f: SimpleNamespace(shape=shape, names=["a", "b", "c"]) for f in features},
            splits={s: SimpleNamespace(num_examples=len(v[0])) for s, v in splits.items()})
        self.downloads = 0

    def is_prepared(self):
        return self.prepared

    def download_and_prepare(self):
        self.downloads += 1
        if self.fail_download:
            raise self.fail_download
        self.prepared = True

    def as_dataset(self, split, as_supervised, shuffle_files, decoders=None):
        assert as_supervised and not shuffle_files
        name, _, rest = split.partition("[")
        x, y = self.splits_data[name]
        if rest:
            start, stop = (int(v) for v in rest.rstrip("]").split(":"))
            x, y = x[start:stop], y[start:stop]
        return tf.data.Dataset.from_tensor_slices((x, y))


def fake_tfds(monkeypatch, builder=None, error=None):
    calls = []

    def make_builder(name, data_dir=None):
        calls.append((name, data_dir))
        if error is not None:
            raise error
        return builder

    fake = SimpleNamespace(builder=make_builder, decode=SimpleNamespace(SkipDecoding=lambda: None))
    monkeypatch.setattr(tfds_source, "_import_tfds", lambda: fake)
    monkeypatch.delenv("TFDS_DATA_DIR", raising=False)
    return calls


def _splits(test=True):
    rng = np.random.default_rng(0)
    out = {"train": (rng.integers(0, 256, (40, 10, 10, 3), dtype=np.uint8), np.arange(40) % 3)}
    if test:
        out["test"] = (rng.integers(0, 256, (6, 10, 10, 3), dtype=np.uint8), np.arange(6) % 3)
    return out


def test_tfds_by_name_streams_its_splits_resized(monkeypatch):
    splits = _splits()
    calls = fake_tfds(monkeypatch, FakeBuilder(splits))
    data = tfds_any.load_tfds("cifar_like", (5, 5, 1), data_dir="/prepared", val_fraction=0.25)
    assert calls == [("cifar_like", "/prepared")]
    assert (data.size("train"), data.size("val"), data.size("test")) == (30, 10, 6)
    np.testing.assert_array_equal(data.labels("val"), splits["train"][1][30:])
    assert data.class_names == ("a", "b", "c") and "test 6 = test" in data.source
    x, y, z = next(iter(data.stream("train", 30, extras=("labels", np.arange(30.0)), shuffle=True, seed=1)))
    assert x.shape == (30, 5, 5, 1) and sorted(z.numpy().tolist()) == list(range(30))
    np.testing.assert_array_equal(y.numpy(), splits["train"][1][z.numpy().astype(int)])  # extras follow images
    own = tfds_any.load_tfds("cifar_like", None).images("test")  # own shape: exactly uint8 / 255
    np.testing.assert_array_equal(own, splits["test"][0].astype(np.float32) / np.float32(255))


def test_tfds_without_test_split_holds_out_the_end_of_train(monkeypatch):
    fake_tfds(monkeypatch, FakeBuilder(_splits(test=False)))
    data = tfds_any.load_tfds("plain", None, test_size=8)
    assert (data.size("train"), data.size("val"), data.size("test")) == (26, 6, 8)
    assert "train[32:40]" in data.source


@pytest.mark.parametrize("builder, error, env, words", [
    (None, ValueError("Dataset nosuch not found."), "0", ["no usable data set 'nosuch'", "list_builders"]),
    (FakeBuilder(_splits(), prepared=False), None, "0", ["not prepared", "LURING_TF_ALLOW_DOWNLOAD=0"]),
    (FakeBuilder(_splits(), prepared=False, fail_download=OSError("network\nunreachable")), None, "1",
     ["download failed", "network unreachable"]),
    (FakeBuilder(_splits(), features=("image", "objects")), None, "0", ["no image/label features"]),
], ids=["unknown-name", "offline-not-prepared", "download-fails", "not-classification"])
def test_tfds_failures_are_one_line_errors(monkeypatch, builder, error, env, words):
    fake_tfds(monkeypatch, builder, error)
    monkeypatch.setenv("LURING_TF_ALLOW_DOWNLOAD", env)
    with pytest.raises(UserError) as caught:
        tfds_any.load_tfds("nosuch", (8, 8, 3))
    message = str(caught.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_tfds_flag_reaches_load_data(monkeypatch):
    fake_tfds(monkeypatch, FakeBuilder(_splits()))
    args = SimpleNamespace(dataset="cifar10", profile="quick", overrides=[], seed=None, data_source=None,
                           data_dir=None, n_examples=None, eps=None, tfds="cifar_like")
    config = run_folder.resolve_config(args, "characterization")
    assert config["data"]["tfds_name"] == "cifar_like"
    data = run_folder.load_data(config, None, image_shape=(6, 6, 3))
    assert data.image_shape == (6, 6, 3) and data.size("test") == 6
