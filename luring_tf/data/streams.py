"""`tf.data` pipelines of one split of a data set, backed by arrays or by image files.

    stream(data, "train", 64, extras=("labels",), shuffle=True, seed=0, repeat=True)  # (x, y) batches, endless
    stream(data, "val", 500)                                                           # x batches, one pass

Three backings. Array-backed splits (official files, tfds for the paper's sets, the MNIST sample):
``from_tensor_slices`` over the arrays,
shuffled with a buffer of the whole split and ``seed`` -- exactly the pipeline the trainers built before
streams existed, so batches are bit-identical and in the same order. File-backed splits (image folders):
the same pipeline over the file paths (the shuffle's order depends only on the split's length and the
seed, so equal images in files and in arrays give equal batches), each file decoded -> resized -> float32
[0,1] in parallel (order kept), then batched. Only the paths and the extras are held in memory.
Pipeline-backed splits (any tfds set by name, ``luring_tf.data.tfds_any``): a ``Records`` per split
makes the tfds pipeline of uint8 images; images are converted as they come and shuffled with a bounded
buffer (``shuffle_buffer``), each paired with its index so extras (M's logits) follow their image.
ImageNet (``data.preprocessing == "imagenet"``, folder or tfds records of JPEG bytes) streams through
``luring_tf.data.imagenet_preprocessing`` instead: centre crops, and random crops + flips for shuffled
training batches (``train_is_augmented``).

Array- and file-backed streams run with tf.data's autotuning off (``untuned``): same batches, same
order, without a stall of up to a minute at the end of every ``fit``.
"""

from __future__ import annotations

import hashlib

import numpy as np
import tensorflow as tf

SPLITS = ("train", "val", "test")


class Records:
    """One split of a pipeline-backed source: ``count`` images, ``make()`` -> tf.data of uint8 [h,w,c] images
    (always in the same order); ``key`` names it (for ``content_key``)."""

    def __init__(self, count: int, make, key: str):
        self.count, self.make, self.key = int(count), make, key

    def __len__(self) -> int:
        return self.count


def _split_files(data, split: str):
    files = getattr(data, "files", None)
    return None if files is None or isinstance(files[split], Records) else files[split]


def _split_records(data, split: str) -> Records | None:
    files = getattr(data, "files", None)
    return files[split] if files is not None and isinstance(files[split], Records) else None


def size(data, split: str) -> int:
    """Number of images in ``split`` of ``data``.

    Args:
        data: a ``luring_tf.data.dataset.Dataset``.
        split: ``"train"``, ``"val"`` or ``"test"``.

    Returns:
        The count.
    """
    files = getattr(data, "files", None)
    return len(files[split]) if files is not None else len(getattr(data, f"x_{split}"))


def train_is_augmented(data) -> bool:
    """Whether shuffled training batches are random crops (ImageNet).

    An image's x then changes from batch to batch, so M's logits on the train split cannot be cached per
    image: compute them per batch.

    Args:
        data: a ``luring_tf.data.dataset.Dataset``.

    Returns:
        True for ImageNet's preprocessing.
    """
    return getattr(data, "preprocessing", None) == "imagenet"


def shuffle_buffer(count: int, shape) -> int:
    """Shuffle buffer of a pipeline-backed split: the whole split up to ~256 MiB of float32 images.

    Args:
        count: images in the split.
        shape: ``(H, W, C)`` of one image.

    Returns:
        The buffer size in images (at least 1024, at most ``count``).
    """
    per_image = 4 * int(np.prod(shape))
    return int(min(count, max(1024, (256 << 20) // per_image)))


def image_shape(data) -> tuple[int, int, int]:
    """``(H, W, C)`` of one image of ``data``.

    Args:
        data: a ``luring_tf.data.dataset.Dataset``.

    Returns:
        The shape as integers.
    """
    shape = getattr(data, "image_shape", None)
    return tuple(shape) if shape else tuple(data.x_train.shape[1:])


def decode_image(path: tf.Tensor, shape: tuple[int, int, int]) -> tf.Tensor:
    """One JPEG/PNG file -> float32 [H,W,C] in [0,1].

    Decoded to C channels (grey <-> RGB by the decoder), then, when its size is not H x W, resized to
    H x W with bilinear interpolation and antialiasing, aspect ratio not kept (no crop), then /255.
    An image already H x W is not resampled: it reads back exactly as ``uint8 / 255``.

    Args:
        path: a scalar string tensor, the file's path.
        shape: ``(H, W, C)``.

    Returns:
        float32 [H,W,C] in [0,1].
    """
    image = tf.io.decode_image(tf.io.read_file(path), channels=shape[2], expand_animations=False)
    return to_unit_image(image, shape)


def to_unit_image(image: tf.Tensor, shape: tuple[int, int, int]) -> tf.Tensor:
    """uint8 [h,w,c] -> float32 [H,W,C] in [0,1]: grey <-> RGB when c != C, resized as ``decode_image``.

    Args:
        image: uint8 [h,w,c].
        shape: ``(H, W, C)``.

    Returns:
        float32 [H,W,C] in [0,1].
    """
    height, width, channels = shape
    image = tf.cast(image, tf.float32)
    if image.shape[-1] == 1 and channels == 3:
        image = tf.image.grayscale_to_rgb(image)
    elif image.shape[-1] == 3 and channels == 1:
        image = tf.image.rgb_to_grayscale(image)
    same = tf.logical_and(tf.equal(tf.shape(image)[0], height), tf.equal(tf.shape(image)[1], width))
    image = tf.cond(same, lambda: image,
                    lambda: tf.clip_by_value(tf.image.resize(image, (height, width), antialias=True), 0.0, 255.0))
    image = tf.ensure_shape(image, (height, width, channels))
    return image / np.float32(255)


def _extra(data, split: str, extra):
    """An extra as an array aligned with the split: "labels" -> y_split; an array as is; "images" -> None."""
    if isinstance(extra, str):
        if extra == "images":
            return None
        if extra == "labels":
            labels = getattr(data, f"y_{split}")
            if labels is None:
                raise ValueError(f"the {split} split has no labels (unlabeled data)")
            return labels
        raise ValueError(f"unknown extra {extra!r}: 'labels', 'images' or an array")
    array = np.asarray(extra)
    if len(array) != size(data, split):
        raise ValueError(f"extra of length {len(array)} for a {split} split of {size(data, split)} images")
    return array


def untuned(ds: tf.data.Dataset) -> tf.data.Dataset:
    """``ds`` with tf.data's autotuning off: the same elements in the same order.

    With autotuning on, every iterator starts a thread that sleeps for periods growing up to a minute, and
    deleting the iterator waits until it wakes: a training ended with an idle wait of 0 to 60 s. An
    in-memory or per-file pipeline has little to tune.

    Args:
        ds: a ``tf.data.Dataset``.

    Returns:
        The same pipeline with ``autotune`` disabled in its options.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def stream(data, split: str, batch_size: int, *, extras=(), shuffle: bool = False, seed: int = 0,
           repeat: bool = False, skip: int = 0) -> tf.data.Dataset:
    """Batches of ``split``: ``x`` alone, or ``(x, *extras)`` when ``extras`` are given.

    Array- and file-backed streams are prefetched and ``untuned``. ImageNet splits skip exactly
    (before decoding, the crop counter kept); other pipeline-backed splits (``--tfds``) cannot skip without
    converting every image: with ``skip`` they start a new order instead (the shuffle seeded by ``seed``
    and ``skip``), so a resumed run is not bit-identical.

    Args:
        data: a ``luring_tf.data.dataset.Dataset``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        batch_size: images per batch.
        extras: each ``"labels"`` (the split's int64 labels), ``"images"`` (x again, for autoencoders) or an
            array with one row per image (e.g. M's logits).
        shuffle: one buffer of the whole split, seeded, reshuffled on each pass.
        seed: the shuffle's seed.
        repeat: endless.
        skip: the first ``skip`` images of the (shuffled, repeated) sequence are left out before they are
            decoded, so a resumed training continues where it stopped (``luring_tf.training.checkpoints``).

    Returns:
        A ``tf.data.Dataset`` of float32 [B,H,W,C] in [0,1], or of ``(x, *extras)`` tuples.

    Raises:
        ValueError: an unknown split or extra, labels of an unlabeled split, or an extra of the wrong length.

    Example:
        >>> ds = stream(data, "train", 64, extras=("labels",), shuffle=True, seed=0, repeat=True)
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: choose one of {SPLITS}")
    arrays = [_extra(data, split, e) for e in extras]
    if train_is_augmented(data):
        from luring_tf.data import imagenet_preprocessing

        return imagenet_preprocessing.stream(data, split, arrays, batch_size, shuffle=shuffle, seed=seed,
                                             repeat=repeat, skip=skip)
    records = _split_records(data, split)
    if records is not None:
        seed = seed if not skip else int.from_bytes(hashlib.sha256(repr((seed, skip)).encode()).digest()[:4], "big")
        return _records_stream(records, image_shape(data), arrays, batch_size, shuffle, seed, repeat)
    paths = _split_files(data, split)
    if paths is None:
        x = getattr(data, f"x_{split}")
        columns = [x] + [x if a is None else a for a in arrays]
    else:
        columns = [np.asarray(paths, dtype=str)] + [a for a in arrays if a is not None]
    ds = tf.data.Dataset.from_tensor_slices(columns[0] if len(columns) == 1 else tuple(columns))
    if shuffle:
        ds = ds.shuffle(len(columns[0]), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    if skip:
        ds = ds.skip(int(skip))
    if paths is not None:
        ds = ds.map(_decoder(image_shape(data), [a is None for a in arrays]), num_parallel_calls=tf.data.AUTOTUNE,
                    deterministic=True)
    return untuned(ds.batch(batch_size).prefetch(tf.data.AUTOTUNE))


def _records_stream(records: Records, shape, arrays, batch_size, shuffle, seed, repeat) -> tf.data.Dataset:
    """Batches of a pipeline-backed split: images converted, paired with their index, extras gathered by index."""
    ds = tf.data.Dataset.zip((records.make(), tf.data.Dataset.range(records.count)))
    ds = ds.map(lambda image, i: (to_unit_image(image, shape), i), num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    if shuffle:
        ds = ds.shuffle(shuffle_buffer(records.count, shape), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return with_extras_by_index(ds, arrays, batch_size)


def with_extras_by_index(ds: tf.data.Dataset, arrays, batch_size: int) -> tf.data.Dataset:
    """``(x, index)`` elements -> batches of ``x`` or ``(x, *extras)``, each extra row gathered by the image's index.

    Args:
        ds: a ``tf.data.Dataset`` of ``(x, index)`` elements.
        arrays: the extras, one row per image of the split (None = x again).
        batch_size: images per batch.

    Returns:
        The batched, prefetched ``tf.data.Dataset``.
    """
    tables = [None if a is None else tf.constant(a) for a in arrays]
    if tables:
        ds = ds.map(lambda x, i: (x, *[x if t is None else tf.gather(t, i) for t in tables]))
    else:
        ds = ds.map(lambda x, i: x)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _decoder(shape, is_image):
    """Map (path, *extras) -> (x, *extras) with x repeated where an extra is "images"."""

    def decode(*row):
        x = decode_image(row[0], shape)
        rest, out = list(row[1:]), []
        for image in is_image:
            out.append(x if image else rest.pop(0))
        return (x, *out) if out else x

    return decode


def images(data, split: str, limit: int | None = None, batch_size: int = 256) -> np.ndarray:
    """The first ``limit`` images of ``split`` in memory (evaluation and attack sets: a few thousand images at most).

    Args:
        data: a ``luring_tf.data.dataset.Dataset``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        limit: how many (all when None).
        batch_size: images decoded per batch.

    Returns:
        float32 [N,H,W,C] in [0,1].
    """
    files = getattr(data, "files", None)
    if files is None:
        x = getattr(data, f"x_{split}")
        return x if limit is None else x[:limit]
    n = len(files[split]) if limit is None else min(limit, len(files[split]))
    shape = image_shape(data)
    if n == 0:
        return np.zeros((0, *shape), np.float32)
    if train_is_augmented(data):
        from luring_tf.data import imagenet_preprocessing

        return imagenet_preprocessing.images(data, split, n, batch_size)
    if isinstance(files[split], Records):
        batches = files[split].make().take(n).map(lambda image: to_unit_image(image, shape),
                                                  num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        batches = tf.data.Dataset.from_tensor_slices(np.asarray(files[split][:n], dtype=str)).map(
            _decoder(shape, []), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    batches = batches.batch(batch_size)
    return np.concatenate([b.numpy() for b in batches.prefetch(tf.data.AUTOTUNE)])


def content_key(data, split: str) -> bytes:
    """Bytes that identify the images of ``split`` (their pixels for arrays, their paths for files).

    Args:
        data: a ``luring_tf.data.dataset.Dataset``.
        split: ``"train"``, ``"val"`` or ``"test"``.

    Returns:
        Bytes to hash (e.g. into a cache key).
    """
    files = getattr(data, "files", None)
    digest = hashlib.sha256()
    preprocessing = getattr(data, "preprocessing", None)
    if preprocessing is not None:  # other transforms of the same files are other images
        digest.update(f"preprocessing {preprocessing}".encode())
    if files is not None and isinstance(files[split], Records):
        digest.update(repr((files[split].key, image_shape(data))).encode())
        return digest.digest()
    paths = _split_files(data, split)
    if paths is None:
        array = np.ascontiguousarray(getattr(data, f"x_{split}"))
        digest.update(str((array.shape, array.dtype.str)).encode())
        digest.update(array.tobytes())
    else:
        digest.update(repr((tuple(map(str, paths)), image_shape(data))).encode())
    return digest.digest()
