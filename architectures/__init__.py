"""The paper's architectures (Appendix A, Tables 2-7) as Keras ``Sequential`` builders.

One module per dataset; this registry is the one way callers reach them::

    m = build_classifier("mnist")            # M, ends with a separate softmax Activation
    p = build_luring_component("svhn", dropout=0.15)   # P, [0,1] image -> [0,1] image
"""

from __future__ import annotations

import keras

from architectures import cifar10, mnist, svhn

_MODULES = {"mnist": mnist, "svhn": svhn, "cifar10": cifar10}

DATASETS = tuple(_MODULES)
INPUT_SHAPES = {name: module.INPUT_SHAPE for name, module in _MODULES.items()}
NUM_CLASSES = 10


def _module(dataset: str):
    try:
        return _MODULES[dataset]
    except KeyError:
        raise ValueError(
            f"unknown dataset {dataset!r}: choose one of {', '.join(DATASETS)}"
        ) from None


def build_classifier(dataset: str, name: str = "M") -> keras.Sequential:
    """Base classifier M of ``dataset`` (Tables 2-4): a Dense named ``logits``, then a separate softmax.

    Args:
        dataset: ``"mnist"``, ``"svhn"`` or ``"cifar10"`` (``DATASETS``).
        name: the Keras name of the model.

    Returns:
        An unbuilt-weights ``keras.Sequential`` mapping float32 [N,H,W,C] images in [0,1]
        (``INPUT_SHAPES``) to [N,10] softmax probabilities.

    Raises:
        ValueError: ``dataset`` is not one of ``DATASETS``.

    Example:
        >>> m = build_classifier("mnist")
        >>> m.output_shape
        (None, 10)
    """
    return _module(dataset).build_classifier(name=name)


def build_luring_component(
    dataset: str, dropout: float = 0.0, name: str = "P"
) -> keras.Sequential:
    """Prepended component P of ``dataset`` (Tables 5-7); also the Auto autoencoder.

    Args:
        dataset: ``"mnist"``, ``"svhn"`` or ``"cifar10"`` (``DATASETS``).
        dropout: rate of the two Dropout layers of the SVHN/CIFAR10 P (the original code's 0.15 for
            SVHN Luring, 0.3 for CIFAR10 C-E and Luring, 0 elsewhere), in [0, 1). MNIST's P has no
            dropout.
        name: the Keras name of the model.

    Returns:
        A ``keras.Sequential`` mapping float32 [N,H,W,C] in [0,1] to [N,H,W,C] in [0,1] (sigmoid).

    Raises:
        ValueError: ``dataset`` is unknown, ``dropout`` is outside [0, 1), or non-zero for MNIST.

    Example:
        >>> p = build_luring_component("svhn", dropout=0.15)
        >>> p.output_shape
        (None, 32, 32, 3)
    """
    return _module(dataset).build_luring_component(dropout=dropout, name=name)
