"""ImageNet models of Appendix H.1: M = MobileNetV2 on [0,1] images, and the defense component P (Table 15).

M (``build_classifier``): ``keras.applications.MobileNetV2`` (Sandler et al., 2018), which takes
images in [-1,1]; a built-in ``Rescaling(2, offset=-1)`` in front folds that range in, so M (and
T = M∘P) take [0,1] images like every other model of the port and load in plain Keras. Its last
layer is MobileNetV2's own ``Dense(classes, softmax)`` (the logits view un-fuses it).

P (``build_luring_component``), shape-generic:

Table 15 (for MobileNetV2 on 224x224x3 images in [-1,1]): Conv128-MaxPool-Conv256-MaxPool-
Conv512-MaxPool-Conv512-Conv256-Up-Conv128-Up-Conv64-Conv3, every Conv 3x3 + BN, ReLU and a
final sigmoid. Departures, so that P maps H×W×C back to H×W×C for any H, W, C:

* Table 15 lists three MaxPool(2,2) but two UpSampling(2,2), which would return a half-size
  image; a third UpSampling follows the Conv64 here;
* the input is zero-padded to a multiple of 8 on each side and the output cropped back
  (``ZeroPadding2D`` / ``Cropping2D``; none when H and W are multiples of 8, e.g. 224);
* the last Conv has C filters (Table 15: 3).

P works on [0,1] images (sigmoid output); M's own range is folded around it by
``luring_tf.input_range``.
"""

from __future__ import annotations

import keras
from keras import layers

from architectures.padding import cropped, padded


RANGE_LAYER = "to_mobilenet_range"  # the Rescaling that maps [0,1] images to MobileNetV2's [-1,1]


def fold_range(network: keras.Model, name: str = "M") -> keras.Sequential:
    """``network`` (taking [-1,1] images) as a model of [0,1] images: ``[Rescaling(2, -1), network]``.

    Args:
        network: a Keras model of [-1,1] images (MobileNetV2's range).
        name: the Keras name of the returned model.

    Returns:
        A ``keras.Sequential`` of float32 [N,H,W,C] images in [0,1] with ``network``'s outputs; its first
        layer is named ``RANGE_LAYER``.
    """
    shape = tuple(network.input_shape[1:])
    return keras.Sequential([keras.Input(shape), layers.Rescaling(2.0, -1.0, name=RANGE_LAYER), network], name=name)


def build_classifier(image_size: int = 224, alpha: float = 1.0, weights=None, classes: int = 1000,
                     name: str = "M") -> keras.Sequential:
    """M: MobileNetV2 for float32 [N,S,S,3] images in [0,1] -> [N, classes] softmax (Appendix H.1).

    Args:
        image_size: the side S of the square input images.
        alpha: MobileNetV2's width multiplier.
        weights: None (random initialisation), ``"imagenet"`` (Keras downloads them; needs
            ``classes=1000`` and an ``alpha`` Keras publishes) or the path of a MobileNetV2 weights file.
        classes: the number of output classes.
        name: the Keras name of the model.

    Returns:
        A ``keras.Sequential`` ``[Rescaling(2, -1), MobileNetV2]`` (``fold_range``).

    Raises:
        ValueError: what Keras raises when the weights cannot be obtained or do not fit.

    Example:
        >>> m = build_classifier(image_size=96, alpha=0.35, classes=10)
    """
    network = keras.applications.MobileNetV2(input_shape=(int(image_size), int(image_size), 3), alpha=float(alpha),
                                             weights=weights, classes=int(classes))
    return fold_range(network, name)


def _cbr(filters: int, activation: str = "relu"):
    return [layers.Conv2D(filters, 3, padding="same"), layers.BatchNormalization(), layers.Activation(activation)]


def build_luring_component(input_shape=(224, 224, 3), name: str = "P") -> keras.Sequential:
    """Table 15's P, made shape-generic: float32 [N,H,W,C] in [0,1] -> [N,H,W,C] in [0,1].

    5,396,623 parameters for C = 3. The input is zero-padded to a multiple of 8 and the output cropped
    back; a third UpSampling restores the size (see the module's departures).

    Args:
        input_shape: ``(H, W, C)`` of M's input.
        name: the Keras name of the model.

    Returns:
        A ``keras.Sequential`` ending with a sigmoid.

    Example:
        >>> build_luring_component((64, 64, 3)).output_shape
        (None, 64, 64, 3)
    """
    height, width, channels = (int(v) for v in input_shape)
    stack = [keras.Input((height, width, channels))] + padded(height, width, 8)
    stack += _cbr(128) + [layers.MaxPooling2D(2)]
    stack += _cbr(256) + [layers.MaxPooling2D(2)]
    stack += _cbr(512) + [layers.MaxPooling2D(2)]
    stack += _cbr(512) + _cbr(256) + [layers.UpSampling2D(2)]
    stack += _cbr(128) + [layers.UpSampling2D(2)]
    stack += _cbr(64) + [layers.UpSampling2D(2)]
    stack += _cbr(channels, "sigmoid")
    stack += cropped(height, width, 8)
    return keras.Sequential(stack, name=name)
