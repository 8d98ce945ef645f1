"""CIFAR10 architectures: VGG-like M of width 128 (Table 4), autoencoder P without pooling (Table 7).

Table 7 keeps one MaxPool(2,2)/UpSampling(2,2) pair; the original code also holds identity
MaxPool(1,1)/UpSampling(1,1) layers at SVHN's other pooling places, omitted here (no weights).
"""

from __future__ import annotations

import keras

from architectures.vgg import build_vgg_classifier, build_vgg_component

INPUT_SHAPE = (32, 32, 3)


def build_classifier(name: str = "M") -> keras.Sequential:
    """M (Table 4, VGG-like, width 128): 10,367,360 parameters (10,359,680 trainable).

    Args:
        name: the Keras name of the model.

    Returns:
        A ``keras.Sequential``: float32 [N,32,32,3] images in [0,1] -> Dense ``logits`` [N,10] -> softmax [N,10].

    Example:
        >>> from architectures import cifar10
        >>> cifar10.build_classifier().output_shape
        (None, 10)
    """
    return build_vgg_classifier(128, INPUT_SHAPE, name)


def build_luring_component(dropout: float = 0.0, name: str = "P") -> keras.Sequential:
    """P (Table 7, one pooling): 14,841,487 parameters (14,834,697 trainable).

    Args:
        dropout: rate of P's two Dropout layers, in [0, 1).
        name: the Keras name of the model.

    Returns:
        A ``keras.Sequential``: float32 [N,32,32,3] in [0,1] -> [N,32,32,3] in [0,1] (sigmoid).

    Raises:
        ValueError: ``dropout`` is outside [0, 1).

    Example:
        >>> from architectures import cifar10
        >>> cifar10.build_luring_component().output_shape[1:] == cifar10.INPUT_SHAPE
        True
    """
    return build_vgg_component(1, dropout, INPUT_SHAPE, name)
