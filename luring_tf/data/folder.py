"""A folder of JPEG/PNG images as a data set: labelled (one sub-folder per class) or unlabeled (flat).

    from luring_tf.data.folder import load_image_folder
    data = load_image_folder("~/photos", (96, 96, 3), test_size=500)
    for x in data.stream("train", 64, shuffle=True, seed=0): ...       # float32 [64,96,96,3] in [0,1]

Layout: images (``.jpg``, ``.jpeg``, ``.png``, any case; found recursively, hidden files skipped, other
files ignored) either all in sub-folders -- one per class, labels = the sorted sub-folder names -- or all at
the top level (unlabeled: ``y_*`` None, ``labelled=False``). Luring needs no labels (paper Section 6): an
unlabeled folder trains P and measures agreement with M.

Images: decoded to C channels (grey <-> RGB by the decoder), resized to H x W (bilinear, antialiased, the
whole image: aspect ratio not kept, nothing cropped), float32 in [0,1]; see ``streams.decode_image``.

Splits: the readable files, sorted by path, are split with sklearn's ``train_test_split(random_state=seed)``:
first a hold-out test set of ``test_size`` images (an int) or that fraction (a float), then ``val_fraction``
of the rest for validation -- fixed for a given folder content and seed. Every size is in ``Dataset.source``.

Unreadable files (damaged, or not an image despite the name) are found at load time by decoding every file
once (in parallel, with the decoder the streams use), counted in ``Dataset.skipped``, named on stderr, and
left out: a run never stops half-way on one. A folder without one readable image is a one-line UserError.
Memory: the file list is held, never the decoded pixels (``Dataset.images`` materialises a split on demand).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from luring_tf.data.dataset import Dataset
from luring_tf.data.split import split_indices
from luring_tf.errors import UserError

EXTENSIONS = (".jpg", ".jpeg", ".png")
WHAT_IT_HOLDS = ("JPEG/PNG images, one sub-folder per class (labelled) or all at its top level (unlabeled)")


def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in EXTENSIONS and not path.name.startswith(".")


def _image_files(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive, hidden folders skipped), sorted."""
    found = []
    for path in folder.rglob("*"):
        if any(part.startswith(".") for part in path.relative_to(folder).parts[:-1]):
            continue
        if _is_image_name(path) and path.is_file():
            found.append(path)
    return sorted(found)


def find_images(folder: Path) -> tuple[list[Path], np.ndarray | None, tuple | None]:
    """The image files of a labelled (one sub-folder per class) or flat folder.

    Args:
        folder: the folder.

    Returns:
        (files sorted, labels int64 [N] or None, class names or None); labels are the indices of the
        sorted sub-folder names.

    Raises:
        UserError: the folder mixes images and class sub-folders, or holds no JPEG/PNG image.
    """
    files = _image_files(folder)
    top = [f for f in files if f.parent == folder]
    nested = [f for f in files if f.parent != folder]
    if top and nested:
        raise UserError(f"--data-dir {folder} holds images both at its top level ({top[0].name}, ...) and in "
                        f"sub-folders: put all of them in one sub-folder per class, or all at the top level")
    if not nested:
        return files, None, None
    classes = tuple(sorted({f.relative_to(folder).parts[0] for f in nested}))
    index = {name: i for i, name in enumerate(classes)}
    labels = np.array([index[f.relative_to(folder).parts[0]] for f in nested], np.int64)
    return nested, labels, classes


def readable(files: list[Path], channels: int) -> np.ndarray:
    """Which files the streams' decoder reads (each file decoded once, in parallel).

    Args:
        files: the image files.
        channels: C, the channels each image is decoded to (1 or 3).

    Returns:
        Boolean [N]: True for a readable image.
    """
    import tensorflow as tf

    if not files:
        return np.zeros(0, bool)

    def decode(path, i):
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
        tf.debugging.assert_positive(tf.size(image))
        return i

    ds = tf.data.Dataset.from_tensor_slices((np.array([str(f) for f in files]), np.arange(len(files))))
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).ignore_errors(log_warning=False)
    ok = np.zeros(len(files), bool)
    for batch in ds.batch(4096):
        ok[batch.numpy()] = True
    return ok


def check_shape(image_shape) -> tuple[int, int, int]:
    """Check an image shape for the user's images.

    Args:
        image_shape: ``(H, W, C)``.

    Returns:
        ``(H, W, C)`` as integers.

    Raises:
        UserError: not three integers, H or W not positive, or C not 1 (grey) or 3 (RGB).
    """
    try:
        height, width, channels = (int(v) for v in image_shape)
    except (TypeError, ValueError):
        raise UserError(f"image shape {image_shape!r} is not (H, W, C): give three positive integers") from None
    if height <= 0 or width <= 0 or channels not in (1, 3):
        raise UserError(f"image shape {tuple(image_shape)} is not usable: H and W positive, C 1 (grey) or 3 (RGB)")
    return height, width, channels


def check_test_size(test_size) -> None:
    """Check a hold-out size: a positive number of images, or a fraction strictly between 0 and 1.

    Args:
        test_size: the value to check.

    Raises:
        UserError: any other value.
    """
    ok_int = isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool) and test_size > 0
    ok_float = isinstance(test_size, float) and 0 < test_size < 1
    if not (ok_int or ok_float):
        raise UserError(f"test size {test_size!r} is not usable: give a number of images (a positive integer) "
                        "or a fraction strictly between 0 and 1")


def load_image_folder(path, image_shape=(28, 28, 1), *, test_size: int | float = 0.2, val_fraction: float = 0.17,
                      seed: int = 123) -> Dataset:
    """The images under ``path`` as a file-backed ``luring_tf.data.dataset.Dataset`` of float32 [H,W,C] images in [0,1].

    Labels are the sub-folder indices (sorted names, in ``class_names``), or None (``labelled=False``) for a
    flat folder. Images are decoded and resized as they stream (``luring_tf.data.streams.decode_image``).

    Args:
        path: the folder (one sub-folder per class, or images directly).
        image_shape: ``(H, W, C)`` each image becomes, C 1 or 3.
        test_size: the seeded hold-out: a number of images (int) or a fraction (float).
        val_fraction: share of the rest kept for validation.
        seed: the seed of both splits.

    Returns:
        The dataset; unreadable files are left out and listed in ``skipped``.

    Raises:
        UserError: a missing folder, a mixed layout, no readable image, or a split that leaves a part empty.

    Example:
        >>> data = load_image_folder("my_images", image_shape=(64, 64, 3), test_size=0.2)
        >>> x = data.images("test", limit=100)      # float32 [100,64,64,3] in [0,1]
    """
    shape = check_shape(image_shape)
    check_test_size(test_size)
    folder = Path(path).expanduser()
    if not folder.is_dir():
        problem = "is a file, not a folder" if folder.exists() else "does not exist"
        raise UserError(f"--data-dir {path} {problem}: pass a folder holding {WHAT_IT_HOLDS}")
    files, labels, classes = find_images(folder)
    ok = readable(files, shape[2])
    skipped = int((~ok).sum())
    if not ok.any():
        found = f"its {len(files)} .jpg/.jpeg/.png files are all unreadable" if files else "it holds no .jpg/.jpeg/.png file"
        raise UserError(f"--data-dir {path} has no readable image ({found}): pass a folder holding {WHAT_IT_HOLDS}")
    if skipped:
        bad = [str(f.relative_to(folder)) for f, good in zip(files, ok) if not good]
        print(f"luring-tf: skipped {skipped} unreadable image file(s) in {folder}: {', '.join(bad[:5])}"
              f"{', ...' if skipped > 5 else ''}", file=sys.stderr)
    files = [f for f, good in zip(files, ok) if good]
    labels = None if labels is None else labels[ok]
    rest, test = split_indices(len(files), test_size, seed)
    train, val = split_indices(len(rest), val_fraction, seed)
    train, val = rest[train], rest[val]
    split_files = {name: tuple(str(files[i]) for i in idx) for name, idx in (("train", train), ("val", val),
                                                                             ("test", test))}
    pick = (lambda idx: None) if labels is None else (lambda idx: labels[idx])
    kind = f"{len(classes)} classes" if classes else "unlabeled"
    source = (f"image folder {folder} ({len(files)} images, {kind}; train {len(train)}, val {len(val)}, "
              f"test hold-out {len(test)} (seed {seed}); {skipped} unreadable skipped; "
              f"resized to {shape[0]}x{shape[1]}x{shape[2]})")
    return Dataset(name="folder", x_train=None, y_train=pick(train), x_val=None, y_val=pick(val), x_test=None,
                   y_test=pick(test), source=source, labelled=labels is not None, files=split_files,
                   image_shape=shape, class_names=classes, skipped=skipped,
                   holdout={"seed": int(seed),
                            "test_size": test_size if isinstance(test_size, float) else int(test_size),
                            "images": len(files)})
