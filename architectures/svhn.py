"""SVHN architectures: VGG-like M of width 64 (Table 3), autoencoder P with pooling 2 (Table 6)."""

from __future__ import annotations

import keras

from architectures.vgg import build_vgg_classifier, build_vgg_component

INPUT_SHAPE = (32, 32, 3)


def build_classifier(name: str = "M") -> keras.Sequential:
    """M: 4,574,400 parameters (4,568,512 trainable). Input float32 [N,32,32,3] in [0,1]."""
    return build_vgg_classifier(64, INPUT_SHAPE, name)


def build_luring_component(dropout: float = 0.0, name: str = "P") -> keras.Sequential:
    """P: 14,841,487 parameters (14,834,697 trainable); 32x32x3 -> 32x32x3."""
    return build_vgg_component(2, dropout, INPUT_SHAPE, name)
