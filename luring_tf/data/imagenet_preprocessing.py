"""ImageNet's image transforms, applied as the streams read the images (``Dataset.preprocessing == "imagenet"``).

Evaluation (every split, and the train split when it is not shuffled) -- MobileNetV2's standard transform:
decode to 3 channels (grey and CMYK JPEGs converted by the decoder), resize the short side to
``round(S * 256 / 224)`` (bilinear, antialiased; the long side to ``int(R * long / short)``, as
torchvision's ``Resize``), crop the centre S x S (offsets ``round((h - S) / 2)``, half to even, as
torchvision's ``CenterCrop``), float32 [S,S,3] in [0,1]. S = 224 gives the usual resize-256 / crop-224.

Training (the train split streamed with ``shuffle=True``) -- the Inception / torchvision recipe: a random
crop of area ``uniform(0.08, 1)`` of the image's and aspect ratio ``exp(uniform(log 3/4, log 4/3))``, the
first of 10 draws that fits (else the centre crop of the aspect ratio clamped to [3/4, 4/3]), resized to
S x S (bilinear, antialiased), flipped left-right with probability 1/2. The random numbers are stateless
draws keyed by ``(seed, n)``, n = the number of examples the stream produced before this one: the same
seed gives the same batches run after run, and a repeated stream (``repeat=True``, as the trainers use)
runs n on across passes, so each epoch sees new crops. A stream that is not repeated starts n at 0 each
time it is iterated. Departure: torchvision draws from one global generator; the crops differ, their
distribution is the same.

Memory: each image is decoded once, at full size, when it is used. Folder splits shuffle their paths (a
buffer of the whole split: strings only); tfds splits shuffle the encoded JPEG bytes with the bounded
buffer of ``luring_tf.data.streams.shuffle_buffer`` (1,024 images at S = 224).
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from luring_tf.data import streams

ATTEMPTS = 10
AREA = (0.08, 1.0)
RATIO = (3 / 4, 4 / 3)


def resize_side(size: int) -> int:
    """The short side before the centre crop.

    Args:
        size: S, the side of the crop.

    Returns:
        ``round(S * 256 / 224)`` (256 for S = 224).
    """
    return int(round(size * 256 / 224))


def decode(encoded: tf.Tensor) -> tf.Tensor:
    """JPEG/PNG bytes -> uint8 [h,w,3] (grey and CMYK converted to RGB by the decoder).

    Args:
        encoded: a scalar string tensor of the file's bytes.

    Returns:
        uint8 [h,w,3].
    """
    return tf.io.decode_image(encoded, channels=3, expand_animations=False)


def _resize(image: tf.Tensor, height, width) -> tf.Tensor:
    """uint8 or float [h,w,3] -> float32 [height,width,3] in 0..255 (bilinear, antialiased)."""
    resized = tf.image.resize(tf.cast(image, tf.float32), tf.stack([height, width]), antialias=True)
    return tf.clip_by_value(resized, 0.0, 255.0)


def evaluation_transform(image: tf.Tensor, size: int) -> tf.Tensor:
    """Evaluation transform: short side to ``resize_side``, centre crop S x S.

    Args:
        image: uint8 [h,w,3].
        size: S.

    Returns:
        float32 [S,S,3] in [0,1].
    """
    side = resize_side(size)
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    short, long = tf.minimum(height, width), tf.maximum(height, width)
    new_long = (side * long) // short
    wide = width >= height
    new_height = tf.where(wide, side, new_long)
    new_width = tf.where(wide, new_long, side)
    resized = _resize(image, new_height, new_width)
    top = tf.cast(tf.round(tf.cast(new_height - size, tf.float32) / 2), tf.int32)
    left = tf.cast(tf.round(tf.cast(new_width - size, tf.float32) / 2), tf.int32)
    crop = tf.ensure_shape(resized[top:top + size, left:left + size], (size, size, 3))
    return crop / np.float32(255)


def crop_window(height, width, draws: tf.Tensor):
    """The window of the random resized crop of an image ``height`` x ``width``.

    Args:
        height: h of the image.
        width: w of the image.
        draws: float32 [4, ATTEMPTS] uniform in [0,1) (area, log ratio, top, left per attempt).

    Returns:
        (top, left, h, w) int32 scalars.
    """
    area = tf.cast(height * width, tf.float32)
    target = area * (AREA[0] + (AREA[1] - AREA[0]) * draws[0])
    ratio = tf.exp(math.log(RATIO[0]) + (math.log(RATIO[1]) - math.log(RATIO[0])) * draws[1])
    w = tf.cast(tf.round(tf.sqrt(target * ratio)), tf.int32)
    h = tf.cast(tf.round(tf.sqrt(target / ratio)), tf.int32)
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    top = tf.cast(tf.floor(draws[2] * tf.cast(height - h + 1, tf.float32)), tf.int32)
    left = tf.cast(tf.floor(draws[3] * tf.cast(width - w + 1, tf.float32)), tf.int32)
    first = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)
    # no draw fits: the centre crop of the whole image, its aspect ratio clamped to RATIO
    shape_ratio = tf.cast(width, tf.float32) / tf.cast(height, tf.float32)
    fall_w = tf.where(shape_ratio > RATIO[1], tf.cast(tf.round(tf.cast(height, tf.float32) * RATIO[1]), tf.int32),
                      width)
    fall_h = tf.where(shape_ratio < RATIO[0], tf.cast(tf.round(tf.cast(width, tf.float32) / RATIO[0]), tf.int32),
                      height)
    any_fits = tf.reduce_any(fits)
    pick = lambda drawn, fallback: tf.where(any_fits, drawn[first], fallback)  # noqa: E731
    return (pick(top, (height - fall_h) // 2), pick(left, (width - fall_w) // 2), pick(h, fall_h), pick(w, fall_w))


def training_transform(image: tf.Tensor, size: int, seed: tf.Tensor) -> tf.Tensor:
    """Training transform: random resized crop + random horizontal flip, stateless.

    Args:
        image: uint8 [h,w,3].
        size: S.
        seed: int32 [2], the stateless seed of this image's crop and flip.

    Returns:
        float32 [S,S,3] in [0,1].
    """
    draws = tf.random.stateless_uniform([4 * ATTEMPTS + 1], seed=seed, dtype=tf.float32)
    top, left, h, w = crop_window(tf.shape(image)[0], tf.shape(image)[1], tf.reshape(draws[:-1], (4, ATTEMPTS)))
    crop = _resize(image[top:top + h, left:left + w], size, size)
    crop = tf.cond(draws[-1] < 0.5, lambda: tf.reverse(crop, axis=[1]), lambda: crop)
    return tf.ensure_shape(crop, (size, size, 3)) / np.float32(255)


def stream(data, split: str, arrays: list, batch_size: int, *, shuffle: bool = False, seed: int = 0,
           repeat: bool = False, limit: int | None = None, skip: int = 0) -> tf.data.Dataset:
    """Batches ``x`` or ``(x, *extras)`` of an ImageNet split (see ``luring_tf.data.streams.stream``).

    Args:
        data: the ImageNet ``luring_tf.data.dataset.Dataset``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        arrays: one per extra, aligned with the split (None = x again).
        batch_size: images per batch.
        shuffle: shuffled, with the training transform (random crops); else the evaluation transform.
        seed: the shuffle's and the crops' seed.
        repeat: endless.
        limit: only the first images (None: all).
        skip: the first ``skip`` items of the shuffled, repeated sequence are dropped before they are read
            or decoded, and the crop counter keeps counting them, so a resumed training sees the same crops
            as an uninterrupted one.

    Returns:
        A ``tf.data.Dataset`` of float32 [B,S,S,3] in [0,1] (with the extras).
    """
    size = streams.image_shape(data)[0]
    records = streams._split_records(data, split)
    if records is not None:
        items = records.make()
        count, buffer = records.count, streams.shuffle_buffer(records.count, streams.image_shape(data))
        encoded = items.element_spec.dtype == tf.string  # imagenet.py's records: the stored JPEG bytes
        read = (lambda item: decode(item)) if encoded else (lambda item: item)
    else:
        paths = np.asarray(streams._split_files(data, split), dtype=str)
        items = tf.data.Dataset.from_tensor_slices(paths)
        count = buffer = len(paths)
        read = lambda item: decode(tf.io.read_file(item))  # noqa: E731
    ds = tf.data.Dataset.zip((items, tf.data.Dataset.range(count)))
    if limit is not None:
        ds = ds.take(limit)
    if shuffle:
        ds = ds.shuffle(max(buffer, 1), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    augment, key = shuffle and split == "train", tf.constant(int(seed), tf.int64)

    def prepare(n, item_and_index):
        item, i = item_and_index
        image = read(item)
        x = training_transform(image, size, tf.stack([key, n])) if augment else evaluation_transform(image, size)
        return x, i

    ds = ds.enumerate()
    if skip:
        ds = ds.skip(int(skip))
    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return streams.with_extras_by_index(ds, arrays, batch_size)


def images(data, split: str, limit: int, batch_size: int = 256) -> np.ndarray:
    """The first ``limit`` images of ``split`` under the evaluation transform, in memory.

    Args:
        data: the ImageNet ``luring_tf.data.dataset.Dataset``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        limit: how many.
        batch_size: images decoded per batch.

    Returns:
        float32 [N,S,S,3] in [0,1].
    """
    batches = stream(data, split, [], batch_size, limit=limit)
    return np.concatenate([b.numpy() for b in batches])
