"""Official dataset files in a user folder (`--data-dir`): one reader module per dataset."""

from __future__ import annotations

from pathlib import Path

from luring_tf.data import cifar10_files, mnist_files, svhn_files
from luring_tf.data.dataset import OfficialSplits
from luring_tf.errors import UserError

_READERS = {"mnist": mnist_files, "svhn": svhn_files, "cifar10": cifar10_files}


def expected_files(name: str) -> str:
    """The official file names of ``name``, as a phrase for error messages.

    Args:
        name: ``"mnist"``, ``"svhn"`` or ``"cifar10"``.

    Returns:
        E.g. ``"train_32x32.mat and test_32x32.mat"`` for SVHN.
    """
    return _READERS[name].EXPECTED_FILES


def has_files(name: str, data_dir: str | Path | None) -> bool:
    """Whether ``data_dir`` is a folder holding at least one official file of ``name``.

    Args:
        name: ``"mnist"``, ``"svhn"`` or ``"cifar10"``.
        data_dir: the folder, or None.

    Returns:
        True if one is there (then ``read`` succeeds or says what is wrong).
    """
    return data_dir is not None and Path(data_dir).is_dir() and _READERS[name].has_files(Path(data_dir))


def read(name: str, data_dir: str | Path | None) -> OfficialSplits:
    """The official train/test sets of ``name`` from ``data_dir``, in the official order.

    Args:
        name: ``"mnist"``, ``"svhn"`` or ``"cifar10"``.
        data_dir: the folder of the official files.

    Returns:
        ``luring_tf.data.dataset.OfficialSplits`` of uint8 images and int64 labels.

    Raises:
        UserError: the files are absent or damaged.
    """
    if data_dir is None:
        raise UserError(f"source 'files' needs a folder: pass --data-dir DIR holding {expected_files(name)}")
    folder = Path(data_dir).expanduser()
    if not folder.is_dir():
        raise UserError(f"--data-dir {data_dir} is not a folder; pass a folder holding {expected_files(name)}")
    return _READERS[name].read(folder)
