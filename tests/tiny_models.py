"""Tiny saved models for the scripts' end-to-end tests: a dense softmax M and 1x1-conv components P."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_tiny_models(models: Path, x_train: np.ndarray, y_train: np.ndarray,
                      components: dict[str, float] | None = None) -> None:
    """Train a dense M on uint8 MNIST-shaped ``x_train`` and save ``M.h5`` and, per approach, P (x ↦ weight·x) and T.

    ``components``: approach -> the weight of its 1x1 convolution (default ``{"luring": 0.9}``).
    """
    import keras

    from luring_tf.storage.models_io import compose, save_model

    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10),
                          keras.layers.Activation("softmax")], name="M")
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(x_train[..., None].astype("float32") / 255, y_train, epochs=30, batch_size=50, verbose=0)
    save_model(m, Path(models) / "M.h5")
    for approach, weight in (components or {"luring": 0.9}).items():
        p = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(1, 1, use_bias=False)], name="P")
        p.layers[0].set_weights([np.full((1, 1, 1, 1), weight, np.float32)])
        save_model(p, Path(models) / f"{approach}_P.h5")
        save_model(compose(p, m), Path(models) / f"{approach}_T.h5")
