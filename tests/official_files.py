"""Tiny files in the official formats (MNIST IDX, SVHN .mat, CIFAR-10 pickles/tar.gz) for tests.

``pattern=True`` writes learnable images (a bright band whose position encodes the label) so that
models trained for a few steps classify them; otherwise pixels are random.
"""

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import scipy.io

MNIST_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def labelled_images(labels: np.ndarray, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """uint8 images: dim noise plus a bright horizontal band at a row set by the label."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 40, size=(len(labels), *shape), dtype=np.uint8)
    band = shape[0] // 10
    for i, label in enumerate(labels):
        x[i, label * band:(label + 1) * band] = 230
    return x


def random_images(n: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def write_mnist(folder: Path, n_train: int = 100, n_test: int = 20, gz: bool = True, pattern: bool = False):
    """Official IDX files; returns (x_train, y_train, x_test, y_test) as uint8 [N,28,28]."""
    folder.mkdir(parents=True, exist_ok=True)
    y_train, y_test = np.arange(n_train) % 10, (np.arange(n_test) * 3) % 10
    if pattern:
        x_train, x_test = labelled_images(y_train, (28, 28), 1), labelled_images(y_test, (28, 28), 2)
    else:
        x_train, x_test = random_images(n_train, (28, 28), 1), random_images(n_test, (28, 28), 2)
    contents = [idx_bytes(x_train, 2051), idx_bytes(y_train, 2049), idx_bytes(x_test, 2051), idx_bytes(y_test, 2049)]
    for name, data in zip(MNIST_NAMES, contents):
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return x_train, y_train, x_test, y_test


def write_svhn(folder: Path, n_train: int = 60, n_test: int = 12, pattern: bool = False):
    """Official .mat files (X (32,32,3,N) uint8, y (N,1) in 1..10); returns the NHWC arrays and 1..10 labels."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = []
    for name, n, seed in (("train_32x32.mat", n_train, 3), ("test_32x32.mat", n_test, 4)):
        y = (np.arange(n) % 10 + 1).astype(np.uint8)  # 1..10, 10 = digit 0
        x = labelled_images(y % 10, (32, 32, 3), seed) if pattern else random_images(n, (32, 32, 3), seed)
        scipy.io.savemat(folder / name, {"X": np.transpose(x, (1, 2, 3, 0)), "y": y[:, None]})
        arrays += [x, y]
    return arrays


def cifar_batch(n: int, seed: int, first_label: int, pattern: bool = False) -> tuple[dict, np.ndarray]:
    labels_array = (first_label + np.arange(n)) % 10
    x = labelled_images(labels_array, (32, 32, 3), seed) if pattern else random_images(n, (32, 32, 3), seed)
    data = x.transpose(0, 3, 1, 2).reshape(n, 3072)  # channel-first rows, as the official pickles
    labels = [(first_label + i) % 10 for i in range(n)]
    return {b"batch_label": b"batch", b"data": data, b"labels": labels, b"filenames": [b"f.png"] * n}, x


def write_cifar(folder: Path, per_batch: int = 8, archive: bool = False, pattern: bool = False):
    """data_batch_1..5 + test_batch (or cifar-10-python.tar.gz holding them); returns x/y train and test."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    blobs, xs, ys = {}, [], []
    for k, name in enumerate(names):
        batch, x = cifar_batch(per_batch, seed=10 + k, first_label=k, pattern=pattern)
        blobs[name] = pickle.dumps(batch, protocol=2)
        xs.append(x)
        ys.append(np.array(batch[b"labels"]))
    if archive:
        with tarfile.open(folder / "cifar-10-python.tar.gz", "w:gz") as tar:
            for name, blob in blobs.items():
                info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
    else:
        (folder / "cifar-10-batches-py").mkdir()
        for name, blob in blobs.items():
            (folder / "cifar-10-batches-py" / name).write_bytes(blob)
    return np.concatenate(xs[:5]), np.concatenate(ys[:5]), xs[5], ys[5]


