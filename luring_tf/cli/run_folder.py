"""What every run script does first: resolve the configuration, check the models and the output folders, load the data.

Everything here runs before any long work (training, attacks), so a user mistake costs seconds.
"""

from __future__ import annotations

from pathlib import Path

from luring_tf.config import profiles as config_module
from luring_tf.storage import files
from luring_tf.storage import lock
from luring_tf.data import load_dataset
from luring_tf.errors import UserError

RUN_CONFIG = "run-config.json"


# The flags that name one configuration key: (args attribute, key, flag). ``{section}`` is the script's
# section (characterization, defense, analysis); ``{eps_section}`` the section holding its ε list (the
# analysis reads the characterization's). A flag given wins over --set, which wins over the profile
# (luring_tf.config.precedence).
FLAG_KEYS = (
    ("seed", "seed", "--seed"),
    ("tfds", "data.tfds_name", "--tfds"),
    ("data_source", "data.source", "--data-source"),
    ("n_examples", "{section}.n_examples", "--n-examples"),
    ("eps", "{eps_section}.eps", "--eps"),
    ("luring_coefficient", "train.luring.luring_coefficient", "--luring-coefficient"),
)


def eps_section(section: str) -> str:
    """The section whose ``eps`` a script's ``--eps`` sets: its own, else the characterization's."""
    return section if section in ("characterization", "defense") else "characterization"


def flag_values(args, section: str) -> list[tuple[str, object, str]]:
    """``(key, value, flag)`` of every :data:`FLAG_KEYS` flag of ``args`` (value None when not given)."""
    names = {"section": section, "eps_section": eps_section(section)}
    out = []
    for dest, key, flag in FLAG_KEYS:
        value = getattr(args, dest, None)
        if isinstance(value, tuple):
            value = list(value)
        if dest == "luring_coefficient" and value is not None:
            value = float(value)
        out.append((key.format(**names), value, flag))
    return out


def mode_defaults(args, section: str) -> list[tuple[str, object]]:
    """Values the run's mode implies (below --set): a --data-dir without --data-source reads ``auto``;
    ``run_defense.py --public trapdoor`` / ``--base advtrain`` include FGSM in MIM-W (Tables 19-20), and
    ``--base advtrain`` evaluates at the adversarial training's ε (Table 19), both unless --set says otherwise."""
    defaults = []
    if getattr(args, "data_dir", None):  # a folder given by the user wins over the profile's default source
        defaults.append(("data.source", "auto"))
    if section == "defense":
        advtrain = getattr(args, "base", "standard") == "advtrain"
        if advtrain or getattr(args, "public", "mop") == "trapdoor":
            defaults.append(("defense.mim_w.include_fgsm", True))
        if advtrain:
            trained = config_module.load_config(args.dataset, args.profile, args.overrides, getattr(args, "config", None))
            defaults.append(("defense.eps", [float(trained["train"]["advtrain"]["eps"])]))
    return defaults


def resolve_config(args, section: str, defaults=()) -> dict:
    """The run's configuration: profile (of ``--config FILE`` / ``$LURING_TF_CONFIG`` over the shipped one)
    < mode defaults (``defaults``, then :func:`mode_defaults`) < ``--set``
    < the dedicated flags (:data:`FLAG_KEYS`), every value validated (:mod:`luring_tf.config.precedence`).

    ``defaults``: further ``(key, value)`` / ``key=value`` defaults of the caller (e.g. a user model's),
    applied before the mode's. The characterization's ``--attacks`` then keeps only the attacks named.
    """
    from luring_tf.config.precedence import resolve

    config = resolve(args.dataset, args.profile, [*defaults, *mode_defaults(args, section)], args.overrides,
                     flag_values(args, section), getattr(args, "config", None))
    eps_key = eps_section(section)
    config[eps_key]["eps"] = config_module.check_eps(config[eps_key]["eps"])
    if section == "characterization" and getattr(args, "attacks", None):
        chosen = config["characterization"]["attacks"]
        config["characterization"]["attacks"] = {a: chosen.get(a, {}) for a in args.attacks}
    return config


def approaches(args) -> tuple[str, ...]:
    """The approaches a run uses, as ``--approaches``'s help says: those given, else every approach of the data
    set; with ``--base advtrain`` luring; with ``--public trapdoor`` none (the trapdoored model alone)."""
    from luring_tf.cli import advtrain_table
    from luring_tf.training import paper_models

    if getattr(args, "base", "standard") == "advtrain":
        return advtrain_table.approaches(args)
    if getattr(args, "public", "mop") == "trapdoor" and not args.approaches:
        return ()
    return paper_models.check_approaches(args.dataset, args.approaches)


def models_dir(args) -> Path:
    return Path(args.models_dir or f"models/{args.profile}/{args.dataset}")


def load_data(config: dict, data_dir, image_shape=None):
    """The run's data (:func:`luring_tf.data.load_dataset`); ``image_shape`` (H, W, C) sizes a folder's or a
    tfds set's images (default: the dataset's, e.g. 28x28x1 for mnist; a --target-model passes its input shape)."""
    if config["dataset"] == "imagenet":
        from luring_tf.cli.imagenet_run import load_imagenet

        return load_imagenet(config, data_dir, image_shape)
    d = config["data"]
    return load_dataset(config["dataset"], d["source"], data_dir, val_fraction=d["val_fraction"],
                        split_seed=d["split_seed"], n_train=d["n_train"], n_test=d["n_test"],
                        sample_test_size=d["sample_test_size"], image_shape=image_shape,
                        test_size=d.get("test_size", 0.2), tfds_name=d.get("tfds_name"))


def prepare_output(folder, flag: str = "--out") -> Path:
    """Create ``folder``, prove it writable and lock it for this run (a second run refuses in one line); the
    half-written files a killed run left there are deleted (:func:`~luring_tf.storage.files.remove_stale_temporaries`)."""
    folder = files.check_writable(folder, flag)
    lock.lock_folder(folder, flag)
    files.remove_stale_temporaries(folder)
    return folder


def claim_output(out_dir: Path, record_name: str, fingerprint: dict, force: bool):
    """Refuse to mix results of another configuration into ``out_dir`` unless ``force``; returns ``record()``.

    ``out_dir/run-config.json`` maps each result (``characterization``, ``defense_<attack>``, ...) to
    the configuration that made it. A corrupt file is a one-line error, replaced under ``force``.
    Nothing is written until the returned ``record()`` is called (once the data has loaded, just
    before the work), so a run that stops on a later user error leaves the folder as it was.
    Call both with ``out_dir`` locked (:func:`prepare_output`): they read, then write the file.
    """
    path = Path(out_dir) / RUN_CONFIG
    stored = _read_run_config(path, force)
    previous = stored.get(record_name)
    if previous is not None and previous != as_json(fingerprint) and not force:
        raise UserError(f"{out_dir} holds {record_name} results of another configuration: "
                        "pass --out elsewhere, or --force to replace them")

    def record() -> None:
        current = _read_run_config(path, force)
        current[record_name] = fingerprint
        files.write_json(path, current)

    return record


def holds(out_dir: Path, record_name: str, fingerprint: dict) -> bool:
    """True when ``out_dir/run-config.json`` (readable) records ``record_name`` as made with ``fingerprint``."""
    path = Path(out_dir) / RUN_CONFIG
    try:
        stored = _read_run_config(path, force=False)
    except UserError:
        return False
    return stored.get(record_name) == as_json(fingerprint)


def _read_run_config(path: Path, force: bool) -> dict:
    if not path.exists():
        return {}
    try:
        stored = files.read_json(path)
        if not isinstance(stored, dict):
            raise UserError(f"result file {path} is corrupt (not a JSON object): delete it or rerun with "
                            "--force to recompute it")
        return stored
    except UserError:
        if not force:
            raise
        return {}  # --force: the corrupt record is replaced


def as_json(value):
    """``value`` as it reads back from JSON (tuples become lists), to compare with a stored record."""
    import json

    return json.loads(json.dumps(value, default=files._jsonable))


def retrain_fix(args) -> str:
    """The command that retrains every model of this run's dataset, profile and models folder."""
    command = f"python run_characterization.py --dataset {args.dataset} --profile {args.profile}"
    if args.models_dir:
        command += f" --models-dir {args.models_dir}"
    return f"train the models again with `{command} --retrain`, or pass the right --models-dir"


def check_models(models: dict, paths: dict, dataset: str, fix: str, expected: tuple | None = None) -> None:
    """Every loaded model fits ``dataset`` (input shape, 10 classes) and finite weights, every T but Stack's holds the M in use.

    ``models``: ``{"M": M, approach: T}``; ``paths``: the same keys, the files they came from;
    ``expected``: ((H, W, C), classes) where the configuration sets them (ImageNet, :mod:`imagenet_run`).
    Stack's T holds its own jointly trained classifier, not M (Appendix B).
    """
    from luring_tf.finite import check_weights_finite
    from luring_tf.storage.models_io import check_built_on, check_model

    for name, model in models.items():
        check_model(model, paths[name], dataset, fix, expected)
        check_weights_finite(model, f"model file {paths[name]}")
    for name, model in models.items():
        if name not in ("M", "stack") and "M" in models:
            check_built_on(model, models["M"], paths[name], paths["M"], fix)


def check_existing_models(models_dir: Path, approaches, dataset: str, fix: str, expected: tuple | None = None) -> bool:
    """Check the model files already in ``models_dir`` (those a run will reuse); True when some are missing.

    Loads each existing M.h5 / <approach>_T.h5 once more than the training step will: seconds,
    against a wrong M.h5 silently training components for it.
    """
    from luring_tf.storage.models_io import load_model, model_paths

    paths = {"M": model_paths(models_dir)["M"]}
    paths.update({a: model_paths(models_dir, a)["T"] for a in approaches})
    present = {name: path for name, path in paths.items() if path.is_file()}
    if "M" not in present and any(a != "stack" for a in present):
        orphan = next(present[a] for a in present if a != "stack")
        raise UserError(f"model file {orphan} exists but {paths['M']} is missing: T = M∘P cannot be checked "
                        f"against its M; {fix}")
    models = {name: load_model(path) for name, path in present.items()}
    check_models(models, present, dataset, fix, expected)
    return len(present) < len(paths)
