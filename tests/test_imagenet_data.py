"""ImageNet data (issue 12): the folder layout and a (faked) prepared tfds imagenet2012, splits, class order,
MobileNetV2's evaluation transform, the stateless random resized crop + flip, one-line errors. A generated
layout of 3 wnids x a few tiny JPEGs, 16 x 16 crops: seconds."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from luring_tf.data import imagenet_preprocessing as prep
from luring_tf.data import load_dataset, streams, tfds_source
from luring_tf.data.imagenet import load_imagenet
from luring_tf.errors import UserError

WNIDS = ("n01484850", "n01440764", "n01443537")  # written out of order: classes are the sorted ones
SIZES = [(24, 40), (40, 24), (32, 32), (20, 50), (30, 36), (44, 28)]  # (h, w): varied sizes and aspect ratios
S = 16


def _jpeg(image: np.ndarray, mode: str | None = None) -> bytes:
    out = io.BytesIO()
    picture = Image.fromarray(image)
    (picture.convert(mode) if mode else picture).save(out, "JPEG", quality=95)
    return out.getvalue()


def write_layout(root: Path, wnids=WNIDS, n_train=6, n_val=2, seed=0) -> Path:
    """root/train/<wnid>/*.JPEG and root/val/<wnid>/*.JPEG of random images, sizes from SIZES."""
    rng = np.random.default_rng(seed)
    for wnid in wnids:
        for part, count in (("train", n_train), ("val", n_val)):
            folder = root / part / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                image = rng.integers(0, 256, (*SIZES[i % len(SIZES)], 3), dtype=np.uint8)
                (folder / f"{wnid}_{i}.JPEG").write_bytes(_jpeg(image))
    return root


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> Path:
    """3 wnids x 6 train + 2 val JPEGs, plus a grey .jpg, a CMYK .jpeg and a damaged .JPEG in train/."""
    root = write_layout(tmp_path_factory.mktemp("imagenet"))
    (root / "train" / WNIDS[1] / "grey.jpg").write_bytes(_jpeg(np.full((30, 20), 90, np.uint8)))
    cmyk = np.zeros((20, 30, 3), np.uint8)
    cmyk[..., 0] = 200
    (root / "train" / WNIDS[2] / "cmyk.jpeg").write_bytes(_jpeg(cmyk, "CMYK"))
    (root / "train" / WNIDS[0] / "broken.JPEG").write_bytes(b"\xff\xd8\xff not a JPEG")
    return root


def test_folder_layout_classes_splits_and_labels(layout, capsys):
    data = load_imagenet(layout, S, source="folder", val_size=4, seed=1)
    assert data.class_names == tuple(sorted(WNIDS)) and data.name == "imagenet" and data.labelled
    assert data.skipped == 1 and "broken.JPEG" in capsys.readouterr().err
    assert (data.size("train"), data.size("val"), data.size("test")) == (16, 4, 6)  # 18 + grey + cmyk readable
    for split in ("train", "val", "test"):  # each label is the sorted index of the file's wnid folder
        for path, label in zip(data.files[split], data.labels(split)):
            assert Path(path).parent.name == data.class_names[label]
            assert Path(path).parts[-3] == ("val" if split == "test" else "train")
    assert not set(data.files["train"]) & set(data.files["val"])
    assert data.preprocessing == "imagenet" and streams.train_is_augmented(data)
    again = load_dataset("imagenet", "auto", str(layout), image_shape=(S, S, 3), val_size=4, split_seed=1)
    assert again.files == data.files and again.image_shape == (S, S, 3)
    other = load_imagenet(layout, S, val_size=4, seed=2)
    assert set(other.files["val"]) != set(data.files["val"])
    x = data.images("train")
    assert x.shape == (16, S, S, 3) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    grey = x[data.files["train"].index(str(layout / "train" / WNIDS[1] / "grey.jpg"))]
    np.testing.assert_allclose(grey, 90 / 255, atol=2 / 255)  # grey JPEG -> 3 equal channels
    cmyk = x[data.files["train"].index(str(layout / "train" / WNIDS[2] / "cmyk.jpeg"))]
    assert cmyk[..., 0].mean() > 0.6 and cmyk[..., 1:].mean() < 0.15  # CMYK JPEG -> its RGB colour
    resized = dataclasses.replace(data, preprocessing=None)  # same files, another transform: another key
    assert streams.content_key(data, "test") != streams.content_key(resized, "test")
    assert not streams.train_is_augmented(resized)


@pytest.mark.parametrize("shape, resized, offsets", [
    ((20, 40), (16, 32), (1, 9)),   # wide: short side 20 -> 16 = round(14 * 256 / 224)
    ((40, 21), (30, 16), (8, 1)),   # tall: long side int(16 * 40 / 21) = 30
    ((16, 31), (16, 31), (1, 8)),   # (31 - 14) / 2 = 8.5 rounds half to even, as torchvision ...
    ((16, 33), (16, 33), (1, 10)),  # ... and 9.5 to 10
])
def test_evaluation_transform_resizes_the_short_side_and_keeps_the_centre(shape, resized, offsets):
    size = 14
    assert prep.resize_side(size) == 16 and prep.resize_side(224) == 256
    rows, cols = np.indices(shape)
    image = np.stack([rows * 6, cols * 6, np.full(shape, 128)], -1).astype(np.uint8)  # pixel = its position
    out = prep.evaluation_transform(tf.constant(image), size).numpy()
    whole = tf.image.resize(image.astype(np.float32), resized, antialias=True).numpy()
    top, left = offsets
    np.testing.assert_allclose(out * 255, np.clip(whole[top:top + size, left:left + size], 0, 255), atol=1e-3)
    # the kept region is the centre: mean position = the image centre
    centre = np.array(shape, np.float32) / 2 - 0.5
    assert np.allclose([out[..., 0].mean() * 255 / 6, out[..., 1].mean() * 255 / 6], centre, atol=0.6)


def test_random_resized_crop_windows_fit_and_fall_back_to_the_centre():
    draws = tf.random.stateless_uniform([200, 4, prep.ATTEMPTS], seed=[3, 4])
    windows = tf.function(lambda: tf.map_fn(lambda d: tf.stack(prep.crop_window(60, 80, d)), draws,
                                            fn_output_signature=tf.int32))
    top, left, h, w = windows().numpy().T
    assert (top >= 0).all() and (top + h <= 60).all() and (left >= 0).all() and (left + w <= 80).all()
    assert (h * w >= 0.07 * 4800).all() and ((w / h >= 0.74) & (w / h <= 1.35)).all()
    assert (h * w).min() < 0.2 * 4800 and (h * w).max() > 0.8 * 4800 and len(set(zip(top, left))) > 150
    # a 4 x 100 strip: no draw fits -> centre crop of ratio 4/3: h 4, w round(4 * 4/3) = 5
    assert [int(v) for v in prep.crop_window(4, 100, draws[0])] == [0, 47, 4, 5]
    assert [int(v) for v in prep.crop_window(100, 4, draws[0])] == [47, 0, 5, 4]


def test_training_crops_are_flipped_about_half_the_time():
    ramp = np.tile(np.arange(60, dtype=np.uint8)[None, :, None] * 4, (40, 1, 3))  # brighter to the right
    seeds = tf.stack([tf.fill([40], tf.constant(7, tf.int64)), tf.range(40, dtype=tf.int64)], axis=1)
    x = tf.function(lambda: tf.map_fn(lambda seed: prep.training_transform(tf.constant(ramp), S, seed), seeds,
                                      fn_output_signature=tf.float32))().numpy()
    assert x.shape == (40, S, S, 3)
    left, right = x[:, :, 0].mean(axis=(1, 2)), x[:, :, -1].mean(axis=(1, 2))
    assert (left != right).all() and 8 <= (left > right).sum() <= 32


def _epochs(data, seed, batches=4, batch_size=8):
    """x per image index for each pass of a repeated, shuffled train stream (2 passes of 16 images)."""
    index = np.arange(data.size("train"))
    seen = [{}, {}]
    for b, (x, i) in enumerate(data.stream("train", batch_size, extras=(index,), shuffle=True, seed=seed,
                                           repeat=True).take(batches)):
        for image, k in zip(x.numpy(), i.numpy()):
            seen[b * batch_size // data.size("train")][int(k)] = image
    return seen


def test_training_batches_repeat_with_the_seed_and_change_with_the_epoch(layout):
    data = load_imagenet(layout, S, source="folder", val_size=4, seed=1)
    first, again, other = _epochs(data, 5), _epochs(data, 5), _epochs(data, 6, batches=2)
    assert sorted(first[0]) == sorted(first[1]) == list(range(16))
    for epoch in (0, 1):
        for k in range(16):
            np.testing.assert_array_equal(first[epoch][k], again[epoch][k])
    assert sum(not np.array_equal(first[0][k], first[1][k]) for k in range(16)) >= 15  # new crops each epoch
    assert sum(not np.array_equal(first[0][k], other[0][k]) for k in range(16)) >= 15  # another seed
    evaluation = data.images("train")  # not shuffled: centre crops, the same every time
    plain = np.concatenate([b.numpy() for b in data.stream("train", 5)])
    np.testing.assert_array_equal(evaluation, plain)


def test_a_resumed_training_stream_continues_with_the_same_crops(layout):
    """skip = what a resumed training already consumed: the rest of the sequence, crops included, unchanged."""
    from luring_tf.data import streams

    data = load_imagenet(layout, S, source="folder", val_size=4, seed=1)
    full = [x.numpy() for x in streams.stream(data, "train", 8, shuffle=True, seed=5, repeat=True).take(4)]
    resumed = [x.numpy() for x in streams.stream(data, "train", 8, shuffle=True, seed=5, repeat=True,
                                                 skip=16).take(2)]
    for a, b in zip(full[2:], resumed):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(full[0], resumed[0])


@pytest.mark.parametrize("change, words", [
    (lambda r: (r / "val" / "n09999999").mkdir() or (r / "val" / "n09999999" / "a.JPEG").write_bytes(
        _jpeg(np.zeros((8, 8, 3), np.uint8))), ["val/n09999999 is not a class of train/"]),
    (lambda r: (r / "train" / "cats").mkdir(), ["train/cats is not an ImageNet class folder", "n + 8 digits"]),
    (lambda r: [p.rename(r / "val" / p.name) for p in (r / "val").rglob("*.JPEG")],
     ["val/ holds its images at its top level", "val/<wnid>/"]),
    (lambda r: (r / "train").rename(r / "training"), ["holds no ImageNet data", "manual_dir", "train/<wnid>/*.JPEG"]),
], ids=["val-wnid-not-in-train", "not-wnids", "flat-val", "no-train"])
def test_layout_problems_are_one_line_errors(tmp_path, monkeypatch, change, words):
    monkeypatch.setattr(tfds_source, "_import_tfds", lambda: _FakeTfds(None))
    root = write_layout(tmp_path / "imagenet", n_train=2, n_val=1)
    change(root)
    with pytest.raises(UserError) as caught:
        load_dataset("imagenet", "auto", str(root), image_shape=(S, S, 3), val_size=1)
    message = str(caught.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_bad_arguments_are_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(tfds_source, "_import_tfds", lambda: _FakeTfds(None))
    monkeypatch.delenv("TFDS_DATA_DIR", raising=False)
    root = write_layout(tmp_path / "imagenet", n_train=2, n_val=1)
    cases = [(lambda: load_dataset("imagenet"), "--data-dir DIR holding train/<wnid>"),
             (lambda: load_imagenet(root, S, val_size=6), "leaves none of the 6"),
             (lambda: load_dataset("imagenet", "folder", str(root), image_shape=(16, 20, 3)), "(S, S, 3)"),
             (lambda: load_dataset("imagenet", "files", str(root)), "choose one of auto, folder, tfds")]
    for call, words in cases:
        with pytest.raises(UserError) as caught:
            call()
        assert words in str(caught.value) and "\n" not in str(caught.value)


# -- a prepared tfds imagenet2012, faked: records of JPEG bytes, label names in tfds' order --------------

NAMES = ["n02000000", "n01000000", "n03000000"]  # not sorted: labels must be remapped (1, 0, 2)


class _FakeBuilder:
    def __init__(self, splits):
        self.splits_data = splits
        self.data_path = "/"
        self.info = SimpleNamespace(features={"label": SimpleNamespace(names=NAMES)},
                                    splits={s: SimpleNamespace(num_examples=len(v[1])) for s, v in splits.items()})

    def is_prepared(self):
        return True

    def as_dataset(self, split, as_supervised, shuffle_files, decoders=None):
        assert as_supervised and not shuffle_files and decoders is not None  # images stay encoded
        name, _, rest = split.partition("[")
        encoded, labels = self.splits_data[name]
        start, stop = (int(v) for v in rest.rstrip("]").split(":"))
        return tf.data.Dataset.from_tensor_slices((encoded[start:stop], labels[start:stop]))


class _FakeTfds:
    def __init__(self, builder):
        self.made, self.decode = builder, SimpleNamespace(SkipDecoding=lambda: "skip")

    def builder(self, name, data_dir=None):
        assert name == "imagenet2012"
        if self.made is None:
            return SimpleNamespace(data_path="/nonexistent/tfds", is_prepared=lambda: False)
        return self.made


def _tfds_split(n, offset):
    """n constant-grey JPEGs (grey level 10 + 17 * (offset + i)) of varied sizes, labels (offset + i) % 3."""
    levels = [10 + 17 * (offset + i) for i in range(n)]
    encoded = [_jpeg(np.full((*SIZES[i % len(SIZES)], 3), v, np.uint8)) for i, v in enumerate(levels)]
    return np.array(encoded, dtype=object), np.array([(offset + i) % 3 for i in range(n)], np.int64)


def test_prepared_tfds_imagenet_is_streamed_with_labels_in_sorted_wnid_order(tmp_path, monkeypatch):
    splits = {"train": _tfds_split(10, 0), "validation": _tfds_split(4, 10)}
    monkeypatch.setattr(tfds_source, "_import_tfds", lambda: _FakeTfds(_FakeBuilder(splits)))
    data = load_dataset("imagenet", "auto", str(tmp_path), image_shape=(S, S, 3), val_size=3)
    assert data.class_names == ("n01000000", "n02000000", "n03000000") and "remapped" in data.source
    assert (data.size("train"), data.size("val"), data.size("test")) == (7, 3, 4)
    remap = np.array([1, 0, 2])
    np.testing.assert_array_equal(data.labels("train"), remap[splits["train"][1][:7]])
    np.testing.assert_array_equal(data.labels("test"), remap[splits["validation"][1]])
    test = data.images("test")  # constant images: each one's grey level says which record it is
    np.testing.assert_allclose(test.mean(axis=(1, 2, 3)) * 255, [180, 197, 214, 231], atol=2)
    for x, y in data.stream("train", 7, extras=("labels",), shuffle=True, seed=3).take(1):  # labels follow images
        record = np.round((x.numpy().mean(axis=(1, 2, 3)) * 255 - 10) / 17).astype(int)
        assert sorted(record) == list(range(7))
        np.testing.assert_array_equal(y.numpy(), remap[record % 3])
    explicit = load_imagenet(tmp_path, S, source="tfds", val_size=3, n_test=2)
    assert explicit.size("test") == 2


def test_tfds_imagenet_not_prepared_says_it_cannot_be_downloaded(tmp_path, monkeypatch):
    monkeypatch.setattr(tfds_source, "_import_tfds", lambda: _FakeTfds(None))
    with pytest.raises(UserError) as caught:
        load_dataset("imagenet", "tfds", str(tmp_path))
    message = str(caught.value)
    assert all(w in message for w in ("not prepared", "cannot download ImageNet", "manual_dir", "tfds build"))
