"""CIFAR-10 in the official "python version" batches (cs.toronto.edu/~kriz/cifar.html).

Accepted layouts, in this order: `DIR/cifar-10-batches-py/`, `DIR` itself being that folder, or the archive
`DIR/cifar-10-python.tar.gz` (read in memory, nothing extracted). Batches data_batch_1..5 are concatenated in
order, as `keras.datasets.cifar10` does, so the train/val split equals the original's.
"""

from __future__ import annotations

import io
import pickle
import tarfile
import warnings
import zlib
from pathlib import Path

import numpy as np

from luring_tf.data.checks import bad_file, check_images, check_labels
from luring_tf.data.dataset import OfficialSplits
from luring_tf.errors import UserError

FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
EXPECTED_FILES = f"{ARCHIVE} or the extracted {FOLDER}/ ({', '.join(TRAIN_BATCHES)}, {TEST_BATCH})"

# The batches are pickles of {b'data': ndarray, b'labels': list}; nothing else may be loaded from them.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (not a CIFAR-10 batch)")
        with warnings.catch_warnings():  # numpy 2 warns about the numpy.core alias used by old pickles
            warnings.simplefilter("ignore", DeprecationWarning)
            return super().find_class(module, name)


def parse_batch(raw: bytes, where: Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickled CIFAR-10 batch -> images and labels.

    Args:
        raw: the batch file's bytes.
        where: the file (named in errors).

    Returns:
        (uint8 [N,32,32,3], int64 [N] in 0..9).

    Raises:
        UserError: the bytes are not a CIFAR-10 batch (only plain data is unpickled).
    """
    try:
        batch = _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as e:  # truncated or foreign pickles raise many types
        raise bad_file(where, f"is not a readable CIFAR-10 batch ({type(e).__name__}: {e})") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise bad_file(where, "lacks the keys b'data' and b'labels' of a CIFAR-10 batch")
    data = np.asarray(batch[b"data"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise bad_file(where, f"b'data' is {data.dtype} {data.shape}, expected uint8 (N, 3072)")
    # Rows are channel-first (1024 R, 1024 G, 1024 B values, each row-major).
    x = check_images(np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)), where, (32, 32, 3))
    return x, check_labels(np.asarray(batch[b"labels"]), where, len(x))


def _batch_folder(data_dir: Path) -> Path | None:
    for folder in (data_dir / FOLDER, data_dir):
        if any((folder / name).is_file() for name in (*TRAIN_BATCHES, TEST_BATCH)):
            return folder
    return None


def has_files(data_dir: Path) -> bool:
    """Whether ``data_dir`` holds any CIFAR-10 batch or the archive (then ``read`` succeeds or says what is wrong).

    Args:
        data_dir: the folder.

    Returns:
        True if a ``data_batch_*``, ``test_batch`` or ``cifar-10-python.tar.gz`` is there.
    """
    return _batch_folder(data_dir) is not None or (data_dir / ARCHIVE).is_file()


def _read_folder(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    missing = [name for name in (*TRAIN_BATCHES, TEST_BATCH) if not (folder / name).is_file()]
    if missing:
        raise UserError(f"CIFAR10 batches missing in {folder}: {', '.join(missing)}; re-extract {ARCHIVE}")
    return {name: parse_batch((folder / name).read_bytes(), folder / name) for name in (*TRAIN_BATCHES, TEST_BATCH)}


def _read_archive(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    batches = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for name in (*TRAIN_BATCHES, TEST_BATCH):
                try:
                    member = tar.extractfile(f"{FOLDER}/{name}")
                except KeyError:
                    member = None
                if member is None:
                    raise bad_file(path, f"lacks {FOLDER}/{name}")
                batches[name] = parse_batch(member.read(), path / FOLDER / name)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise bad_file(path, f"is not a readable .tar.gz ({e})") from None
    return batches


def read(data_dir: Path) -> OfficialSplits:
    """The official CIFAR-10 train (50,000) and test (10,000) sets from ``data_dir``, in the official order.

    Args:
        data_dir: a folder with ``data_batch_1..5`` and ``test_batch`` (or ``cifar-10-batches-py/``, or the archive).

    Returns:
        ``luring_tf.data.dataset.OfficialSplits`` of uint8 [N,32,32,3] images and int64 [N] labels.

    Raises:
        UserError: a file is missing or damaged (one line naming it).
    """
    folder = _batch_folder(data_dir)
    if folder is not None:
        batches, where = _read_folder(folder), folder
    elif (data_dir / ARCHIVE).is_file():
        batches, where = _read_archive(data_dir / ARCHIVE), data_dir / ARCHIVE
    else:
        raise UserError(f"no CIFAR10 files in {data_dir}: pass --data-dir DIR holding {EXPECTED_FILES}")
    x_train = np.concatenate([batches[name][0] for name in TRAIN_BATCHES])
    y_train = np.concatenate([batches[name][1] for name in TRAIN_BATCHES])
    x_test, y_test = batches[TEST_BATCH]
    return OfficialSplits(x_train, y_train, x_test, y_test, source=f"local files {where} (CIFAR-10 python batches)")
