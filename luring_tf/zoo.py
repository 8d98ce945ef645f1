"""Train-or-load the models of one dataset: M and T = M∘P for Stack, Auto, C-E and Luring.

Model files live in ``models_dir`` (see :mod:`luring_tf.models_io`); an existing file is reused
unless ``retrain`` is set. Training summaries go to ``models_dir/training.json``.
Retraining M invalidates the components trained against it, so ``retrain`` retrains all.
"""

from __future__ import annotations

import time
from pathlib import Path

import architectures
from luring_tf import files, training
from luring_tf.errors import UserError
from luring_tf.models_io import compose, load_model, model_paths, save_model

ALL_APPROACHES = ("stack", "auto", "ce", "luring")


def approaches_for(dataset: str) -> tuple[str, ...]:
    """Approaches of the paper for ``dataset`` (no Auto on CIFAR10, Appendix C)."""
    return tuple(a for a in ALL_APPROACHES if not (dataset == "cifar10" and a == "auto"))


def check_approaches(dataset: str, requested) -> tuple[str, ...]:
    valid = approaches_for(dataset)
    requested = tuple(requested or valid)
    unknown = [a for a in requested if a not in valid]
    if unknown:
        raise UserError(f"unknown approach {unknown[0]!r} for {dataset}: choose from {', '.join(valid)}")
    return requested


def _log(message: str) -> None:
    print(f"[luring-tf] {message}", flush=True)


def _record(models_dir: Path, name: str, summary: dict) -> None:
    path = models_dir / "training.json"
    record = files.read_json(path) if path.exists() else {}
    record[name] = summary
    files.write_json(path, record)


def obtain_classifier(data, config: dict, models_dir, retrain: bool = False):
    """Base classifier M: loaded from ``M.h5`` or trained with labels (Appendix A) and saved."""
    models_dir = Path(models_dir)
    path = model_paths(models_dir)["M"]
    if path.exists() and not retrain:
        _log(f"loading M from {path}")
        return load_model(path)
    dataset = config["dataset"]
    _log(f"training M on {len(data.x_train)} {dataset} images")
    start = time.time()
    model, summary = training.train_classifier(
        lambda: architectures.build_classifier(dataset), data, config["train"]["base"],
        augment=training.augmentation(config["train"]["base"].get("augment"), data.x_train.shape[1]),
        seed=config["seed"],
    )
    save_model(model, path, overwrite=True)
    _record(models_dir, "M", dict(summary, seconds=round(time.time() - start, 1)))
    return model


def obtain_protected(approach: str, classifier, data, config: dict, models_dir, retrain: bool = False):
    """T = M∘P of ``approach``: loaded from ``<approach>_T.h5`` or trained (Appendix B) and saved."""
    models_dir = Path(models_dir)
    paths = model_paths(models_dir, approach)
    if paths["T"].exists() and not retrain:
        _log(f"loading {approach} T from {paths['T']}")
        return load_model(paths["T"])
    dataset, cfg, seed = config["dataset"], config["train"][approach], config["seed"]
    augment = training.augmentation(cfg.get("augment"), data.x_train.shape[1])
    _log(f"training {approach} on {len(data.x_train)} {dataset} images")
    start = time.time()
    if approach == "stack":
        def build():
            return compose(
                architectures.build_luring_component(dataset, dropout=cfg.get("dropout", 0.0)),
                architectures.build_classifier(dataset, name="M_stack"),
            )
        protected, summary = training.train_classifier(build, data, cfg, augment=augment, seed=seed)
        component = protected.layers[0]
    else:
        component = architectures.build_luring_component(dataset, dropout=cfg.get("dropout", 0.0))
        if approach == "auto":
            summary = training.train_autoencoder(component, data, cfg, seed=seed)
        else:
            summary = training.train_component(component, classifier, data, cfg, approach, augment, seed)
        protected = compose(component, classifier)
    save_model(component, paths["P"], overwrite=True)
    save_model(protected, paths["T"], overwrite=True)
    _record(models_dir, approach, dict(summary, seconds=round(time.time() - start, 1)))
    return protected


def obtain_models(data, config: dict, models_dir, approaches, retrain: bool = False) -> dict:
    """``{"M": M, approach: T, ...}`` for the requested approaches, trained or loaded."""
    models = {"M": obtain_classifier(data, config, models_dir, retrain)}
    for approach in approaches:
        models[approach] = obtain_protected(approach, models["M"], data, config, models_dir, retrain)
    return models
