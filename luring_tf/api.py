"""The Python API: protect a classifier, evaluate the protection, export it, detect with it.

    import luring_tf
    from luring_tf.data import load_dataset

    data = load_dataset("mnist", "sample")                 # [0,1] images; or load_image_folder(...)
    protected = luring_tf.protect(model, data, input_range="0,1", overrides=["train.luring.steps=300"])
    record = luring_tf.evaluate(protected, data, attack="mim-w", eps=[0.2], out_dir="results/mine")
    luring_tf.export(protected, "exported/mine", images=data, tflite=True)
    result = luring_tf.detect(protected, x)                # x in the model's own input range

The scripts call these functions (``run_characterization.py --target-model``, ``run_defense.py
--target-model``, ``python -m luring_tf.export``): one way to do each thing. The other way round,
:func:`characterize` and :func:`defend` run the paper's whole protocol as the scripts do (``seeds=[0, 1, 2]``:
once per seed, then the aggregate over the seeds).

Configuration: a profile of ``luring_tf/configs/<dataset>.yaml`` (or of ``$LURING_TF_CONFIG``) (training sizes, attack settings, ε);
without ``dataset`` the profile is picked by the image's channels (:func:`profile_dataset`);
``overrides`` are ``--set`` strings. ε is a fraction of the input range (attacks run on the [0,1]
view of the models, :mod:`luring_tf.input_range`).

Images: every function checks what it is given before any work (:mod:`luring_tf.images_check`): a
NumPy float array [N,H,W,C] of the model's image shape, not empty, finite, inside the range it must
be in -- ``detect``: the model's own input range; ``protect``, ``evaluate``, ``export``: [0,1] (the
range is folded into the models). Integer (uint8) images are refused with the conversion to use
(``x.astype(np.float32) / 255`` for [0,1]), never rescaled by a guess. Each failure is one
``UserError`` line naming the argument, the problem and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from luring_tf.errors import UserError
from luring_tf.images_check import check_data, check_images

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
                   seed: int | None = None, luring_coefficient: float | None = None, defaults=(),
                   classes: int | None = None) -> dict:
    """The profile of ``dataset`` (default :func:`profile_dataset`), as the scripts resolve it.

    Precedence (:mod:`luring_tf.config.precedence`): the profile < the user-model defaults (without
    ``dataset`` and with ``classes``, K of a user's model: :mod:`luring_tf.training.user_defaults`) <
    ``defaults`` (``key=value`` strings or ``(key, value)`` pairs) < ``overrides`` (``--set`` strings) <
    ``seed`` and ``luring_coefficient`` when given (None: the overrides', else the profile's; λ is 0.15 for
    cifar10, else 1.0).
    """
    import numbers

    from luring_tf.config.precedence import resolve
    from luring_tf.training import user_defaults

    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        seed = int(seed)  # NumPy integers too
    if isinstance(luring_coefficient, numbers.Real) and not isinstance(luring_coefficient, bool):
        luring_coefficient = float(luring_coefficient)
    flags = [("seed", seed, "--seed"), ("train.luring.luring_coefficient", luring_coefficient, "--luring-coefficient")]
    user = {} if dataset or classes is None else user_defaults.user_model_defaults(image_shape, classes)
    config = resolve(dataset or profile_dataset(image_shape), profile,
                     [*user_defaults.as_overrides(user), *defaults], list(overrides), flags)
    if user:
        config["user_defaults"] = {"values": user, "reason": user_defaults.reason(image_shape, classes)}
    return config


def as_dataset(images, labels=None, *, test_size: float = 0.2, val_fraction: float = 0.17, seed: int = 123):
    """A :class:`~luring_tf.data.dataset.Dataset` from an array (float32 [N,H,W,C] in [0,1]), seeded splits."""
    from luring_tf.data.dataset import Dataset
    from luring_tf.data.split import split_indices

    x = check_images(images, "images of luring_tf.api.as_dataset")
    y = None if labels is None else np.asarray(labels, np.int64)
    rest, test = split_indices(len(x), test_size, seed)
    train, val = split_indices(len(rest), val_fraction, seed)
    train, val = rest[train], rest[val]
    pick = (lambda idx: None) if y is None else (lambda idx: y[idx])
    return Dataset(name="arrays", x_train=x[train], y_train=pick(train), x_val=x[val], y_val=pick(val),
                   x_test=x[test], y_test=pick(test), source=f"{len(x)} images given as an array",
                   labelled=y is not None,
                   holdout={"seed": int(seed),
                            "test_size": test_size if isinstance(test_size, float) else int(test_size),
                            "images": len(x)})


def _dataset(data, settings: dict):
    """``data`` as a Dataset: an array is split by :func:`as_dataset` with the ``data`` settings of a configuration."""
    if not isinstance(data, np.ndarray):
        return data
    return as_dataset(data, test_size=settings.get("test_size", 0.2), val_fraction=settings.get("val_fraction", 0.17),
                      seed=settings["split_seed"])


def protect(model, data, *, input_range="0,1", component: str | None = None, luring_coefficient: float | None = None,
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
    ``luring_coefficient``: λ, over ``overrides`` (default: theirs, else the profile's: 0.15 for cifar10, else 1.0).
    ``path``: for an already loaded ``model``, the file it came from (P, T and the record are saved beside it).
    """
    from luring_tf.training.protect import check_classifier, load_target, protect_model

    target = None if path is None else Path(path)
    if isinstance(model, (str, Path)):
        target = Path(model)
        model = load_target(target, retrain=retrain)
    image_shape, classes = check_classifier(model, f"--target-model {target}" if target else "your model")
    check_data(data, "data of luring_tf.protect", image_shape)  # before any training
    if config is None:
        config = resolve_config(image_shape, dataset, profile, overrides, seed=seed,
                                luring_coefficient=luring_coefficient, classes=classes)
    return protect_model(target, _dataset(data, config["data"]), config, model,
                         input_range=input_range, component=component, save=target is not None, data_dir=data_dir)


def _label(protected: Protected) -> str:
    target = protected.record.get("target_model")
    return f"your model {Path(target).name}" if target else "your model"


def evaluate(protected: Protected, data, *, attack: str = "mim-w", eps=None, n_examples: int | None = None,
             out_dir="results/protected/defense", config: dict | None = None, overrides=(), force: bool = False,
             verbose: bool = True, false_alarm: float | None = None) -> dict:
    """Section 4 evaluation of ``protected`` (M and T = M∘P) on ``data``'s test images under ``attack``.

    Attacks craft on T and transfer to M, on ``n_examples`` test images correct for both (correct = M's
    own label when the data has no labels; the record says so). The test images are those protect held out:
    an array is split with the split settings of ``protected.record`` (unless ``overrides`` set them), and data
    held out otherwise (another seed, test size or image count) is refused in one line, as are labels that are
    not M's classes. ``eps``: l-inf budgets as fractions of
    the input range (default: the profile's). Cells are written under ``out_dir`` and reused when the
    call is repeated (``force`` recomputes); the summary goes to ``out_dir/defense_<attack>.{json,md}``.
    Returns the record (``table``: AC_M∘P, AC_M, DAC per ε, each with its denominator; the clean test flag
    rate; ``DAC_policy``: DAC under the detection policy calibrated on the validation images to ``false_alarm``,
    default :data:`~luring_tf.evaluation.defense.DEFAULT_FALSE_ALARM`).
    """
    from luring_tf.config.profiles import check_eps
    from luring_tf.config import schema
    from luring_tf.evaluation.defense import DEFAULT_FALSE_ALARM, expand_configs, run_defense
    from luring_tf.report.defense import write_defense
    from luring_tf.training.protect import (LABELS_FROM_M, check_data_shape, check_labels, check_same_holdout,
                                            recorded_defaults, unit_data)

    check_data(data, "data of luring_tf.evaluate", protected.image_shape, ("test",))  # before any prediction
    record = protected.record
    if config is None:
        # the protection's seed and test hold-out, unless the overrides set others
        config = resolve_config(protected.image_shape, record.get("dataset"), record.get("profile", "quick"),
                                overrides, defaults=recorded_defaults(record))
    if eps is not None:
        config["defense"]["eps"] = check_eps(list(eps))
    if n_examples is not None:
        schema.check_value("defense.n_examples", n_examples, "--n-examples")
        config["defense"]["n_examples"] = int(n_examples)
    expand_configs(attack, config["defense"])  # a bad attack or grid fails before any work
    label = _label(protected)
    config = dict(config, dataset=label)
    data = _dataset(data, config["data"])
    check_data_shape(data, protected.image_shape, label)
    check_labels(data, int(protected.classifier.output_shape[-1]), label)
    check_same_holdout(data, record, label)
    models = protected.unit_models()
    test, labelled = unit_data(data, models["M"], label, splits=("val", "test"))  # val: the policy's calibration
    rng = protected.input_range
    notes = [f"Input range [{rng.text}]: attacks run on [0,1] images with the range folded into the models; "
             + "; ".join(rng.describe_eps(e) for e in config["defense"]["eps"]) + "."]
    if not labelled:
        notes.append(f"Labels: {LABELS_FROM_M} (the data has no labels).")
    if verbose:
        for note in notes:
            print(f"[luring-tf] {note}", flush=True)
    result = run_defense(models, test, config, attack, out_dir, force, verbose,
                         DEFAULT_FALSE_ALARM if false_alarm is None else false_alarm)
    result.update(dataset=label, profile=config["profile"], target_model=record.get("target_model"),
                  data_source=test.source, eps=config["defense"]["eps"], seed=config["seed"],
                  defense_config=config["defense"], input_range=rng.as_dict(),
                  labels="given" if labelled else LABELS_FROM_M, notes=notes)
    result["written"] = [str(p) for p in write_defense(result, out_dir)]
    return result


def detect(protected: Protected, x, batch_size: int = 500, policy=None):
    """Detection scheme (Section 4.1) on ``x`` float32 [N,H,W,C] in the model's own input range.

    ``x`` is checked first (:func:`luring_tf.images_check.check_images`: NaN, integer dtypes, values
    outside the input range, another image size, rank, lists and empty arrays are a ``UserError``).
    ``policy``: when to flag -- None or ``"paper"`` (M(x) != T(x), the paper's rule), or a policy from
    :func:`calibrate_detection` (flag only when T's probability of M's label is also below its threshold,
    calibrated on clean validation images to a target false-alarm rate); ``result.policy`` names it.

    Returns a :class:`~luring_tf.evaluation.defense.DetectionResult`: ``answer`` (M's labels),
    ``t_pred`` (T's) and ``flagged`` (M(x) != T(x)).
    """
    from luring_tf.evaluation.defense import detect as detect_scheme

    x = check_images(x, "x of luring_tf.detect", protected.image_shape, protected.input_range)
    return detect_scheme(protected.classifier, protected.protected, x, batch_size, policy)


def calibrate_detection(protected: Protected, data, false_alarm: float = 0.05, batch_size: int = 500):
    """A detection policy for :func:`detect` / :func:`export` flagging at most ``false_alarm`` of clean images.

    ``data``: a Dataset -- its **validation** split is used, never the test split (which then measures the
    policy on held-out images) -- or an array of clean validation images float32 [N,H,W,C] in the model's own
    input range. Returns a :class:`~luring_tf.evaluation.detection_policy.DetectionPolicy` (``rule``
    "confidence", ``threshold``, ``calibration``: images and the flag rate reached there, with its interval).
    """
    from luring_tf.evaluation import detection_policy

    false_alarm = detection_policy.check_false_alarm(false_alarm)
    if not hasattr(data, "x_val") and not hasattr(data, "images"):  # an array (or a list: refused by the check)
        x = check_images(data, "data of luring_tf.calibrate_detection", protected.image_shape, protected.input_range)
    else:
        from luring_tf.evaluation.defense import validation_images

        x01 = validation_images(data)
        if x01 is None:
            raise UserError("the data has no validation split to calibrate the detection policy on: give a "
                            "Dataset with one (e.g. load_dataset(...), as_dataset(images)) or clean validation "
                            "images as an array -- never the test images")
        x = protected.input_range.to_model_units(x01)
    s = detection_policy.scores(protected.classifier, protected.protected, x, batch_size)
    return detection_policy.calibrate(s, false_alarm)


def export(protected: Protected, path, *, images=None, tflite: bool = True, quantize: bool = False,
           force: bool = False, serve: str = "public", policy=None) -> dict:
    """Write a SavedModel (signatures ``predict``, ``detect``) and optionally a TFLite T; see :mod:`luring_tf.export`.

    ``serve``: ``"public"`` (default) writes ``public/`` -- T only, and T's answer or a reject when flagged --
    apart from ``internal/`` (M's outputs: never serve it to users); ``"legacy"`` writes the former single
    ``saved_model/`` whose signatures answer with M (what ``--serve-m`` gives).
    ``policy``: the detection policy baked into ``detect`` (None: the paper's rule; a policy from
    :func:`calibrate_detection`; or a target false-alarm rate, e.g. 0.05, calibrated on ``images``' validation
    split).

    ``images``: test images for the TFLite agreement (a Dataset -- its test split -- or an array in [0,1]).
    """
    from luring_tf.export.writer import export_protected

    return export_protected(protected, path, images=images, tflite=tflite, quantize=quantize, force=force,
                            serve=serve, policy=policy)


def _protocol_argv(dataset, profile, seed, seeds, out, models_dir, data_dir, approaches, overrides, jobs, force,
                   quiet) -> list[str]:
    argv = ["--dataset", dataset, "--profile", profile]
    for flag, given in (("--seed", seed), ("--out", out), ("--models-dir", models_dir), ("--data-dir", data_dir),
                        ("--jobs", jobs)):
        if given is not None:
            argv += [flag, str(given)]
    if seeds is not None:
        argv += ["--seeds", *(str(s) for s in ([seeds] if isinstance(seeds, (int, np.integer)) else seeds))]
    if approaches:
        argv += ["--approaches", *approaches]
    for text in overrides:
        argv += ["--set", text]
    return argv + ["--force"] * bool(force) + ["--quiet"] * bool(quiet)


def _run_protocol(module: str, argv: list[str], result: Path) -> dict:
    """``module.main(argv)`` as the script runs it (one-line argument errors become a ``UserError``); its record."""
    import contextlib
    import importlib
    import io

    from luring_tf.storage import files

    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            code = importlib.import_module(module).main(argv)
    except SystemExit as exc:  # argparse's one-line error (bad flag value, --seed with --seeds, ...)
        raise UserError(errors.getvalue().strip().split(": error: ", 1)[-1] or f"bad arguments {argv}") from None
    if code:
        raise UserError(f"{module} stopped with status {code}")
    return files.read_json(result)


def characterize(dataset: str = "mnist", profile: str = "quick", *, seed: int | None = None, seeds=None,
                 out=None, models_dir=None, data_dir=None, approaches=None, overrides=(), jobs=None,
                 retrain: bool = False, force: bool = False, quiet: bool = True) -> dict:
    """The whole Section 3 protocol, as ``run_characterization.py`` runs it: train (or reuse) M and every T, Table 8
    and DR / IAR; returns the record ``<out>/characterization.json``.

    ``seeds`` (a list, e.g. ``[0, 1, 2]``; not with ``seed``): the protocol once per seed into ``<out>/seed_<s>/``
    (models in ``<models_dir>/seed_<s>/``, resumable per seed), then returns the aggregate
    ``<out>/aggregate_characterization.json`` (per rate: each seed's value, mean, std, min–max, the paper's;
    :mod:`luring_tf.report.seeds`). ``out`` defaults to ``results/<dataset>``, ``models_dir`` to
    ``models/<profile>/<dataset>``; ``overrides``: ``--set`` strings; ``approaches``: a subset.
    """
    argv = _protocol_argv(dataset, profile, seed, seeds, out, models_dir, data_dir, approaches, overrides, jobs,
                          force, quiet) + ["--retrain"] * bool(retrain)
    folder = Path(out or f"results/{dataset}")
    name = "aggregate_characterization.json" if seeds is not None else "characterization.json"
    return _run_protocol("luring_tf.cli.characterize", argv, folder / name)


def defend(attack: str = "spsa", dataset: str = "mnist", profile: str = "quick", *, seed: int | None = None,
           seeds=None, out=None, models_dir=None, data_dir=None, approaches=None, overrides=(),
           force: bool = False, quiet: bool = True) -> dict:
    """The Section 4 evaluation of the paper's models under ``attack``, as ``run_defense.py`` runs it (the models of
    :func:`characterize`); returns the record ``<out>/defense_<attack>.json``.

    ``seeds``: once per seed on that seed's models (``<models_dir>/seed_<s>/``, from ``characterize(seeds=...)``)
    into ``<out>/seed_<s>/``, then returns the aggregate ``<out>/aggregate_defense_<attack>.json``. ``out``
    defaults to ``results/<dataset>/defense``.
    """
    from luring_tf.names import canonical_attack

    argv = _protocol_argv(dataset, profile, seed, seeds, out, models_dir, data_dir, approaches, overrides, None,
                          force, quiet) + ["--attack", attack]
    folder, attack = Path(out or f"results/{dataset}/defense"), canonical_attack(attack)
    name = f"aggregate_defense_{attack}.json" if seeds is not None else f"defense_{attack}.json"
    return _run_protocol("luring_tf.cli.defend", argv, folder / name)
