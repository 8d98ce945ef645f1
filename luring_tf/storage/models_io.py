"""Models on disk: plain-Keras ``.h5`` files written atomically (the logits view: :mod:`luring_tf.storage.logits`).

Layout under a models folder: ``<dir>/M.h5`` (base classifier), ``<dir>/<approach>_P.h5`` (the
component) and ``<dir>/<approach>_T.h5`` (``Sequential([P, M])``, the protected model T = M∘P).
Every file loads with ``keras.models.load_model(path)`` and no import of luring-tf.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras

from luring_tf.errors import UserError
from luring_tf.storage.fingerprint import weights_digest
from luring_tf.storage.logits import logits_view, model_input  # noqa: F401  (imported from here by the callers)

NUM_CLASSES = 10  # MNIST, SVHN and CIFAR10

APPROACHES = ("stack", "auto", "ce", "luring")


def model_paths(models_dir: str | Path, approach: str | None = None) -> dict[str, Path]:
    """Paths of M (``approach=None``) or of an approach's P and T under ``models_dir``."""
    root = Path(models_dir)
    if approach is None:
        return {"M": root / "M.h5"}
    return {"P": root / f"{approach}_P.h5", "T": root / f"{approach}_T.h5"}


def save_model(model: keras.Model, path: str | Path, overwrite: bool = False) -> Path:
    """Write ``model`` to ``path`` (.h5) through a temporary file and an atomic rename."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise UserError(f"{path} already exists: pass --retrain to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.h5")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_model(path: str | Path, fix: str = "delete it and train it again (run_characterization.py --retrain)",
               missing: str = "train it first (run_characterization.py) or fix the path") -> keras.Model:
    """Load a plain-Keras model file; a missing or unreadable file is a one-line ``UserError``.

    ``fix``: what the message says to do about an unreadable file; ``missing``: about a missing one
    (the defaults fit the models the scripts train; a user's own model needs other words).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model file {path} not found: {missing}")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # h5py/keras raise many types for a corrupt file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot load model file {path} ({first}): {fix}") from None


def check_model(model: keras.Model, path, dataset: str, fix: str, expected: tuple | None = None) -> None:
    """``model`` (loaded from ``path``) takes ``dataset``'s images and scores its classes, else ``UserError``.

    ``expected``: ``((H, W, C), classes)`` when the configuration decides them (ImageNet's
    ``model.image_size`` / ``model.classes``); default: the paper's shape of ``dataset`` and 10 classes.
    """
    import architectures

    shape, n_classes = expected if expected is not None else (architectures.INPUT_SHAPES[dataset], NUM_CLASSES)
    shape, got = tuple(shape), tuple(model.input_shape[1:])
    if got != shape:
        raise UserError(f"model file {path} takes inputs of shape {got}, {dataset} images are {shape}: "
                        f"it was made for another data set or image size; {fix}")
    classes = model.output_shape[-1]
    if classes != n_classes:
        raise UserError(f"model file {path} outputs {classes} classes, {dataset} has {n_classes}: {fix}")


def check_built_on(protected: keras.Model, classifier: keras.Model, protected_path, classifier_path, fix: str) -> None:
    """T = ``Sequential([P, M])`` holds the classifier ``classifier`` as its M (same weights), else ``UserError``."""
    inner = protected.layers[-1] if protected.layers else None
    if not isinstance(inner, keras.Model) or weights_digest(inner) != weights_digest(classifier):
        raise UserError(f"model file {protected_path} was not built on {classifier_path} (its inner classifier M "
                        f"has other weights): {fix}")


def compose(component: keras.Model, classifier: keras.Model, name: str = "T") -> keras.Sequential:
    """The protected model T = M∘P as ``Sequential([P, M])`` (softmax output, like M)."""
    return keras.Sequential([component, classifier], name=name)
