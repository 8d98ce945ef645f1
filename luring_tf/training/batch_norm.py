"""BatchNormalization statistics that match the weights being evaluated (issue 22's root cause).

A component P with BatchNormalization layers (Tables 6, 7, 15) trains with *batch* statistics but is
validated, selected, tested and saved in inference mode, with its *moving* statistics. Keras updates those
with momentum 0.99, so after ``s`` training steps they are still ``0.99**s`` of their initial values
(mean 0, variance 1): 37 % after 100 steps, and a deep stack compounds the error. On the svhn quick
profile (100 steps) the Table 6 P of a real 40x40 colour classifier agreed with M on 0.95 of the
validation images with batch statistics and on 0.16 with its moving ones (its output image nearly
constant: per-pixel std over images 0.003 against 0.16): training agreement 0.95, validation at chance.

:func:`recalibrate` sets every BatchNormalization layer's moving mean and variance to the average batch
statistics of P on a fixed set of training images ("precise BN"), with Dropout off (what inference sees)
and the trainable weights untouched. :class:`~luring_tf.training.trainers.ComponentTrainer` does it before
every evaluation, so the validation agreement that selects P is the agreement of the P that is saved.
A P without BatchNormalization is left exactly as it is (the MNIST component: bit-identical results).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

MAX_IMAGES = 512  # calibration images (the first of the train split, in its stored order)
MAX_BYTES = 64 << 20  # ... and at most this much float32 in memory (large images get fewer)


def batch_norm_layers(model: keras.Model) -> list:
    """``model``'s BatchNormalization layers, nested models included, in call order."""
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, keras.layers.BatchNormalization)]


def calibration_count(image_shape, batch_size: int, available: int) -> int:
    """How many training images calibrate P: up to :data:`MAX_IMAGES` and :data:`MAX_BYTES`, >= one batch."""
    per_image = 4 * int(np.prod(image_shape))
    count = min(MAX_IMAGES, max(int(batch_size), MAX_BYTES // per_image))
    return int(min(available, count))


def recalibrate(model: keras.Model, images: np.ndarray, batch_size: int) -> int:
    """Moving statistics of ``model``'s BatchNormalization layers := the mean of its batch statistics on ``images``.

    ``images``: float32 [N,H,W,C] (P's inputs, [0,1]); batches of ``batch_size`` (full batches only, at least
    one). Dropout is off and only the moving statistics change. Returns the number of layers recalibrated
    (0: ``model`` has none, nothing is run).
    """
    norms = batch_norm_layers(model)
    if not norms or len(images) == 0:
        return 0
    drops = [layer for layer in model._flatten_layers(include_self=False, recursive=True)
             if isinstance(layer, keras.layers.Dropout)]
    momenta, rates = [layer.momentum for layer in norms], [layer.rate for layer in drops]
    batch = max(1, min(int(batch_size), len(images)))
    try:
        for layer in drops:
            layer.rate = 0.0
        for i, start in enumerate(range(0, len(images) - batch + 1, batch)):
            for layer in norms:  # cumulative mean: batch i gets weight 1/(i+1)
                layer.momentum = i / (i + 1.0)
            model(tf.constant(images[start:start + batch]), training=True)
    finally:
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum
        for layer, rate in zip(drops, rates):
            layer.rate = rate
    return len(norms)
