"""ImageNet defense component P (paper Appendix H.1, Table 15), shape-generic.

Table 15 (for MobileNetV2 on 224x224x3 images in [-1,1]): Conv128-MaxPool-Conv256-MaxPool-
Conv512-MaxPool-Conv512-Conv256-Up-Conv128-Up-Conv64-Conv3, every Conv 3x3 + BN, ReLU and a
final sigmoid. Departures, so that P maps H×W×C back to H×W×C for any H, W, C:

* Table 15 lists three MaxPool(2,2) but two UpSampling(2,2), which would return a half-size
  image; a third UpSampling follows the Conv64 here;
* the input is zero-padded to a multiple of 8 on each side and the output cropped back
  (``ZeroPadding2D`` / ``Cropping2D``; none when H and W are multiples of 8, e.g. 224);
* the last Conv has C filters (Table 15: 3).

P works on [0,1] images (sigmoid output); M's own range is folded around it by
:mod:`luring_tf.input_range`.
"""

from __future__ import annotations

import keras
from keras import layers

from architectures.padding import cropped, padded


def _cbr(filters: int, activation: str = "relu"):
    return [layers.Conv2D(filters, 3, padding="same"), layers.BatchNormalization(), layers.Activation(activation)]


def build_luring_component(input_shape=(224, 224, 3), name: str = "P") -> keras.Sequential:
    """Table 15 P: float32 [N,H,W,C] in [0,1] -> [N,H,W,C] in [0,1] (5,396,623 parameters for C=3)."""
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
