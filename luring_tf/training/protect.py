"""Protect your own classifier: train a luring component P for it, label-free, and save T = M∘P.

Any Keras classifier taking [0,1] images of the dataset's shape (softmax or logits output) can
be M; the paper's promise is that the method "fits any pre-trained model". Files written beside
the target ``name.h5``: ``name_luring_P.h5``, ``name_luring_T.h5`` and ``name_luring.json``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import architectures
from luring_tf.storage import files
from luring_tf.evaluation import metrics
from luring_tf.training import trainers
from luring_tf.evaluation.adversarial import predict_labels
from luring_tf.errors import UserError
from luring_tf.finite import check_finite, check_weights_finite
from luring_tf.storage.models_io import compose, load_model, save_model


def protected_paths(target: Path) -> dict[str, Path]:
    stem = target.with_suffix("")
    return {"P": Path(f"{stem}_luring_P.h5"), "T": Path(f"{stem}_luring_T.h5"),
            "record": Path(f"{stem}_luring.json")}


def load_target(target_path, dataset: str, retrain: bool = False):
    """Load and check the user's classifier (before any data is loaded).

    Checks, each a one-line ``UserError``: its folder is writable (the outputs go beside it), its weights are
    finite, it takes ``dataset``'s images, and no protected model exists there unless ``retrain``.
    """
    target = Path(target_path)
    files.check_writable(target.parent, "--target-model")
    classifier = load_model(target)
    check_weights_finite(classifier, f"--target-model {target}")
    expected = tuple(architectures.INPUT_SHAPES[dataset])
    got = tuple(classifier.input_shape[1:])
    if got != expected:
        raise UserError(f"--target-model expects {dataset} images of shape {expected}, the model takes {got}: "
                        "pass the --dataset your model was trained on")
    existing = protected_paths(target)["T"]
    if existing.exists() and not retrain:
        raise UserError(f"{existing} already exists: pass --retrain to train a new component")
    return classifier


def protect_model(target_path, data, config: dict, classifier) -> dict:
    """Train the luring component for ``classifier`` (loaded from ``target_path``); returns the record."""
    target = Path(target_path)
    paths = protected_paths(target)
    dataset = config["dataset"]
    cfg = config["train"]["luring"]
    component = architectures.build_luring_component(dataset, dropout=cfg.get("dropout", 0.0))
    augment = trainers.augmentation(cfg.get("augment"), data.x_train.shape[1])
    start = time.time()
    summary = trainers.train_component(component, classifier, data, cfg, "luring", augment, config["seed"],
                                       deterministic=config.get("deterministic", True))
    # Nothing non-finite is saved: P's weights and both models' test outputs are checked first.
    check_finite([np.asarray(w) for w in component.get_weights()],
                 f"the weights of the luring component P trained for {target}",
                 "its training diverged; rerun with a lower learning rate (--set train.luring.lr=...)")
    protected = compose(component, classifier)
    m_pred = predict_labels(classifier, data.x_test, name=f"--target-model {target}")
    t_pred = predict_labels(protected, data.x_test, name=f"{paths['T'].name} (your model protected by P)")
    save_model(component, paths["P"], overwrite=True)
    save_model(protected, paths["T"], overwrite=True)
    record = {"target_model": str(target), "dataset": dataset, "profile": config["profile"],
              "component": str(paths["P"]), "protected_model": str(paths["T"]),
              "training": dict(summary, seconds=round(time.time() - start, 1)),
              "test_accuracy_M": metrics.accuracy(m_pred, data.y_test).as_dict(),
              "test_accuracy_T": metrics.accuracy(t_pred, data.y_test).as_dict(),
              "test_agreement": metrics.agreement(t_pred, m_pred).as_dict()}
    files.write_json(paths["record"], record)
    return record
