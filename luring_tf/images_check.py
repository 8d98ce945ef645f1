"""The one check of the images a user hands to the public entry points (protect, evaluate, detect, export).

:func:`check_images` turns ``x`` into float32 [N,H,W,C] or raises a one-line ``UserError`` naming the
argument, the problem and the fix, in this order:

1. a NumPy array (or an object NumPy converts, e.g. a ``tf.Tensor``): a Python list or tuple is refused
   (``np.asarray(x, np.float32)`` is the fix) -- a nested list's shape is the caller's to decide;
2. a float dtype (float16/32/64, converted to float32). Integer and bool images are **refused, never
   rescaled**: 8-bit images could be in 0..255 or already in the model's units, and guessing wrong
   gives "everything is an attack"; the message gives the conversion for the declared range
   (``x.astype(np.float32) / 255`` for [0,1]);
3. rank 4 ([N,H,W,C]; one image ``x`` is ``x[None]``), then (H,W,C) equal to the model's input;
4. at least one image;
5. finite values (:func:`luring_tf.finite.check_finite`, the package's NaN/Inf check);
6. values inside the declared input range (:class:`~luring_tf.input_range.InputRange`; per channel
   for ``mean=...:std=...``), with a tolerance of :data:`RANGE_TOLERANCE` of the range's width for
   rounding and resampling overshoot; the message names the range and the observed min/max.

Which range: ``detect`` takes images in the model's own input range (``protected.input_range``);
``protect``, ``evaluate`` and ``export``'s test images are luring-tf data, [0,1] whatever the model
takes (the range is folded into the models), so they are checked against [0,1] (:data:`UNIT`).
:func:`check_data` runs the check on each in-memory split of a Dataset (streamed sources are decoded
by luring-tf into [0,1] and are not re-read). :func:`check_batch_shape` is the cheap part alone, for
:mod:`luring_tf.inference`. :func:`graph_check` is the finite and range part as TensorFlow ops, for the
SavedModel's own signatures (TF Serving callers get an ``InvalidArgumentError`` naming the problem).
"""

from __future__ import annotations

import numpy as np

from luring_tf.errors import UserError
from luring_tf.finite import check_finite
from luring_tf.input_range import InputRange, parse_input_range

RANGE_TOLERANCE = 0.01  # fraction of the input range's width a value may lie outside it
UNIT = parse_input_range("0,1")


def _batch(image_shape) -> str:
    return "[N, H, W, C]" if image_shape is None else f"[N, {', '.join(str(d) for d in image_shape)}]"


def from_uint8(input_range: InputRange) -> str:
    """The expression converting 8-bit images ``x`` (0..255) to ``input_range``, for messages."""
    if input_range.is_identity():
        return "x.astype(np.float32) / 255"
    if input_range.scale == (255.0,) and input_range.offset == (0.0,):
        return "x.astype(np.float32)"
    return "protected.input_range.to_model_units(x.astype(np.float32) / 255)"


def check_batch_shape(x, argument: str, image_shape=None) -> None:
    """``x`` (an array) is a batch [N,H,W,C] of images of ``image_shape`` (None entries: any), else ``UserError``."""
    shape = tuple(np.shape(x))
    if len(shape) != 4:
        raise UserError(f"{argument} has shape {shape} (rank {len(shape)}): give a batch of images "
                        f"{_batch(image_shape)} (one image x: x[None])")
    if image_shape is not None and any(want is not None and int(want) != got
                                       for want, got in zip(image_shape, shape[1:])):
        want = tuple(image_shape)
        raise UserError(f"{argument} holds images of shape {shape[1:]}, the model takes {want}: resize them to "
                        f"{want[0]}x{want[1]} with {want[2]} channel(s) (e.g. tf.image.resize), or pass the "
                        "model they were made for")


def _span(input_range: InputRange, channels: int) -> tuple[np.ndarray, np.ndarray]:
    low, high = (np.broadcast_to(np.asarray(v, np.float64), (channels,)) for v in input_range.span())
    return low, high


def _range_words(input_range: InputRange) -> str:
    if input_range is UNIT or input_range.is_identity():
        return "[0, 1]"
    low, high = input_range.span()
    if len(low) > 1:
        return f"[{input_range.text}]"
    if "=" not in input_range.text:  # MIN,MAX
        return f"[{low[0]:g}, {high[0]:g}]"
    return f"[{input_range.text}] = [{low[0]:g}, {high[0]:g}]"


def check_range(x: np.ndarray, argument: str, input_range: InputRange = UNIT) -> None:
    """Every value of ``x`` (finite float [N,H,W,C]) lies in ``input_range`` ± the tolerance, else ``UserError``."""
    channels = x.shape[-1]
    input_range.check_channels(channels, argument)
    low, high = _span(input_range, channels)
    tol = RANGE_TOLERANCE * (high - low)
    x_min, x_max = x.min(axis=(0, 1, 2)).astype(np.float64), x.max(axis=(0, 1, 2)).astype(np.float64)
    bad = np.flatnonzero((x_min < low - tol) | (x_max > high + tol))
    if not len(bad):
        return
    c = int(bad[0])
    where = f"channel {c} of {argument}" if len(input_range.scale) > 1 else argument
    bounds = f" (this channel: [{low[c]:g}, {high[c]:g}])" if len(input_range.scale) > 1 else ""
    if input_range is UNIT:
        fix = ("luring-tf's data are [0,1] images whatever the model takes (its input range is folded into the "
               "models): scale them, e.g. x / 255 for 8-bit pixel values")
    else:
        hint = " (x / 255 for 8-bit pixel values)" if x_max[c] > 1 >= high[c] else ""
        fix = (f"scale them into the model's input range{hint}, or, if the model takes these values, protect it "
               "with the input_range (--input-range) it uses")
    raise UserError(f"{where} holds values in [{x_min[c]:g}, {x_max[c]:g}], outside the input range "
                    f"{_range_words(input_range)}{bounds} (tolerance {tol[c]:g}): {fix}")


def check_images(x, argument: str, image_shape=None, input_range: InputRange | None = None) -> np.ndarray:
    """``x`` as float32 [N,H,W,C] after every check of the module docstring, else a one-line ``UserError``.

    ``argument``: how the message names ``x`` (e.g. ``"x of luring_tf.detect"``); ``image_shape``:
    the model's (H,W,C) (None: any); ``input_range``: the range the values must lie in (default [0,1]).
    """
    rng = UNIT if input_range is None else input_range
    if isinstance(x, (list, tuple)):
        raise UserError(f"{argument} is a Python {type(x).__name__}: give a NumPy array of float32 images "
                        f"{_batch(image_shape)} in {_range_words(rng)}, e.g. np.asarray(x, np.float32)")
    try:
        x = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{argument} ({type(x).__name__}) is not an array ({exc}): give a NumPy array of float32 "
                        f"images {_batch(image_shape)}") from None
    if x.dtype.kind in "uib":
        raise UserError(f"{argument} has dtype {x.dtype}: give float32 images in {_range_words(rng)}; for 8-bit "
                        f"pixel values 0..255 use {from_uint8(rng)}")
    if x.dtype.kind != "f":
        raise UserError(f"{argument} has dtype {x.dtype}: give a NumPy array of float32 images {_batch(image_shape)}")
    check_batch_shape(x, argument, image_shape)
    if x.shape[0] == 0:
        raise UserError(f"{argument} holds no images (shape {x.shape}): give at least one image")
    check_finite(x, argument, "replace or drop those images (np.isfinite(x).all(axis=(1, 2, 3)) keeps the "
                              "finite ones)")
    check_range(x, argument, rng)
    return x.astype(np.float32, copy=False)


def check_data(data, argument: str, image_shape=None, splits=("train", "val", "test")) -> None:
    """Each in-memory split of ``splits`` of the Dataset ``data``: [0,1] images of ``image_shape``.

    An array ``data`` is checked whole. Splits read from files as they stream (``None`` arrays) are
    decoded by luring-tf into [0,1] and are not read here.
    """
    if not hasattr(data, "x_test") and not hasattr(data, "images"):
        check_images(data, argument, image_shape)
        return
    for split in splits:
        x = getattr(data, f"x_{split}", None)
        if x is not None:
            check_images(x, f"the {split} images of {argument}", image_shape)


def graph_check(images, input_range: InputRange):
    """``images`` (a float32 tensor [N,H,W,C] in ``input_range``) with TensorFlow assertions: finite, in range.

    For the SavedModel's signatures: a call on NaN or out-of-range images fails with an
    ``InvalidArgumentError`` naming the problem instead of answering. Same tolerance as :func:`check_range`.
    """
    import tensorflow as tf

    channels = int(images.shape[-1])
    low, high = _span(input_range, channels)
    tol = RANGE_TOLERANCE * (high - low)
    words = _range_words(input_range)
    images = tf.debugging.assert_all_finite(images, "images hold NaN or Inf: give finite float32 images")
    checks = [tf.debugging.assert_greater_equal(images, tf.constant(low - tol, tf.float32),
                                                message=f"images hold values below the input range {words}"),
              tf.debugging.assert_less_equal(images, tf.constant(high + tol, tf.float32),
                                             message=f"images hold values above the input range {words}")]
    with tf.control_dependencies(checks):
        return tf.identity(images)
