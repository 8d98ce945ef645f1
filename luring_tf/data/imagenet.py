"""ILSVRC2012 (ImageNet) as a streamed ``Dataset``, from the usual folder layout or a prepared tfds copy.

    from luring_tf.data.imagenet import load_imagenet
    data = load_imagenet("~/data/imagenet", 224)     # DIR/train/<wnid>/*.JPEG, DIR/val/<wnid>/*.JPEG
    for x, y in data.stream("train", 256, extras=("labels",), shuffle=True, seed=0, repeat=True): ...

Sources: "folder" = ``DIR/train/<wnid>/*.JPEG`` and ``DIR/val/<wnid>/*.JPEG`` (``.jpg``/``.jpeg``/``.png``,
any case; wnid = ``n`` + 8 digits); "tfds" = tensorflow-datasets ``imagenet2012`` prepared in DIR (or
TFDS_DATA_DIR) -- never downloaded: tfds cannot download ImageNet, its archives must be placed in tfds'
manual_dir first; "auto" = the folder when ``DIR/train`` exists, else a prepared tfds copy.

Classes: the sorted wnids of ``train/`` (every wnid folder, even an empty one), the order Keras' ImageNet
models use; tfds labels are remapped to it if its label names come in another order.

Splits: test = the ILSVRC2012 validation set (50,000 images, the paper's test set); val = ``val_size``
images held out from the training set, train = the rest. Folder: the hold-out is drawn with
``split_indices(seed)``, and the test images come in a seeded random order (so the first N span the
classes, as in tfds' order). tfds: val = the last ``val_size`` examples of tfds' ``train`` split, test =
its ``validation`` split, both in tfds' order (shuffled once by tfds when it prepared the set; ``seed``
plays no part). ``n_train`` / ``n_test`` keep only the first images of train / test.

Images are read and transformed as they stream (``luring_tf.data.imagenet_preprocessing``): nothing
holds a split's pixels. Folder: every file is decoded once at load (``luring_tf.data.folder.readable``,
in parallel) and the unreadable ones are skipped and counted -- about one decode pass over the data set
per load. tfds: the labels are read once at load without decoding the images.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

from luring_tf.data import folder, tfds_source
from luring_tf.data.dataset import Dataset
from luring_tf.data.split import split_indices
from luring_tf.data.streams import Records
from luring_tf.errors import UserError

TFDS_NAME = "imagenet2012"
SOURCES = ("auto", "folder", "tfds")
WNID = re.compile(r"n\d{8}")
LAYOUT = "train/<wnid>/*.JPEG and val/<wnid>/*.JPEG (wnid = n + 8 digits, e.g. n01440764)"
TFDS_LAYOUT = (f"a prepared tensorflow-datasets folder with {TFDS_NAME} (tfds cannot download ImageNet: put "
               "ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar in its manual_dir, then run "
               f"`tfds build {TFDS_NAME} --data_dir DIR --manual_dir MANUAL`)")


def _check_arguments(image_size, source, val_size, seed) -> None:
    if source not in SOURCES:
        raise UserError(f"data source {source!r} does not exist for imagenet: choose one of {', '.join(SOURCES)}")
    for label, value, low in (("image size", image_size, 1), ("val size", val_size, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise UserError(f"imagenet {label} must be an integer >= {low}, got {value!r}")


def _class_folders(root: Path, part: str) -> list[str]:
    """The class folder names of ``root/part``, sorted; UserError unless they all look like wnids."""
    names = sorted(p.name for p in (root / part).iterdir() if p.is_dir() and not p.name.startswith("."))
    bad = [name for name in names if not WNID.fullmatch(name)]
    if bad:
        raise UserError(f"--data-dir {root}: {part}/{bad[0]} is not an ImageNet class folder; expected {LAYOUT}")
    return names


def _labelled_files(root: Path, part: str, classes: tuple) -> tuple[list[Path], np.ndarray]:
    """Image files of ``root/part`` and their labels (index of their wnid in ``classes``)."""
    found = _class_folders(root, part)
    files, labels, names = folder.find_images(root / part)
    if names is None:
        where = "holds its images at its top level" if files else "holds no .jpg/.jpeg/.png image"
        hint = (" (the raw ILSVRC2012 validation layout: sort them into val/<wnid>/ folders with the devkit's "
                "ground truth)" if files and part == "val" else "")
        raise UserError(f"--data-dir {root}: {part}/ {where}{hint}; expected {LAYOUT}")
    missing = [name for name in found if name not in classes]
    if missing:
        raise UserError(f"--data-dir {root}: val/{missing[0]} is not a class of train/ (no train/{missing[0]} "
                        f"folder); expected {LAYOUT} with the same wnids")
    index = np.array([classes.index(name) for name in names], np.int64)
    return files, index[labels]


def _first(indices: np.ndarray, count: int | None) -> np.ndarray:
    return indices if count is None else indices[:count]


def _load_folder(root: Path, size: int, val_size: int, seed: int, n_train, n_test) -> Dataset:
    classes = tuple(_class_folders(root, "train"))
    if not (root / "val").is_dir():
        raise UserError(f"--data-dir {root} has train/ but no val/ folder (the ILSVRC2012 validation images, "
                        f"the test set); expected {LAYOUT}")
    parts, skipped = {}, 0
    for part in ("train", "val"):
        files, labels = _labelled_files(root, part, classes)
        ok = folder.readable(files, 3)
        bad = [str(f.relative_to(root)) for f, good in zip(files, ok) if not good]
        if bad:
            print(f"luring-tf: skipped {len(bad)} unreadable image file(s) in {root / part}: {', '.join(bad[:5])}"
                  f"{', ...' if len(bad) > 5 else ''}", file=sys.stderr)
        skipped += len(bad)
        parts[part] = ([str(f) for f, good in zip(files, ok) if good], labels[ok])
    (train_files, train_labels), (test_files, test_labels) = parts["train"], parts["val"]
    if val_size >= len(train_files):
        raise UserError(f"--data-dir {root}: a validation hold-out of {val_size} images leaves none of the "
                        f"{len(train_files)} readable training images to train on; lower data.val_size")
    if not test_files:
        raise UserError(f"--data-dir {root}: val/ has no readable image (the test set); expected {LAYOUT}")
    train, val = split_indices(len(train_files), val_size, seed)
    train = _first(train, n_train)
    test = _first(np.random.RandomState(seed).permutation(len(test_files)), n_test)
    files = {"train": tuple(train_files[i] for i in train), "val": tuple(train_files[i] for i in val),
             "test": tuple(test_files[i] for i in test)}
    source = (f"ImageNet folder {root} ({len(classes)} classes; train {len(train)}, val {len(val)} held out of "
              f"train/ (seed {seed}), test {len(test)} = val/; {skipped} unreadable skipped; "
              f"{size}x{size} crops)")
    return Dataset(name="imagenet", x_train=None, y_train=train_labels[train], x_val=None, y_val=train_labels[val],
                   x_test=None, y_test=test_labels[test], source=source, files=files, image_shape=(size, size, 3),
                   class_names=classes, skipped=skipped, preprocessing="imagenet")


def _tfds_builder(data_dir, where: str):
    """tfds' imagenet2012 builder in the data dir; UserError when tfds is missing or broken."""
    try:
        tfds = tfds_source._import_tfds()
    except ImportError as e:
        raise UserError(f"tensorflow-datasets is not usable ({tfds_source._one_line(e)}): pip install "
                        f"tensorflow-datasets, or pass --data-dir DIR holding {LAYOUT}") from None
    try:
        return tfds, tfds.builder(TFDS_NAME, data_dir=tfds_source.resolve_data_dir(data_dir))
    except Exception as e:  # broken install
        raise UserError(f"tensorflow-datasets cannot open {TFDS_NAME} ({where}): {tfds_source._one_line(e)}; "
                        f"pass --data-dir DIR holding {LAYOUT}") from None


def tfds_prepared(data_dir) -> bool:
    """Whether a prepared ``imagenet2012`` is in ``data_dir`` (or ``$TFDS_DATA_DIR``); never downloads.

    Args:
        data_dir: the tfds data folder, or None for tfds's default.

    Returns:
        True when tfds can read it without preparing anything.
    """
    try:
        _, builder = _tfds_builder(data_dir, "")
        return Path(builder.data_path).is_dir() and bool(builder.is_prepared())
    except Exception:  # tfds missing or broken: no prepared copy to use
        return False


def _label_order(names, where: str) -> np.ndarray | None:
    """tfds label -> sorted-wnid label (None when tfds' order already is the sorted one)."""
    names = list(names or ())
    if not names or not all(WNID.fullmatch(str(n)) for n in names):
        raise UserError(f"tensorflow-datasets {TFDS_NAME} ({where}) has label names that are not wnids "
                        f"({', '.join(map(str, names[:3]))}, ...): prepare it again with tfds' own builder")
    order = sorted(names)
    return None if order == names else np.array([order.index(n) for n in names], np.int64)


def _load_tfds(data_dir, size: int, val_size: int, n_train, n_test) -> Dataset:
    folder_name = tfds_source.resolve_data_dir(data_dir)
    where = f"data_dir={folder_name or '~/tensorflow_datasets (default)'}"
    tfds, builder = _tfds_builder(data_dir, where)
    if not builder.is_prepared():
        raise UserError(f"tensorflow-datasets {TFDS_NAME} is not prepared in {where}: pass --data-dir DIR "
                        f"holding {LAYOUT}, or {TFDS_LAYOUT}")
    counts = {s: int(info.num_examples) for s, info in builder.info.splits.items()}
    if "train" not in counts or "validation" not in counts:
        raise UserError(f"tensorflow-datasets {TFDS_NAME} ({where}) lacks its train or validation split (it has "
                        f"{', '.join(sorted(counts))}): prepare it again")
    n = counts["train"]
    if val_size >= n:
        raise UserError(f"tensorflow-datasets {TFDS_NAME} has {n} training examples: a validation hold-out of "
                        f"{val_size} leaves none to train on; lower data.val_size")
    n_fit = n - val_size if n_train is None else min(n_train, n - val_size)
    n_eval = counts["validation"] if n_test is None else min(n_test, counts["validation"])
    specs = {"train": (f"train[0:{n_fit}]", n_fit), "val": (f"train[{n - val_size}:{n}]", val_size),
             "test": (f"validation[0:{n_eval}]", n_eval)}
    remap = _label_order(getattr(builder.info.features["label"], "names", None), where)

    def read(spec: str):  # (JPEG bytes, label): the images are left encoded
        return builder.as_dataset(split=spec, as_supervised=True, shuffle_files=False,
                                  decoders={"image": tfds.decode.SkipDecoding()})

    def records(spec: str, count: int) -> Records:
        return Records(count, lambda: read(spec).map(lambda x, y: x), f"tfds {TFDS_NAME} {folder_name} {spec}")

    labels = {}
    try:
        for split, (spec, _) in specs.items():
            batches = read(spec).map(lambda x, y: y).batch(8192).as_numpy_iterator()
            labels[split] = np.concatenate([np.asarray(b, np.int64).reshape(-1) for b in batches] or
                                           [np.zeros(0, np.int64)])
    except Exception as e:  # damaged records
        raise UserError(f"tensorflow-datasets {TFDS_NAME} could not be read ({where}): "
                        f"{tfds_source._one_line(e)}; prepare it again") from None
    if remap is not None:
        labels = {split: remap[y] for split, y in labels.items()}
    names = list(builder.info.features["label"].names)
    source = (f"tensorflow-datasets {TFDS_NAME} ({where}; train {n_fit}, val {val_size} = last of train, "
              f"test {n_eval} = validation{'; labels remapped to sorted wnids' if remap is not None else ''}; "
              f"{size}x{size} crops)")
    return Dataset(name="imagenet", x_train=None, y_train=labels["train"], x_val=None, y_val=labels["val"],
                   x_test=None, y_test=labels["test"], source=source,
                   files={s: records(*specs[s]) for s in ("train", "val", "test")}, image_shape=(size, size, 3),
                   class_names=tuple(sorted(names)), preprocessing="imagenet")


def load_imagenet(data_dir, image_size: int = 224, *, source: str = "auto", val_size: int = 10000,
                  seed: int = 123, n_train: int | None = None, n_test: int | None = None) -> Dataset:
    """ILSVRC2012 as a streamed ``luring_tf.data.dataset.Dataset`` of float32 [S,S,3] images in [0,1], S = ``image_size``.

    Args:
        data_dir: a folder with ``train/<wnid>/*.JPEG`` and ``val/`` (source ``"folder"``), or a tfds data folder.
        image_size: S, the side of the images after MobileNetV2's transforms.
        source: ``"folder"``, ``"tfds"`` or ``"auto"`` (the folder layout when present, else a prepared tfds copy).
        val_size: images held out of the training set for validation.
        seed: the seed of the folder's hold-out and of the test order.
        n_train: keep only the first training images (None: all).
        n_test: keep only the first test images (None: all).

    Returns:
        The dataset; labels int64 in 0..K-1 (K wnids, sorted; 1,000 for the full set).

    Raises:
        UserError: every layout problem (one line naming the folder and the fix).

    Example:
        >>> data = load_imagenet("~/imagenet", image_size=224, source="folder")
    """
    _check_arguments(image_size, source, val_size, seed)
    root = None if data_dir is None else Path(data_dir).expanduser()
    if root is not None and not root.is_dir():
        problem = "is a file, not a folder" if root.exists() else "does not exist"
        raise UserError(f"--data-dir {data_dir} {problem}: pass a folder holding {LAYOUT}, or {TFDS_LAYOUT}")
    has_folder = root is not None and (root / "train").is_dir()
    if source == "folder" or (source == "auto" and has_folder):
        if not has_folder:
            where = f"--data-dir {data_dir} has no train/ folder" if root else "source 'folder' needs --data-dir DIR"
            raise UserError(f"{where}: expected {LAYOUT}")
        return _load_folder(root, image_size, val_size, seed, n_train, n_test)
    if source == "auto" and not tfds_prepared(data_dir):
        if root is None:
            raise UserError(f"no ImageNet data found: pass --data-dir DIR holding {LAYOUT}, or {TFDS_LAYOUT}")
        raise UserError(f"--data-dir {data_dir} holds no ImageNet data: put {LAYOUT} there, or {TFDS_LAYOUT}")
    return _load_tfds(data_dir, image_size, val_size, n_train, n_test)
