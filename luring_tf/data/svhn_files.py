"""SVHN cropped digits in the official MATLAB files `train_32x32.mat` / `test_32x32.mat` (ufldl.stanford.edu).

Each file holds X: uint8 (32,32,3,N) and y: (N,1) with labels 1..10, where 10 means digit 0. The files keep the
official order, which the original split assumes (tensorflow-datasets' `svhn_cropped` is in another order).
`extra_32x32.mat` is not used, as in the paper.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from luring_tf.data.checks import bad_file, check_images, check_labels
from luring_tf.data.dataset import OfficialSplits
from luring_tf.errors import UserError

MAT_NAMES = ("train_32x32.mat", "test_32x32.mat")
EXPECTED_FILES = ", ".join(MAT_NAMES)


def has_files(data_dir: Path) -> bool:
    """Whether ``data_dir`` holds any SVHN file (then ``read`` either succeeds or says what is wrong).

    Args:
        data_dir: the folder.

    Returns:
        True if ``train_32x32.mat`` or ``test_32x32.mat`` is there.
    """
    return any((data_dir / name).is_file() for name in MAT_NAMES)


def read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One official SVHN ``.mat`` file -> images and labels (label 10 -> 0).

    Args:
        path: the file.

    Returns:
        (uint8 [N,32,32,3], int64 [N] in 0..9).

    Raises:
        UserError: the file is not a readable SVHN ``.mat`` file.
    """
    import scipy.io  # local: only this source needs scipy

    try:
        mat = scipy.io.loadmat(str(path), variable_names=["X", "y"])
    except NotImplementedError:  # MATLAB v7.3 (HDF5) files
        raise bad_file(path, "is a MATLAB v7.3 file, expected the official v5 .mat") from None
    except Exception as e:  # scipy raises many types for damaged files; all mean the same to the user
        raise bad_file(path, f"is not a readable .mat file ({type(e).__name__}: {e})") from None
    for key in ("X", "y"):
        if key not in mat:
            raise bad_file(path, f"lacks the variable '{key}' (expected X (32,32,3,N) and y (N,1))")
    x = mat["X"]
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise bad_file(path, f"X has shape {x.shape}, expected (32, 32, 3, N)")
    x = check_images(np.ascontiguousarray(np.transpose(x, (3, 0, 1, 2))), path, (32, 32, 3))
    y = check_labels(mat["y"], path, len(x), low=0, high=10)
    y[y == 10] = 0
    return x, y


def read(data_dir: Path) -> OfficialSplits:
    """The official SVHN train (73,257) and test (26,032) sets from ``data_dir``.

    Args:
        data_dir: the folder of ``train_32x32.mat`` and ``test_32x32.mat``.

    Returns:
        ``luring_tf.data.dataset.OfficialSplits`` of uint8 [N,32,32,3] images and int64 [N] labels.

    Raises:
        UserError: a file is missing or damaged.
    """
    missing = [name for name in MAT_NAMES if not (data_dir / name).is_file()]
    if missing:
        raise UserError(
            f"SVHN files missing in {data_dir}: {', '.join(missing)}; pass --data-dir DIR holding {EXPECTED_FILES}"
        )
    x_train, y_train = read_mat(data_dir / MAT_NAMES[0])
    x_test, y_test = read_mat(data_dir / MAT_NAMES[1])
    return OfficialSplits(x_train, y_train, x_test, y_test, source=f"local files {data_dir} ({EXPECTED_FILES})")
