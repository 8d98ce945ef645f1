"""MNIST in its official IDX files (yann.lecun.com layout, raw or .gz), or Keras's `mnist.npz`.

The official order is kept, so the train/val split equals the original's (`keras.datasets.mnist` reads the
same files in the same order).
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from luring_tf.data.checks import bad_file, check_images, check_labels
from luring_tf.data.dataset import OfficialSplits
from luring_tf.errors import UserError

IMAGE_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABEL_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
IDX_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
NPZ_NAME = "mnist.npz"
EXPECTED_FILES = ", ".join(f"{name}.gz" for name in IDX_NAMES)


def _find(data_dir: Path, name: str) -> Path | None:
    """`name`, `name.gz`, or the common re-distributed spelling with a dot (`train-images.idx3-ubyte`)."""
    dotted = name.replace("-idx", ".idx")
    for candidate in (data_dir / name, data_dir / f"{name}.gz", data_dir / dotted, data_dir / f"{dotted}.gz"):
        if candidate.is_file():
            return candidate
    return None


def has_files(data_dir: Path) -> bool:
    """Whether ``data_dir`` holds any MNIST file (then ``read`` either succeeds or says what is wrong).

    Args:
        data_dir: the folder.

    Returns:
        True if one of the four IDX files (plain or ``.gz``) is there.
    """
    return (data_dir / NPZ_NAME).is_file() or any(_find(data_dir, name) for name in IDX_NAMES)


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise bad_file(path, f"cannot be read ({e})") from None


def read_idx(path: Path, magic: int, item_shape: tuple[int, ...]) -> np.ndarray:
    """One IDX file -> its array; checks the magic number, the dimensions and the exact byte count.

    Args:
        path: the file (plain or ``.gz``).
        magic: the expected magic number (2051 images, 2049 labels).
        item_shape: the shape of one item (``(28, 28)`` for images, ``()`` for labels).

    Returns:
        uint8 [N, *item_shape].

    Raises:
        UserError: a wrong magic number, wrong dimensions or a truncated file.
    """
    data = _read_bytes(path)
    ndim = 1 + len(item_shape)
    header = 4 + 4 * ndim
    if len(data) < header:
        raise bad_file(path, f"is {len(data)} bytes, shorter than an IDX header (truncated?)")
    found = struct.unpack(">I", data[:4])[0]
    if found != magic:
        kind = "image" if magic == IMAGE_MAGIC else "label"
        raise bad_file(path, f"magic number {found}, expected {magic} (an IDX {kind} file)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    if tuple(dims[1:]) != item_shape:
        raise bad_file(path, f"dimensions {dims}, expected (N, {', '.join(map(str, item_shape))})")
    expected = int(np.prod(dims))
    if len(data) - header != expected:
        raise bad_file(
            path, f"holds {len(data) - header} data bytes, its header announces {expected} (truncated?)"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _read_npz(path: Path) -> OfficialSplits:
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {key: f[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    except KeyError as e:
        raise bad_file(path, f"lacks array {e} (expected x_train, y_train, x_test, y_test)") from None
    except (OSError, ValueError, EOFError, zlib.error) as e:
        raise bad_file(path, f"is not a readable .npz ({e})") from None
    splits = {}
    for part in ("train", "test"):
        x = arrays[f"x_{part}"]
        x = check_images(x[..., None] if x.ndim == 3 else x, path, (28, 28, 1))
        splits[part] = (x, check_labels(arrays[f"y_{part}"], path, len(x)))
    return OfficialSplits(*splits["train"], *splits["test"], source=f"local file {path}")


def read(data_dir: Path) -> OfficialSplits:
    """The official MNIST train (60,000) and test (10,000) sets from ``data_dir``.

    Args:
        data_dir: the folder of the four IDX files.

    Returns:
        ``luring_tf.data.dataset.OfficialSplits`` of uint8 [N,28,28,1] images and int64 [N] labels.

    Raises:
        UserError: a file is missing or damaged.
    """
    paths = [_find(data_dir, name) for name in IDX_NAMES]
    if not any(paths) and (data_dir / NPZ_NAME).is_file():
        return _read_npz(data_dir / NPZ_NAME)
    missing = [name for name, path in zip(IDX_NAMES, paths) if path is None]
    if missing:
        raise UserError(
            f"MNIST files missing in {data_dir}: {', '.join(missing)} (raw or .gz); "
            f"pass --data-dir DIR holding {EXPECTED_FILES}"
        )
    splits = []
    for images_path, labels_path in (paths[:2], paths[2:]):
        x = read_idx(images_path, IMAGE_MAGIC, (28, 28))[..., None]
        y = check_labels(read_idx(labels_path, LABEL_MAGIC, ()), labels_path, len(x))
        splits += [check_images(x, images_path, (28, 28, 1)), y]
    names = ", ".join(path.name for path in paths)
    return OfficialSplits(*splits, source=f"local files {data_dir} ({names})")
