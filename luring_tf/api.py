"""The Python API: protect a classifier, evaluate the protection, export it, detect with it.

    import luring_tf
    from luring_tf.data import load_dataset

    data = load_dataset("mnist", "sample")                 # [0,1] images; or load_image_folder(...)
    protected = luring_tf.protect(model, data, input_range="0,1", overrides=["train.luring.steps=300"])
    record = luring_tf.evaluate(protected, data, attack="mim-w", eps=[0.2], out_dir="results/mine")
    luring_tf.export(protected, "exported/mine", images=data, tflite=True)
    result = luring_tf.detect(protected, x)                # x in the model's own input range

The scripts call these functions (``run_characterization.py --target-model``, ``run_defense.py
--target-model``, ``python -m luring_tf.export``): one way to do each thing.

Configuration: a profile of ``configs/<dataset>.yaml`` (training sizes, attack settings, ε);
without ``dataset`` the profile is picked by the image's channels (:func:`profile_dataset`);
``overrides`` are ``--set`` strings. ε is a fraction of the input range (attacks run on the [0,1]
view of the models, :mod:`luring_tf.input_range`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from luring_tf.errors import UserError

if TYPE_CHECKING:  # Keras is imported on first use only
    from luring_tf.training.protect import Protected


def __getattr__(name):  # Protected: imported on first use (it needs Keras; `import luring_tf.api` does not)
    if name == "Protected":
        from luring_tf.training.protect import Protected

        return Protected
    raise AttributeError(f"module 'luring_tf.api' has no attribute {name!r}")


def load_protected(target_path) -> "Protected":
    """M (``target_path``), its T (``<name>_luring_T.h5``) and the record, as ``protect`` saved them."""
    from luring_tf.training.protect import load_protected as load

    return load(target_path)


def profile_dataset(image_shape) -> str:
    """The configuration profile for a user's model: ``mnist`` for grey images, ``svhn`` for colour."""
    return "mnist" if int(image_shape[-1]) == 1 else "svhn"


def resolve_config(image_shape, dataset: str | None = None, profile: str = "quick", overrides=(), *,
                   seed: int | None = None, luring_coefficient: float | None = 1.0, classes: int | None = None) -> dict:
    """The profile of ``dataset`` (default :func:`profile_dataset`) with ``overrides``, ``seed`` and λ applied.

    Without ``dataset`` and with ``classes`` (K of a user's model), the user-model defaults
    (:mod:`luring_tf.training.user_defaults`) sit between the profile and ``overrides``."""
    from luring_tf.config import profiles, schema
    from luring_tf.training import user_defaults

    defaults = {} if dataset or classes is None else user_defaults.user_model_defaults(image_shape, classes)
    config = profiles.load_config(dataset or profile_dataset(image_shape), profile,
                                  user_defaults.as_overrides(defaults) + list(overrides))
    if defaults:
        config["user_defaults"] = {"values": defaults, "reason": user_defaults.reason(image_shape, classes)}
    if seed is not None:
        schema.check_value("seed", seed, "--seed")
        config["seed"] = int(seed)
    if luring_coefficient is not None:
        schema.check_value("train.luring.luring_coefficient", luring_coefficient, "--luring-coefficient")
        config["train"]["luring"]["luring_coefficient"] = float(luring_coefficient)
    return config


def as_dataset(images, labels=None, *, test_size: float = 0.2, val_fraction: float = 0.17, seed: int = 123):
    """A :class:`~luring_tf.data.dataset.Dataset` from an array (float32 [N,H,W,C] in [0,1]), seeded splits."""
    from luring_tf.data.dataset import Dataset
    from luring_tf.data.split import split_indices

    x = np.asarray(images, np.float32)
    if x.ndim != 4:
        raise UserError(f"images of shape {x.shape}: give float32 [N, H, W, C] images in [0, 1]")
    y = None if labels is None else np.asarray(labels, np.int64)
    rest, test = split_indices(len(x), test_size, seed)
    train, val = split_indices(len(rest), val_fraction, seed)
    train, val = rest[train], rest[val]
    pick = (lambda idx: None) if y is None else (lambda idx: y[idx])
    return Dataset(name="arrays", x_train=x[train], y_train=pick(train), x_val=x[val], y_val=pick(val),
                   x_test=x[test], y_test=pick(test), source=f"{len(x)} images given as an array",
                   labelled=y is not None)


def _dataset(data, seed: int = 123):
    return as_dataset(data, seed=seed) if isinstance(data, np.ndarray) else data


def protect(model, data, *, input_range="0,1", component: str | None = None, luring_coefficient: float = 1.0,
            config: dict | None = None, dataset: str | None = None, profile: str = "quick", overrides=(),
            seed: int | None = None, retrain: bool = False, data_dir=None, path=None) -> Protected:
    """Train a luring component P for ``model`` without labels; returns the :class:`Protected` (M, P, T, record).

    ``model``: a ``keras.Model`` or the path of a ``.h5`` / ``.keras`` file (then P, T and the record
    are saved beside it: ``<name>_luring_{P,T}.h5``, ``<name>_luring.json``; ``retrain`` replaces them).
    ``data``: a Dataset of [0,1] images of the model's input shape (``load_dataset``,
    ``load_image_folder``) or an array [N,H,W,C] in [0,1] (:func:`as_dataset`: 20 % test, 17 % of the
    rest validation, seeded).
    ``input_range``: what the model takes (``"0,255"``, ``"-1,1"``, ``"mean=...:std=..."``).
    ``component``: ``"module:function"`` building P or ``"compact"``, else ``train.luring.component`` (the
    compact P by the user-model defaults when ``dataset`` is None), else the rule of :mod:`architectures.by_shape`.
    ``path``: for an already loaded ``model``, the file it came from (P, T and the record are saved beside it).
    """
    from luring_tf.training.protect import check_classifier, load_target, protect_model

    target = None if path is None else Path(path)
    if isinstance(model, (str, Path)):
        target = Path(model)
        model = load_target(target, retrain=retrain)
    image_shape, classes = check_classifier(model, f"--target-model {target}" if target else "your model")
    if config is None:
        config = resolve_config(image_shape, dataset, profile, overrides, seed=seed,
                                luring_coefficient=luring_coefficient, classes=classes)
    return protect_model(target, _dataset(data, config["data"]["split_seed"]), config, model,
                         input_range=input_range, component=component, save=target is not None, data_dir=data_dir)


def _label(protected: Protected) -> str:
    target = protected.record.get("target_model")
    return f"your model {Path(target).name}" if target else "your model"


def evaluate(protected: Protected, data, *, attack: str = "mim-w", eps=None, n_examples: int | None = None,
             out_dir="results/protected/defense", config: dict | None = None, overrides=(), force: bool = False,
             verbose: bool = True) -> dict:
    """Section 4 evaluation of ``protected`` (M and T = M∘P) on ``data``'s test images under ``attack``.

    Attacks craft on T and transfer to M, on ``n_examples`` test images correct for both (correct = M's
    own label when the data has no labels; the record says so). ``eps``: l-inf budgets as fractions of
    the input range (default: the profile's). Cells are written under ``out_dir`` and reused when the
    call is repeated (``force`` recomputes); the summary goes to ``out_dir/defense_<attack>.{json,md}``.
    Returns the record (``table``: AC_M∘P, AC_M, DAC per ε, each with its denominator).
    """
    from luring_tf.config.profiles import check_eps
    from luring_tf.config import schema
    from luring_tf.evaluation.defense import expand_configs, run_defense
    from luring_tf.report.defense import write_defense
    from luring_tf.training.protect import LABELS_FROM_M, check_data_shape, unit_data

    record = protected.record
    if config is None:
        config = resolve_config(protected.image_shape, record.get("dataset"), record.get("profile", "quick"),
                                overrides, seed=record.get("seed"), luring_coefficient=None)
    if eps is not None:
        config["defense"]["eps"] = check_eps(list(eps))
    if n_examples is not None:
        schema.check_value("defense.n_examples", n_examples, "--n-examples")
        config["defense"]["n_examples"] = int(n_examples)
    expand_configs(attack, config["defense"])  # a bad attack or grid fails before any work
    label = _label(protected)
    config = dict(config, dataset=label)
    data = _dataset(data, config["data"]["split_seed"])
    check_data_shape(data, protected.image_shape, label)
    models = protected.unit_models()
    test, labelled = unit_data(data, models["M"], label)
    rng = protected.input_range
    notes = [f"Input range [{rng.text}]: attacks run on [0,1] images with the range folded into the models; "
             + "; ".join(rng.describe_eps(e) for e in config["defense"]["eps"]) + "."]
    if not labelled:
        notes.append(f"Labels: {LABELS_FROM_M} (the data has no labels).")
    if verbose:
        for note in notes:
            print(f"[luring-tf] {note}", flush=True)
    result = run_defense(models, test, config, attack, out_dir, force, verbose)
    result.update(dataset=label, profile=config["profile"], target_model=record.get("target_model"),
                  data_source=test.source, eps=config["defense"]["eps"], seed=config["seed"],
                  defense_config=config["defense"], input_range=rng.as_dict(),
                  labels="given" if labelled else LABELS_FROM_M, notes=notes)
    result["written"] = [str(p) for p in write_defense(result, out_dir)]
    return result


def detect(protected: Protected, x, batch_size: int = 500):
    """Detection scheme (Section 4.1) on ``x`` float32 [N,H,W,C] in the model's own input range.

    Returns a :class:`~luring_tf.evaluation.defense.DetectionResult`: ``answer`` (M's labels),
    ``t_pred`` (T's) and ``flagged`` (M(x) != T(x)).
    """
    from luring_tf.evaluation.defense import detect as detect_scheme

    return detect_scheme(protected.classifier, protected.protected, np.asarray(x, np.float32), batch_size)


def export(protected: Protected, path, *, images=None, tflite: bool = True, quantize: bool = False,
           force: bool = False) -> dict:
    """Write a SavedModel (signatures ``predict``, ``detect``) and optionally a TFLite T; see :mod:`luring_tf.export`.

    ``images``: test images for the TFLite agreement (a Dataset -- its test split -- or an array in [0,1]).
    """
    from luring_tf.export.writer import export_protected

    return export_protected(protected, path, images=images, tflite=tflite, quantize=quantize, force=force)
