"""The tensorflow-datasets source end to end, offline, through tfds' own builder machinery.

tfds' real `mnist` builder prepares a tiny copy in tmp_path: only its download step is replaced (as tfds' own
`DatasetBuilderTestCase` does) by a function that hands over local files in the official format. Then
luring_tf's `tfds_source.is_prepared` / `read` and `load_dataset(..., "tfds")` read that copy. Any import tfds
needs while preparing (e.g. `importlib_resources` in `DatasetBuilder.code_path`) fails this test, so a fresh
`pip install -e .` that lacks one fails CI instead of every online user's first run.
"""

from __future__ import annotations

import numpy as np
import pytest

from official_files import MNIST_NAMES, write_mnist
from luring_tf.data import load_dataset, tfds_source

N_TRAIN, N_TEST = 30, 10


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A tfds data dir holding `mnist` prepared by tfds' own builder from tiny official IDX files."""
    tfds = pytest.importorskip("tensorflow_datasets")
    from tensorflow_datasets.image_classification import mnist as tfds_mnist

    files_dir = tmp_path_factory.mktemp("mnist_files")
    x_train, y_train, x_test, y_test = write_mnist(files_dir, n_train=N_TRAIN, n_test=N_TEST, gz=False)
    local = dict(zip(("train_data", "train_labels", "test_data", "test_labels"),
                     (str(files_dir / name) for name in MNIST_NAMES)))

    def download_and_extract(self, urls):  # the only step replaced: no network, the files are local
        return {key: local[key] for key in urls}

    data_dir = tmp_path_factory.mktemp("tfds")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tfds_mnist, "_TRAIN_EXAMPLES", N_TRAIN)  # the builder reads 60,000 / 10,000 otherwise
        patch.setattr(tfds_mnist, "_TEST_EXAMPLES", N_TEST)
        patch.setattr(tfds.download.DownloadManager, "download_and_extract", download_and_extract)
        builder = tfds.builder("mnist", data_dir=str(data_dir))
        builder.download_and_prepare()
    return data_dir, (x_train, y_train, x_test, y_test)


def test_tfds_builder_prepares_and_luring_tf_reads_it_offline(prepared, monkeypatch):
    data_dir, (x_train, y_train, x_test, y_test) = prepared
    monkeypatch.setenv("LURING_TF_ALLOW_DOWNLOAD", "0")
    assert tfds_source.is_prepared("mnist", data_dir)
    raw = tfds_source.read("mnist", data_dir, download=False)
    assert raw.x_train.shape == (N_TRAIN, 28, 28, 1) and raw.x_test.shape == (N_TEST, 28, 28, 1)
    assert raw.x_train.dtype == np.uint8 and raw.y_train.dtype == np.int64
    # tfds shuffles when it prepares: compare the sets of (image, label) pairs, not the order.
    def pairs(x, y):
        return sorted((label, image.tobytes()) for image, label in zip(x.reshape(len(x), -1), y))
    assert pairs(raw.x_train, raw.y_train) == pairs(x_train, y_train)
    assert pairs(raw.x_test, raw.y_test) == pairs(x_test, y_test)
    assert "tensorflow-datasets mnist" in raw.source and str(data_dir) in raw.source


def test_load_dataset_tfds_and_auto_use_the_prepared_copy(prepared, monkeypatch):
    data_dir, (_, _, _, y_test) = prepared
    monkeypatch.setenv("LURING_TF_ALLOW_DOWNLOAD", "0")
    monkeypatch.delenv("TFDS_DATA_DIR", raising=False)
    explicit = load_dataset("mnist", "tfds", str(data_dir))
    auto = load_dataset("mnist", "auto", str(data_dir))  # no official files there: the prepared tfds copy
    for ds in (explicit, auto):
        assert "tensorflow-datasets mnist" in ds.source
        assert len(ds.x_train) + len(ds.x_val) == N_TRAIN and len(ds.x_test) == N_TEST
        assert ds.x_test.dtype == np.float32 and 0 <= ds.x_test.min() and ds.x_test.max() <= 1
        np.testing.assert_array_equal(np.sort(ds.y_test), np.sort(y_test))
