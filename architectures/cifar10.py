"""CIFAR10 architectures: VGG-like M of width 128 (Table 4), autoencoder P without pooling (Table 7).

Table 7 keeps one MaxPool(2,2)/UpSampling(2,2) pair; the original code also holds identity
MaxPool(1,1)/UpSampling(1,1) layers at SVHN's other pooling places, omitted here (no weights).
"""

from __future__ import annotations

import keras

from architectures.vgg import build_vgg_classifier, build_vgg_component

INPUT_SHAPE = (32, 32, 3)


def build_classifier(name: str = "M") -> keras.Sequential:
    """M: 10,367,360 parameters (10,359,680 trainable). Input float32 [N,32,32,3] in [0,1]."""
    return build_vgg_classifier(128, INPUT_SHAPE, name)


def build_luring_component(dropout: float = 0.0, name: str = "P") -> keras.Sequential:
    """P: 14,841,487 parameters (14,834,697 trainable); 32x32x3 -> 32x32x3."""
    return build_vgg_component(1, dropout, INPUT_SHAPE, name)
