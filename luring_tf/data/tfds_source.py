"""tensorflow-datasets as a source: `mnist`, `svhn_cropped`, `cifar10`.

Data dir: `data_dir`, else the env var TFDS_DATA_DIR, else tfds's default (~/tensorflow_datasets).
Downloads: tried only when `LURING_TF_ALLOW_DOWNLOAD` is not "0" (default: allowed); set it to "0" on machines
where a download could hang. A failed download is a `UserError`, never a traceback.

Order: tfds shuffles examples when it prepares a dataset, so its order is not the official one (for
`svhn_cropped` neither is its source: the .mat files). The 0.17 train/val split of the original code is therefore
reproduced exactly only from the official files (`source="files"`); from tfds it is an equally sized, different
split.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

import numpy as np

from luring_tf.data.checks import check_images, check_labels
from luring_tf.data.dataset import IMAGE_SHAPES, OfficialSplits
from luring_tf.errors import UserError

TFDS_NAMES = {"mnist": "mnist", "svhn": "svhn_cropped", "cifar10": "cifar10"}
ALLOW_DOWNLOAD_ENV = "LURING_TF_ALLOW_DOWNLOAD"


class TfdsUnavailable(UserError):
    """tfds could not deliver the dataset; `reason` is the short cause (the message adds the fix)."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def _import_tfds():
    """The tensorflow_datasets module (a function, so tests can substitute a fake one)."""
    import tensorflow_datasets as tfds

    return tfds


def download_allowed() -> bool:
    """Whether tfds may download: False when ``$LURING_TF_ALLOW_DOWNLOAD`` is ``"0"``.

    Returns:
        True unless downloads are turned off.
    """
    return os.environ.get(ALLOW_DOWNLOAD_ENV, "1").strip() != "0"


def resolve_data_dir(data_dir: str | Path | None) -> str | None:
    """The tfds data folder in effect.

    Args:
        data_dir: the folder given, or None.

    Returns:
        ``data_dir``, else ``$TFDS_DATA_DIR``, else None (tfds's default).
    """
    chosen = data_dir or os.environ.get("TFDS_DATA_DIR") or None
    return str(Path(chosen).expanduser()) if chosen else None


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def is_prepared(name: str, data_dir: str | Path | None) -> bool:
    """Whether tfds already holds a prepared copy of ``name`` (never downloads).

    Args:
        name: the tfds name, e.g. ``"svhn_cropped"``.
        data_dir: the tfds data folder, or None.

    Returns:
        True when the copy can be read as it is.
    """
    try:
        builder = _import_tfds().builder(TFDS_NAMES[name], data_dir=resolve_data_dir(data_dir))
        return Path(builder.data_path).is_dir() and bool(builder.is_prepared())
    except Exception:  # tfds missing or broken: then there is no prepared copy to use
        return False


def read(name: str, data_dir: str | Path | None, download: bool) -> OfficialSplits:
    """The tfds train/test splits of ``name``.

    Args:
        name: ``"mnist"``, ``"svhn"`` or ``"cifar10"``.
        data_dir: the tfds data folder, or None.
        download: whether tfds may download and prepare the set.

    Returns:
        ``luring_tf.data.dataset.OfficialSplits`` of uint8 [N,H,W,C] images and int64 [N] labels.

    Raises:
        TfdsUnavailable: tensorflow-datasets is missing, or the set is not prepared and cannot be downloaded.
    """
    tfds_name = TFDS_NAMES[name]
    folder = resolve_data_dir(data_dir)
    where = f"data_dir={folder or '~/tensorflow_datasets (default)'}"
    try:
        tfds = _import_tfds()
    except ImportError as e:
        reason = f"tensorflow-datasets is not usable ({_one_line(e)})"
        raise TfdsUnavailable(f"{reason}: pip install tensorflow-datasets, or pass --data-dir DIR with the "
                              "official files", reason) from None
    chatter = io.StringIO()  # tfds prints "Downloading and preparing ..."; stdout stays for results
    try:
        with contextlib.redirect_stdout(chatter):
            splits = tfds.load(tfds_name, split=["train", "test"], batch_size=-1, as_supervised=True,
                               data_dir=folder, download=download)
        (x_train, y_train), (x_test, y_test) = tfds.as_numpy(splits)
        sys.stderr.write(chatter.getvalue())  # shown once it is true; a failure stays one line
    except Exception as e:  # network, missing data, damaged records: one line for the user
        action = "download failed" if download else "could not be loaded without downloading"
        if not download and not download_allowed():
            action += f" ({ALLOW_DOWNLOAD_ENV}=0)"
        reason = f"tensorflow-datasets {tfds_name} {action} ({where}): {_one_line(e)}"
        raise TfdsUnavailable(f"{reason}; pass --data-dir DIR with the official files or a prepared tfds folder",
                              reason) from None
    label = f"tfds {tfds_name}"
    parts = []
    for x, y in ((x_train, y_train), (x_test, y_test)):
        x = check_images(np.asarray(x), label, IMAGE_SHAPES[name])
        parts += [x, check_labels(np.asarray(y), label, len(x))]
    return OfficialSplits(*parts, source=f"tensorflow-datasets {tfds_name} ({where})")
