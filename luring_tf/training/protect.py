"""Protect your own classifier: train a luring component P for it, label-free, and save T = M∘P.

Any Keras classifier M (``.h5`` or ``.keras``) with an image input [N,H,W,C] of any size and K
classes, softmax (fused or separate) or logits output. Its input range is ``input_range``
(:mod:`luring_tf.input_range`, default [0,1]); P is chosen by :mod:`architectures.by_shape`'s rule
or built by a user's ``--component module:function``. Files written beside ``name.h5``:

* ``name_luring_P.h5``: P as the user sees it -- M's inputs to M's inputs
  (``[to_unit, P, from_unit]``; just P when the range is [0,1]);
* ``name_luring_T.h5``: T = ``Sequential([P_saved, M])``, taking M's own inputs;
* ``name_luring.json``: the record (input range, component rule, λ, data, agreement, the clean test
  images the detection scheme flags -- its false alarms -- with a 95 % Wilson interval ...).

While P trains, its checkpoint lives in ``.checkpoints/name_luring/`` beside ``name.h5``: an
interrupted protection resumes from its last evaluation when the same command runs again
(:mod:`luring_tf.training.checkpoints`).

Both models hold only built-in layers (``Rescaling`` for the range) and load with plain
``keras.models.load_model``. Inside, P trains on [0,1] images against the [0,1] view of M
(:func:`unit_view`). Labels are never needed: an unlabeled folder's "labels" are M's own
predictions (and the record says so); given labels must be M's classes (:func:`check_labels`: a labelled
folder has one sub-folder per class of M).

The record keeps how the test images were held out (``holdout``: seed, test size and image count of a
folder or an array; ``data``: the split settings): the evaluation reuses them (:func:`recorded_defaults`)
and refuses data held out otherwise (:func:`check_same_holdout`), whose test images would include some
that P was trained on.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import keras
import numpy as np

from luring_tf.errors import UserError
from luring_tf.evaluation import metrics
from luring_tf.evaluation.adversarial import predict_labels
from luring_tf.finite import check_finite, check_weights_finite
from luring_tf.input_range import InputRange, parse_input_range
from luring_tf.storage import files
from luring_tf.storage.models_io import compose, load_model, save_model

MODEL_SUFFIXES = (".h5", ".keras")
# what to do about a --target-model file that is missing or not a Keras model (a user's own classifier:
# luring-tf cannot train it again)
TARGET_MISSING = "give --target-model the path of your trained Keras classifier (.h5 or .keras)"
TARGET_UNREADABLE = "give --target-model your Keras classifier as saved by model.save(...) (.h5 or .keras)"
LABELS_FROM_M = "none in the data: 'correct' means M's own label"


@dataclasses.dataclass
class Protected:
    """A protected classifier: M, P (M's inputs -> M's inputs), T = M∘P, the input range and the record."""

    classifier: keras.Model
    component: keras.Model
    protected: keras.Model
    input_range: InputRange
    record: dict
    paths: dict | None = None

    @property
    def image_shape(self) -> tuple:
        return tuple(int(v) for v in self.classifier.input_shape[1:])

    def unit_models(self) -> dict:
        """``{"M": ..., "luring": ...}`` taking [0,1] images (what the attacks and metrics use)."""
        return {"M": unit_view(self.classifier, self.input_range, "M"),
                "luring": unit_view(self.protected, self.input_range, "T")}


def protected_paths(target: Path, failed: bool = False) -> dict[str, Path]:
    """Where P, T and the record go beside ``target``; ``failed``: the names of a refused T
    (``<name>_luring_T.failed.h5`` ...), never those of a good one."""
    stem, mark = Path(target).with_suffix(""), ".failed" if failed else ""
    return {"P": Path(f"{stem}_luring_P{mark}.h5"), "T": Path(f"{stem}_luring_T{mark}.h5"),
            "record": Path(f"{stem}_luring{mark}.json")}


class ProtectionFailed(UserError):
    """T does not agree with M well enough on held-out validation images: refused, saved under failed names."""


CLEAR_SHARE = 0.25  # "clearly above" the constant-image baseline b: at least b + 0.25 (1 - b) agreement


def clear_of_baseline(baseline: float) -> float:
    """The least agreement clearly above a constant image's ``baseline`` (0.4 for 0.2; 1.0 when M is constant)."""
    return baseline + CLEAR_SHARE * (1.0 - baseline)


def refusal(val: float, baseline: float, floor: float, test: float, curve: list) -> str | None:
    """The one-line reason to refuse T, or None when its validation agreement ``val`` is clearly above the
    constant-image ``baseline`` and at least the ``floor`` (``train.luring.min_agreement``)."""
    if val >= floor and val >= clear_of_baseline(baseline) - 1e-9:
        return None
    last = curve[-1] if curve else {}
    trend = (f"; last evaluation: train {last['train_agreement']:.3f} vs validation {last['val_agreement']:.3f}"
             if last else "")
    return (f"the protected model T agrees with your model on {val:.3f} of the validation images (a constant image "
            f"reaches {baseline:.3f}, clearly above is >= {clear_of_baseline(baseline):.3f}; floor "
            f"train.luring.min_agreement={floor:g}; test {test:.3f}{trend}): not "
            "saved as a usable T; try more steps (--set train.luring.steps=...), a longer identity warm-up "
            "(--set train.luring.identity_warmup_steps=...), another learning rate (--set train.luring.lr=[...]) "
            "or another --component")


def check_classifier(model: keras.Model, name: str) -> tuple[tuple, int]:
    """M takes images [N,H,W,C] and outputs class scores [N,K]; returns ((H,W,C), K), else a ``UserError``."""
    inputs, outputs = getattr(model, "inputs", None) or [], getattr(model, "outputs", None) or []
    if len(inputs) != 1 or len(outputs) != 1:
        raise UserError(f"{name} has {len(inputs)} inputs and {len(outputs)} outputs: luring-tf protects an "
                        "image classifier with one image input and one class-score output")
    in_shape, out_shape = tuple(model.input_shape), tuple(model.output_shape)
    if len(in_shape) != 4 or any(d is None for d in in_shape[1:]):
        raise UserError(f"{name} takes inputs of shape {in_shape[1:]}, not images: luring-tf needs a classifier of "
                        "images [H, W, C] with a fixed size (rank-4 input [batch, H, W, C])")
    if len(out_shape) != 2 or out_shape[1] is None or out_shape[1] < 2:
        raise UserError(f"{name} outputs shape {out_shape[1:]}: luring-tf needs class scores [K] (K >= 2)")
    return tuple(int(d) for d in in_shape[1:]), int(out_shape[1])


def load_target(target_path, dataset: str | None = None, retrain: bool = False) -> keras.Model:
    """Load and check the user's classifier (before any data is loaded).

    Checks, each a one-line ``UserError``: the file is ``.h5``/``.keras``, its folder is writable
    (the outputs go beside it), its weights are finite, it is an image classifier
    (:func:`check_classifier`), and no protected model exists there unless ``retrain``.
    ``dataset`` is accepted for compatibility; the data's shape is checked by :func:`unit_data`.
    """
    target = Path(target_path)
    if target.suffix.lower() not in MODEL_SUFFIXES:
        raise UserError(f"--target-model {target}: give a Keras model file ending in .h5 or .keras")
    files.check_writable(target.parent, "--target-model")
    classifier = load_model(target, TARGET_UNREADABLE, TARGET_MISSING)
    check_weights_finite(classifier, f"--target-model {target}")
    check_classifier(classifier, f"--target-model {target}")
    existing = protected_paths(target)["T"]
    if existing.exists() and not retrain:
        raise UserError(f"{existing} already exists: pass --retrain to train a new component")
    return classifier


def unit_view(model: keras.Model, input_range: InputRange, name: str) -> keras.Model:
    """``model`` (taking M's range) as a model of [0,1] images: ``[from_unit, model]`` (``model`` itself for [0,1])."""
    if input_range.is_identity():
        return model
    return keras.Sequential([keras.Input(model.input_shape[1:]), input_range.from_unit(), model], name=f"{name}_unit")


def saved_component(component: keras.Model, input_range: InputRange) -> keras.Model:
    """P as saved: M's inputs -> [0,1] -> P -> M's range (``component`` itself for [0,1])."""
    if input_range.is_identity():
        return component
    return keras.Sequential([keras.Input(component.input_shape[1:]), input_range.to_unit(), component,
                             input_range.from_unit()], name="P")


def _array(data, split: str):
    x = getattr(data, f"x_{split}", None)
    if x is None and hasattr(data, "images"):
        x = data.images(split)
    return None if x is None else np.asarray(x, np.float32)


def _image_shape(data) -> tuple:
    shape = getattr(data, "image_shape", None)
    if shape is None:
        arrays = (getattr(data, f"x_{split}", None) for split in ("train", "test"))
        shape = next(np.shape(x)[1:] for x in arrays if x is not None)
    return tuple(int(d) for d in shape)


def check_data_shape(data, image_shape: tuple, what: str) -> None:
    """The data's images have M's input shape, else a one-line ``UserError``."""
    shape = _image_shape(data)
    if shape != tuple(image_shape):
        raise UserError(f"{what} takes images of shape {tuple(image_shape)}, the data's images have shape {shape}: "
                        "pass a --data-dir of your images (they are resized to your model's shape) or the "
                        "--dataset your model was trained on")


def check_labels(data, classes: int, what: str) -> None:
    """The data's labels are classes of M (0..classes-1; a labelled folder has ``classes`` sub-folders), else a
    one-line ``UserError``; unlabeled data pass."""
    names = getattr(data, "class_names", None)
    if getattr(data, "labelled", True) and names is not None and len(names) != classes:
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        raise UserError(f"the data has {len(names)} classes ({shown}) and {what} scores {classes}: give one "
                        f"sub-folder per class of your model ({classes}, in your model's class order when sorted "
                        "by name), or all images at the folder's top level (unlabeled)")
    for split in ("train", "val", "test"):
        labels = getattr(data, f"y_{split}", None) if getattr(data, "labelled", True) else None
        if labels is not None and len(labels) and (int(np.min(labels)) < 0 or int(np.max(labels)) >= classes):
            raise UserError(f"the data's {split} labels run from {int(np.min(labels))} to {int(np.max(labels))} and "
                            f"{what} scores {classes} classes (labels 0..{classes - 1}): give data of your "
                            "model's classes, or unlabeled images")


SPLIT_KEYS = ("split_seed", "test_size", "val_fraction", "sample_test_size")


def recorded_defaults(record: dict) -> list[tuple[str, object]]:
    """What the evaluation of a protected model takes from its record, as defaults below ``--set`` and the
    flags (:mod:`luring_tf.config.precedence`): the seed, and the ``data`` split settings (:data:`SPLIT_KEYS`),
    so that the evaluation holds out the test images protect held out, not P's training ones."""
    recorded = record.get("data") or {}
    defaults = [] if record.get("seed") is None else [("seed", record["seed"])]
    return defaults + [(f"data.{key}", recorded[key]) for key in SPLIT_KEYS if key in recorded]


def _holdout_text(holdout: dict) -> str:
    return ", ".join(f"{key} {value}" for key, value in holdout.items())


def check_same_holdout(data, record: dict, what: str) -> None:
    """``data``'s test split was held out as the one ``record`` (protect's) describes, else a one-line ``UserError``.

    Passes when either is not known (an official test set is kept apart; records older than ``holdout``).
    """
    recorded, given = record.get("holdout"), getattr(data, "holdout", None)
    if recorded and given and dict(recorded) != dict(given):
        raise UserError(f"the data's test images are held out with {_holdout_text(given)}, but {what} was "
                        f"protected beside a hold-out with {_holdout_text(recorded)}: some of these test images "
                        "trained P; load the data with the recorded split (run_defense.py --target-model does), "
                        "or pass images P never saw")


def unit_data(data, classifier01: keras.Model, what: str, splits=("test",)):
    """The ``splits`` of ``data`` as [0,1] arrays with labels; unlabeled data get M's own predictions as labels.

    Returns ``(dataset, labelled)`` (a :class:`~luring_tf.data.dataset.Dataset` whose other splits are None).
    Only evaluation sets go through here: training streams the data (:mod:`luring_tf.data.streams`).
    """
    from luring_tf.data.dataset import Dataset

    labelled = getattr(data, "labelled", True) and getattr(data, "y_test", None) is not None
    arrays, labels = {}, {}
    for split in ("train", "val", "test"):
        x = _array(data, split) if split in splits else None
        y = getattr(data, f"y_{split}", None) if labelled and x is not None else None
        if y is None and x is not None:
            y = predict_labels(classifier01, x, name=what)
        arrays[split], labels[split] = x, None if y is None else np.asarray(y, np.int64)
    source = getattr(data, "source", "arrays")
    dataset = Dataset(name=getattr(data, "name", "user"), x_train=arrays["train"], y_train=labels["train"],
                      x_val=arrays["val"], y_val=labels["val"], x_test=arrays["test"], y_test=labels["test"],
                      source=source if labelled else f"{source}; labels: {LABELS_FROM_M}")
    return dataset, labelled


def build_component(image_shape: tuple, component=None, dropout: float = 0.0):
    """P for M's image shape: the user's ``module:function`` (or function) or the rule; returns ``(P, how)``."""
    import architectures.by_shape as by_shape

    if component == by_shape.COMPACT:
        return by_shape.build_compact_component(image_shape), by_shape.compact_rule(image_shape)
    if component:
        name = component if isinstance(component, str) else getattr(component, "__name__", "a builder")
        return by_shape.build_user_component(component, image_shape), f"--component {name}"
    return by_shape.build_component_for_shape(image_shape, dropout=dropout), by_shape.component_rule(image_shape)


def protect_model(target_path, data, config: dict, classifier, *, input_range="0,1", component: str | None = None,
                  save: bool = True, data_dir=None) -> Protected:
    """Train the luring component for ``classifier`` (loaded from ``target_path``); returns the :class:`Protected`.

    ``data``: a :class:`~luring_tf.data.dataset.Dataset` (arrays or an image folder) of [0,1] images of
    M's shape; ``config``: a resolved profile (``train.luring`` = the training sizes and λ, ``seed``);
    ``save``: write P, T and the record beside ``target_path`` (atomically; nothing when training fails);
    ``data_dir``: recorded (with ``config['data']`` and the seed) so that evaluation and export find the same
    test hold-out again.
    """
    from luring_tf.training import checkpoints, trainers

    target = Path(target_path) if target_path is not None else None
    name = f"--target-model {target}" if target else "your model"
    rng = parse_input_range(input_range)
    image_shape, classes = check_classifier(classifier, name)
    rng.check_channels(image_shape[-1], name)
    check_data_shape(data, image_shape, name)
    check_labels(data, classes, name)
    classifier01 = unit_view(classifier, rng, "M")
    cfg = config["train"]["luring"]
    # --component (or the API's component) wins over the configuration's train.luring.component
    component01, how = build_component(image_shape, component or cfg.get("component"), cfg.get("dropout", 0.0))
    augment = trainers.augmentation(cfg.get("augment"), image_shape[0])
    start = time.time()
    location = checkpoints.at(target.parent, f"{target.stem}_luring") if target is not None and save else None
    summary = trainers.train_component(component01, classifier01, data, cfg, "luring", augment, config["seed"],
                                       deterministic=config.get("deterministic", True), checkpoint=location)
    # Nothing non-finite is saved: P's weights and both models' test outputs are checked first.
    check_finite([np.asarray(w) for w in component01.get_weights()],
                 f"the weights of the luring component P trained for {target or 'your model'}",
                 "its training diverged; rerun with a lower learning rate (--set train.luring.lr=...)")
    component_saved = saved_component(component01, rng)
    protected = compose(component_saved, classifier)
    data01, labelled = unit_data(data, classifier01, name)
    t01 = unit_view(protected, rng, "T")
    # The decision (refuse or not) reads validation images; the test split is read once, for the report.
    x_val = _array(data, "val")
    m_val = predict_labels(classifier01, x_val, name=name)
    val_agreement = metrics.agreement(predict_labels(t01, x_val, name="T (your model protected by P)"), m_val)
    baseline = float(np.bincount(m_val).max() / len(m_val)) if len(m_val) else 0.0
    floor = float(cfg.get("min_agreement", 0.8))
    m_pred = predict_labels(classifier01, data01.x_test, name=name)
    t_pred = predict_labels(t01, data01.x_test, name="T (your model protected by P)")
    test_agreement = metrics.agreement(t_pred, m_pred)
    reason = refusal(val_agreement.value, baseline, floor, test_agreement.value, summary.get("curve", []))
    record = {"target_model": str(target) if target else None, "dataset": config["dataset"],
              "profile": config["profile"], "image_shape": list(image_shape), "classes": classes,
              "input_range": rng.as_dict(), "component_rule": how,
              "luring_coefficient": float(cfg.get("luring_coefficient", 1.0)),
              "data_source": getattr(data, "source", None),
              "data_dir": None if data_dir is None else str(Path(data_dir).resolve()),
              "data": config.get("data"), "holdout": getattr(data, "holdout", None), "seed": config["seed"],
              "labels": "given" if labelled else LABELS_FROM_M,
              "training": dict(summary, seconds=round(time.time() - start, 1)),
              "user_defaults": config.get("user_defaults"),
              "status": "failed" if reason else "ok", "refusal": reason,
              "val_agreement": val_agreement.as_dict(), "constant_image_agreement": round(baseline, 4),
              "min_agreement": floor, "test_agreement": test_agreement.as_dict(),
              # the detection scheme's false alarms (paper's rule, M(x) != T(x)) on the clean test images
              "clean_test_flag_rate": metrics.Rate(int(np.sum(m_pred != t_pred)), int(len(m_pred))).as_dict()}
    if labelled:
        record["test_accuracy_M"] = metrics.accuracy(m_pred, data01.y_test).as_dict()
        record["test_accuracy_T"] = metrics.accuracy(t_pred, data01.y_test).as_dict()
    paths = None
    if save and target is not None:
        paths = protected_paths(target, failed=bool(reason))
        record.update(component=str(paths["P"]), protected_model=str(paths["T"]))
        save_model(component_saved, paths["P"], overwrite=True)
        save_model(protected, paths["T"], overwrite=True)
        files.write_json(paths["record"], record)
        if not reason:  # a good T replaces the files of an earlier refused one
            for stale in protected_paths(target, failed=True).values():
                stale.unlink(missing_ok=True)
    if reason:
        where = f" (written as {paths['T'].name}, record {paths['record'].name})" if paths else ""
        raise ProtectionFailed(reason + where)
    return Protected(classifier, component_saved, protected, rng, record, paths)


def load_protected(target_path) -> Protected:
    """M (``target_path``), its T (``<name>_luring_T.h5``) and record, as saved by :func:`protect_model`.

    A file that is missing or unreadable is a one-line ``UserError`` naming that very file (the
    classifier, T or the record) with its fix: give the right ``--target-model``, protect it first, or
    protect it again with ``run_characterization.py --target-model ... --retrain`` (which replaces P,
    T and the record).
    """
    from luring_tf.storage.models_io import check_built_on

    target = Path(target_path)
    paths = protected_paths(target)
    command = f"python run_characterization.py --target-model {target} --data-dir DIR"
    again = f"protect it again: {command} --retrain (replaces {paths['P'].name}, {paths['T'].name} and the record)"
    if target.suffix.lower() not in MODEL_SUFFIXES:
        raise UserError(f"--target-model {target}: give a Keras model file ending in .h5 or .keras")
    if not target.is_file():
        raise UserError(f"--target-model {target} not found: {TARGET_MISSING}")
    classifier = load_model(target, TARGET_UNREADABLE, TARGET_MISSING)
    check_classifier(classifier, f"--target-model {target}")
    check_weights_finite(classifier, f"--target-model {target}")
    if not paths["T"].is_file():
        raise UserError(f"{paths['T']} not found (the protected model of {target.name}): protect it first: {command}")
    if not paths["record"].is_file():
        raise UserError(f"{paths['record']} not found (the protection record of {target.name}): {again}")
    protected = load_model(paths["T"], again, again)
    check_weights_finite(protected, f"model file {paths['T']}")
    check_built_on(protected, classifier, paths["T"], target, again)
    record = files.read_json(paths["record"], again)
    if not isinstance(record, dict) or not isinstance(record.get("input_range", {}), dict):
        raise UserError(f"{paths['record']} is not a protection record: {again}")
    rng = parse_input_range(record.get("input_range", {}).get("text", "0,1"))
    return Protected(classifier, protected.layers[0], protected, rng, record, paths)
