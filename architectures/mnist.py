"""MNIST architectures: M = Madry et al.'s CNN (Table 2), P = the small conv autoencoder (Table 5).

Departures from the paper's tables, following the original code (spec ``training.md`` §4 #6):
the third Conv8 of P has stride 2, a Flatten+Reshape pair (identity) follows it, and Conv16 is
``valid`` with ReLU -- the only layer choices that bring P's output back to 28x28x1.
M's softmax is a separate ``Activation`` after a Dense named ``logits`` (same weights as the
original's fused ``Dense(10, activation='softmax')``), so the logits are one layer away.
"""

from __future__ import annotations

import keras
from keras import layers

INPUT_SHAPE = (28, 28, 1)


def build_classifier(name: str = "M") -> keras.Sequential:
    """M (Table 2, Madry et al.'s CNN): 3,274,538 parameters, all trainable.

    Args:
        name: the Keras name of the model.

    Returns:
        A ``keras.Sequential``: float32 [N,28,28,1] images in [0,1] -> Dense ``logits`` [N,10] -> softmax [N,10].

    Example:
        >>> from architectures import mnist
        >>> mnist.build_classifier().output_shape
        (None, 10)
    """
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            layers.Conv2D(32, 5, padding="same", use_bias=False, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 5, padding="same", use_bias=False, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(1024, activation="relu"),
            layers.Dense(10, name="logits"),
            layers.Activation("softmax", name="softmax"),
        ],
        name=name,
    )


def build_luring_component(dropout: float = 0.0, name: str = "P") -> keras.Sequential:
    """P (Table 5): 4,385 parameters.

    Args:
        dropout: must be 0 (MNIST's P has no Dropout layer).
        name: the Keras name of the model.

    Returns:
        A ``keras.Sequential``: float32 [N,28,28,1] in [0,1] -> [N,28,28,1] in [0,1] (sigmoid).

    Raises:
        ValueError: ``dropout`` is not 0.

    Example:
        >>> from architectures import mnist
        >>> mnist.build_luring_component().output_shape[1:] == mnist.INPUT_SHAPE
        True
    """
    if dropout:
        raise ValueError("the MNIST component has no dropout layer: use dropout=0")
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2, padding="same"),
            layers.Conv2D(8, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2, padding="same"),
            layers.Conv2D(8, 3, strides=2, padding="same", activation="relu"),
            layers.Flatten(),
            layers.Reshape((4, 4, 8)),
            layers.Conv2D(8, 3, padding="same", activation="relu"),
            layers.UpSampling2D(2),
            layers.Conv2D(8, 3, padding="same", activation="relu"),
            layers.UpSampling2D(2),
            layers.Conv2D(16, 3, padding="valid", activation="relu"),
            layers.UpSampling2D(2),
            layers.Conv2D(1, 3, padding="same", activation="sigmoid"),
        ],
        name=name,
    )
