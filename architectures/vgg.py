"""The VGG-like M (Tables 3-4) and the conv autoencoder P (Tables 6-7) shared by SVHN and CIFAR10.

The two datasets use one template each with a different width (M: 64 vs 128 base filters) and
pooling factor (P: q = 2 for SVHN, q = 1 for CIFAR10, where the original keeps identity
MaxPool(1)/UpSampling(1) layers -- dropped here, they hold no weights).
Layer order follows the original code (spec ``training.md`` §2, §3.1): in M's pooling blocks
MaxPool sits between Conv and BN; every Conv/Dense of M has no bias; P's Convs have biases and
two Dropout layers (after the first Conv128 and the Conv64, before their BN).
"""

from __future__ import annotations

import keras
from keras import layers


def _conv_bn_relu(filters: int, padding: str = "same", pool: bool = False, use_bias=False):
    block = [layers.Conv2D(filters, 3, padding=padding, use_bias=use_bias)]
    if pool:
        block.append(layers.MaxPooling2D(2))
    return block + [layers.BatchNormalization(), layers.Activation("relu")]


def build_vgg_classifier(width: int, input_shape, name: str) -> keras.Sequential:
    """The VGG-like M of Tables 3-4: 6 conv blocks (width w, 2w, 4w), 2 Dense(1024)+BN+ReLU, Dense(10) logits, softmax.

    Args:
        width: w, the base number of filters (64 for SVHN, 128 for CIFAR10).
        input_shape: ``(H, W, C)`` of the images, in [0,1].
        name: the Keras name of the model.

    Returns:
        A ``keras.Sequential`` with a Dense named ``logits`` before a separate softmax ``Activation``.

    Example:
        >>> m = build_vgg_classifier(64, (32, 32, 3), "M")
    """
    stack = [keras.Input(input_shape)]
    stack += _conv_bn_relu(width, padding="valid")
    stack += _conv_bn_relu(width, pool=True)
    stack += _conv_bn_relu(2 * width)
    stack += _conv_bn_relu(2 * width, pool=True)
    stack += _conv_bn_relu(4 * width)
    stack += _conv_bn_relu(4 * width, pool=True)
    stack += [layers.Dropout(0.25), layers.Flatten()]
    stack += [layers.Dense(1024, use_bias=False), layers.BatchNormalization(), layers.Activation("relu")]
    stack += [layers.Dropout(0.25)]
    stack += [layers.Dense(1024, use_bias=False), layers.BatchNormalization(), layers.Activation("relu")]
    stack += [
        layers.Dense(10, use_bias=False, name="logits"),
        layers.Activation("softmax", name="softmax"),
    ]
    return keras.Sequential(stack, name=name)


def _cbr(filters: int, dropout: float | None = None):
    block = [layers.Conv2D(filters, 3, padding="same")]
    if dropout is not None:
        block.append(layers.Dropout(dropout))
    return block + [layers.BatchNormalization(), layers.Activation("relu")]


def build_vgg_component(pool: int, dropout: float, input_shape, name: str) -> keras.Sequential:
    """The P of Tables 6-7: encoder 128-256-512-1024, decoder 512-512-256-128-64-C, sigmoid output in [0,1].

    Args:
        pool: the pooling factor q (2 for SVHN's Table 6: three 2x poolings; 1 for CIFAR10's Table 7:
            one 2x pooling).
        dropout: rate of the two Dropout layers, in [0, 1).
        input_shape: ``(H, W, C)`` of the images; C is also the number of output channels (3 in the paper).
        name: the Keras name of the model.

    Returns:
        A ``keras.Sequential`` mapping [N,H,W,C] in [0,1] to [N,H,W,C] in [0,1].

    Raises:
        ValueError: ``dropout`` is outside [0, 1).

    Example:
        >>> p = build_vgg_component(2, 0.15, (32, 32, 3), "P")
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    def down():  # a fresh layer each time: a layer object may appear only once in a Sequential
        return [layers.MaxPooling2D(pool, padding="same")] if pool > 1 else []

    def up():
        return [layers.UpSampling2D(pool)] if pool > 1 else []

    stack = [keras.Input(input_shape)]
    stack += _cbr(128, dropout) + down()
    stack += _cbr(256) + [layers.MaxPooling2D(2, padding="same")]
    stack += _cbr(512) + _cbr(1024) + down()
    stack += _cbr(512) + _cbr(512) + up()
    stack += _cbr(256) + [layers.UpSampling2D(2)]
    stack += _cbr(128) + up()
    stack += _cbr(64, dropout)
    stack += [layers.Conv2D(input_shape[-1], 3, padding="same"), layers.BatchNormalization(),
              layers.Activation("sigmoid")]
    return keras.Sequential(stack, name=name)
