"""Train-or-load the models of one dataset: M and T = M∘P for Stack, Auto, C-E and Luring.

Model files live in ``models_dir`` (see :mod:`luring_tf.storage.models_io`); an existing file is reused
unless ``retrain`` is set. Training summaries go to ``models_dir/training.json``.
Retraining M invalidates the components trained against it, so ``retrain`` retrains all.

Each trained model is checked right after training, and the check is stored in its
``training.json`` summary (its test accuracy is measured for that, never used for selection):
M more than :data:`PAPER_GAP` under the paper's Table 8 test accuracy prints a warning
(``below_paper: true``); a T at chance level prints a warning (``at_chance: true``).
Every model is built and trained from ``config["seed"]`` alone (``deterministic``: TF op
determinism during training, see :func:`luring_tf.training.reproducible`), whatever was trained
or loaded before it in the process. Trainings are resumable: each writes its checkpoint to
``models_dir/.checkpoints/<M|stack|auto|ce|luring>/`` at every epoch end and an interrupted one
continues from there when the same command runs again (:mod:`luring_tf.training.checkpoints`).

ImageNet (Section 4.4, App. H.1): M is a pretrained MobileNetV2, obtained and saved, never trained
(:mod:`luring_tf.training.pretrained`); only C-E and Luring, which train P on top of it, are run;
P is Table 15's at the configured image size. Data may be streamed (files, tfds records): sizes,
shapes and test accuracies go through :mod:`luring_tf.data.streams`.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

import architectures
from luring_tf import inference, names
from luring_tf.data import streams
from luring_tf.storage import files
from luring_tf.evaluation import metrics
from luring_tf.training import checkpoints, trainers
from luring_tf.errors import UserError
from luring_tf.storage.models_io import compose, load_model, model_paths, save_model
from luring_tf.report.paper_values import MODEL_TABLES

PAPER_GAP = 0.02  # warn when a trained M's test accuracy is more than this under the paper's

ALL_APPROACHES = names.APPROACHES  # stack auto ce luring
PRETRAINED_M = ("imagenet",)  # data sets whose M is obtained pretrained, never trained here
IMAGENET_WHY = {"stack": "Stack retrains M with P, and M is an already trained MobileNetV2 here",
                "auto": "the paper did not run Auto on ImageNet"}


def approaches_for(dataset: str) -> tuple[str, ...]:
    """Approaches of the paper for ``dataset`` (no Auto on CIFAR10, Appendix C; C-E and Luring on ImageNet, H.1)."""
    if dataset == "imagenet":
        return ("ce", "luring")
    return tuple(a for a in ALL_APPROACHES if not (dataset == "cifar10" and a == "auto"))


def check_approaches(dataset: str, requested) -> tuple[str, ...]:
    valid = approaches_for(dataset)
    requested = tuple(requested or valid)
    unknown = [a for a in requested if a not in valid]
    if unknown and dataset == "imagenet" and unknown[0] in IMAGENET_WHY:
        raise UserError(f"approach {unknown[0]!r} is not run on imagenet: {IMAGENET_WHY[unknown[0]]} (Section 4.4 / "
                        "App. H.1 train only P on top of M); choose from ce, luring")
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


def _test_rate(model, data) -> tuple[metrics.Rate, int]:
    """Test accuracy (a Rate: count, denominator, Wilson interval) of a softmax (or logits) model and its number
    of classes (streamed test split when no array). A report on a final model: never used to choose anything."""
    x = data.x_test if getattr(data, "x_test", None) is not None else streams.stream(data, "test", 500)
    scores = inference.outputs(model, x, 500)
    correct = np.argmax(scores, axis=1) == np.asarray(data.y_test)
    return metrics.Rate(int(correct.sum()), int(len(correct))), int(scores.shape[-1])


def _rate_summary(rate: metrics.Rate) -> dict:
    """``test_accuracy`` (rounded) and ``test_rate`` (count, denominator, Wilson interval) for training.json."""
    return {"test_accuracy": round(float(rate.value), 4), "test_rate": rate.as_dict()}


def _warning(text: str) -> dict:
    """Log ``WARNING: text`` and return it as the summary's ``warning`` (the main process repeats a worker's)."""
    _log(f"WARNING: {text}")
    return {"warning": f"WARNING: {text}"}


def check_classifier(model, data, dataset: str) -> dict:
    """M's test accuracy against the paper's (Table 8): a warning when more than ``PAPER_GAP`` under it."""
    rate, _ = _test_rate(model, data)
    accuracy, shown = float(rate.value), {"test_rate": rate.as_dict()}
    paper = MODEL_TABLES.get(dataset, {}).get("M", (None, None))[0]
    below = paper is not None and accuracy < paper - PAPER_GAP
    if below:
        fix = ("use MobileNetV2's ImageNet weights (model.weights=imagenet or their file) and the standard "
               "evaluation preprocessing" if dataset in PRETRAINED_M else
               "train it longer (--set train.base.epochs=...) or on more data")
        return {"test_accuracy": round(accuracy, 4), **shown, "paper_test_accuracy": paper, "below_paper": True,
                **_warning(f"M's test accuracy {accuracy:.3f} is more than {100 * PAPER_GAP:g} points under the "
                           f"paper's {paper:.3f}: every number measured against this M shifts; {fix}, then --retrain")}
    return {"test_accuracy": round(accuracy, 4), **shown, "paper_test_accuracy": paper, "below_paper": False}


def check_protected(approach: str, model, data) -> dict:
    """T's test accuracy: a warning when it is at chance level (``metrics.at_chance_level``)."""
    rate, classes = _test_rate(model, data)
    accuracy, shown = float(rate.value), {"test_rate": rate.as_dict()}
    at_chance = metrics.at_chance_level(accuracy, classes)
    if at_chance:
        return {"test_accuracy": round(accuracy, 4), **shown, "at_chance": True,
                **_warning(f"{approach} T's test accuracy {accuracy:.3f} is at chance level (1/{classes} + "
                           f"{metrics.CHANCE_MARGIN:g} or less): it learned nothing; train it longer (--set train."
                           f"{approach}.{'epochs' if approach in ('stack', 'auto') else 'steps'}=...) or with "
                           "another --seed, then --retrain")}
    return {"test_accuracy": round(accuracy, 4), **shown, "at_chance": False}


def obtain_classifier(data, config: dict, models_dir, retrain: bool = False, section: str = "base"):
    """Base classifier M: loaded from ``M.h5`` or trained with labels (Appendix A) and saved.

    ``section``: the ``train`` section M is trained with; ``"advtrain"`` trains it adversarially
    (App. H.2, :mod:`luring_tf.defenses.adversarial_training`) -- same file layout, plain-Keras M.
    """
    models_dir = Path(models_dir)
    path = model_paths(models_dir)["M"]
    if path.exists() and not retrain:
        _log(f"loading M from {path}")
        return load_model(path)
    if config["dataset"] in PRETRAINED_M:
        return _pretrained_classifier(data, config, models_dir)
    model, summary = train_and_save_classifier(data, config, models_dir, section)
    _record(models_dir, "M", summary)
    return model


def train_and_save_classifier(data, config: dict, models_dir, section: str = "base"):
    """Train M with ``train.<section>``, save ``M.h5``; returns (M, its training.json summary)."""
    models_dir = Path(models_dir)
    dataset = config["dataset"]
    _log(f"training M on {len(data.x_train)} {dataset} images")
    start = time.time()
    cfg, wrap = config["train"][section], None
    if section == "advtrain":
        from luring_tf.defenses.adversarial_training import adversarial_wrap

        wrap = adversarial_wrap(cfg, config["seed"], math.ceil(len(data.x_train) / cfg["batch_size"]))
    model, summary = trainers.train_classifier(
        lambda: architectures.build_classifier(dataset), data, cfg,
        augment=trainers.augmentation(cfg.get("augment"), data.x_train.shape[1]),
        seed=config["seed"], name="M", section=section, deterministic=config.get("deterministic", True), wrap=wrap,
        checkpoint=checkpoints.at(models_dir, "M"),
    )
    seconds = round(time.time() - start, 1)
    save_model(model, model_paths(models_dir)["M"], overwrite=True)
    check = (check_classifier(model, data, dataset) if section == "base"  # Table 8 is the standard M's
             else _rate_summary(_test_rate(model, data)[0]))
    return model, dict(summary, seconds=seconds, section=section, **check)


def _pretrained_classifier(data, config: dict, models_dir: Path):
    """ImageNet's M: obtained (:mod:`luring_tf.training.pretrained`), checked against the paper, saved; not trained."""
    from luring_tf.training.pretrained import build_pretrained_classifier

    _log(f"building M: {config['model']['arch']}, weights {config['model']['weights']} (not trained here)")
    start = time.time()
    model = build_pretrained_classifier(config["model"], config["seed"])
    check = check_classifier(model, data, config["dataset"])
    save_model(model, model_paths(models_dir)["M"], overwrite=True)
    _record(models_dir, "M", dict(trained=False, weights=str(config["model"]["weights"]), model=config["model"],
                                  seconds=round(time.time() - start, 1), section="model", **check))
    return model


def _component(dataset: str, data, cfg: dict):
    """A fresh P of ``dataset`` (Tables 5-7, or Table 15 at the data's image shape for ImageNet)."""
    if dataset == "imagenet":
        from architectures.imagenet import build_luring_component

        return build_luring_component(streams.image_shape(data))
    return architectures.build_luring_component(dataset, dropout=cfg.get("dropout", 0.0))


def obtain_protected(approach: str, classifier, data, config: dict, models_dir, retrain: bool = False):
    """T = M∘P of ``approach``: loaded from ``<approach>_T.h5`` or trained (Appendix B) and saved."""
    models_dir = Path(models_dir)
    paths = model_paths(models_dir, approach)
    if paths["T"].exists() and not retrain:
        _log(f"loading {approach} T from {paths['T']}")
        return load_model(paths["T"])
    protected, summary = train_and_save_protected(approach, classifier, data, config, models_dir)
    _record(models_dir, approach, summary)
    return protected


def train_and_save_protected(approach: str, classifier, data, config: dict, models_dir):
    """Train ``approach``'s P (and Stack's M), save its P and T files; returns (T, its training.json summary)."""
    models_dir = Path(models_dir)
    paths = model_paths(models_dir, approach)
    dataset, cfg, seed = config["dataset"], config["train"][approach], config["seed"]
    deterministic = config.get("deterministic", True)
    augment = trainers.augmentation(cfg.get("augment"), streams.image_shape(data)[0])
    _log(f"training {approach} on {streams.size(data, 'train')} {dataset} images")
    start = time.time()
    checkpoint = checkpoints.at(models_dir, approach)
    if approach == "stack":
        def build():  # called by trainers.train_classifier after seeding
            return compose(
                architectures.build_luring_component(dataset, dropout=cfg.get("dropout", 0.0)),
                architectures.build_classifier(dataset, name="M_stack"),
            )
        protected, summary = trainers.train_classifier(build, data, cfg, augment=augment, seed=seed, name="stack T",
                                                       section="stack", deterministic=deterministic,
                                                       checkpoint=checkpoint)
        component = protected.layers[0]
    else:
        with trainers.reproducible(seed, deterministic):  # P's initial weights depend on the seed only
            component = _component(dataset, data, cfg)
        if approach == "auto":
            summary = trainers.train_autoencoder(component, data, cfg, seed=seed, deterministic=deterministic,
                                                 checkpoint=checkpoint)
        else:
            summary = trainers.train_component(component, classifier, data, cfg, approach, augment, seed,
                                               deterministic=deterministic,
                                               checkpoint=checkpoint)
        protected = compose(component, classifier)
    seconds = round(time.time() - start, 1)
    save_model(component, paths["P"], overwrite=True)
    save_model(protected, paths["T"], overwrite=True)
    return protected, dict(summary, seconds=seconds, **check_protected(approach, protected, data))


# Priority of the trainings in worker threads: longest first keeps every thread busy -- Stack (an M and a P,
# independent of M) beside M, then C-E and Luring as soon as M exists, Auto (a P alone) last. Every approach but
# Stack needs M (C-E and Luring train against it; Auto's T = M∘P). Measured (quick MNIST, two threads, quiet
# machine): this order trained all five in 173 s; Auto before Luring (so that Luring, not Auto, would finish
# alone) took 181 s: beside C-E, Auto took 28 s instead of 15 alone, and C-E was not faster for it.
TRAINING_ORDER = ("M", "stack", "ce", "luring", "auto")
WITHOUT_M = ("M", "stack")  # the trainings that do not wait for M


def obtain_models(data, config: dict, models_dir, approaches, retrain: bool = False, base: str = "base",
                  workers=None) -> dict:
    """``{"M": M, approach: T, ...}`` for the requested approaches, trained or loaded (M from ``train.<base>``).

    ``workers`` (a :class:`luring_tf.workers.Workers`): the models to train are trained in its threads,
    side by side where they do not depend on each other (:data:`TRAINING_ORDER`), and kept as they are (the
    others are loaded from their files).
    """
    models_dir = Path(models_dir)
    m_trains = retrain or not model_paths(models_dir)["M"].exists()
    trains = [a for a in approaches if retrain or not model_paths(models_dir, a)["T"].exists()]
    trained = {}
    if workers is not None and config["dataset"] not in PRETRAINED_M and (m_trains or trains):
        trained = _train_in_workers(workers, config, models_dir, base, m_trains, trains)
        retrain = False  # every model is in its file now
    models = {"M": trained["M"] if "M" in trained else obtain_classifier(data, config, models_dir, retrain, base)}
    for approach in approaches:
        models[approach] = (trained[approach] if approach in trained else
                            obtain_protected(approach, models["M"], data, config, models_dir, retrain))
    return models


def _train_in_workers(workers, config: dict, models_dir: Path, base: str, m_trains: bool, trains: list) -> dict:
    """Train M (when ``m_trains``) and the approaches ``trains`` in ``workers``, recording each summary;
    returns the trained models, ``{"M": M, approach: T, ...}``."""
    names = (["M"] if m_trains else []) + list(trains)
    tasks = [(name, train_task, (name, config, str(models_dir), base), ("M",) if m_trains and name not in WITHOUT_M
              else ()) for name in sorted(names, key=TRAINING_ORDER.index)]
    log_dir = models_dir / "logs"
    _log(f"training {', '.join(names)} in {workers.jobs} threads (their output: {log_dir}/<model>.log)")

    def done(name, result, seconds):
        summary = result[1]
        _record(models_dir, name, summary)
        accuracy = summary.get("test_accuracy")
        _log(f"{name} trained in {seconds:.0f} s" + (f", test accuracy {accuracy:.3f}" if accuracy is not None else ""))
        if summary.get("warning"):
            _log(summary["warning"])

    return {name: model for name, (model, _) in workers.run(tasks, log_dir, done).items()}


def train_task(name: str, config: dict, models_dir: str, base: str) -> tuple:
    """In a task thread (:mod:`luring_tf.workers`): train M (``name`` "M") or an approach and save it;
    returns (the model, M or T, and its training.json summary)."""
    from luring_tf.workers import worker_data

    data = worker_data()
    if name == "M":
        return train_and_save_classifier(data, config, models_dir, base)
    classifier = None if name in WITHOUT_M else load_model(model_paths(models_dir)["M"])
    return train_and_save_protected(name, classifier, data, config, models_dir)
