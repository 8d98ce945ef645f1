"""SVHN architectures: VGG-like M of width 64 (Table 3), autoencoder P with pooling 2 (Table 6)."""

from __future__ import annotations

import keras

from architectures.vgg import build_vgg_classifier, build_vgg_component

INPUT_SHAPE = (32, 32, 3)


def build_classifier(name: str = "M") -> keras.Sequential:
    """M (Table 3, VGG-like, width 64): 4,574,400 parameters (4,568,512 trainable).

    Args:
        name: the Keras name of the model.

    Returns:
        A ``keras.Sequential``: float32 [N,32,32,3] images in [0,1] -> Dense ``logits`` [N,10] -> softmax [N,10].

    Example:
        >>> from architectures import svhn
        >>> svhn.build_classifier().output_shape
        (None, 10)
    """
    return build_vgg_classifier(64, INPUT_SHAPE, name)


def build_luring_component(dropout: float = 0.0, name: str = "P") -> keras.Sequential:
    """P (Table 6, pooling 2): 14,841,487 parameters (14,834,697 trainable).

    Args:
        dropout: rate of P's two Dropout layers, in [0, 1).
        name: the Keras name of the model.

    Returns:
        A ``keras.Sequential``: float32 [N,32,32,3] in [0,1] -> [N,32,32,3] in [0,1] (sigmoid).

    Raises:
        ValueError: ``dropout`` is outside [0, 1).

    Example:
        >>> from architectures import svhn
        >>> svhn.build_luring_component().output_shape[1:] == svhn.INPUT_SHAPE
        True
    """
    return build_vgg_component(2, dropout, INPUT_SHAPE, name)
