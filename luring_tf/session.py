"""What both run scripts do first: resolve the configuration, load the data, reach the models."""

from __future__ import annotations

from pathlib import Path

from luring_tf import config as config_module
from luring_tf import files
from luring_tf.data import load_dataset
from luring_tf.errors import UserError


def resolve_config(args, section: str) -> dict:
    """Profile + ``--set`` overrides + the dedicated flags (which win), validated."""
    config = config_module.load_config(args.dataset, args.profile, args.overrides)
    if args.seed is not None:
        config["seed"] = args.seed
    if args.data_source:
        config["data"]["source"] = args.data_source
    elif args.data_dir:  # a folder given by the user wins over the profile's default source
        config["data"]["source"] = "auto"
    if args.n_examples is not None:
        if args.n_examples <= 0:
            raise UserError(f"--n-examples must be positive, got {args.n_examples}")
        config[section]["n_examples"] = args.n_examples
    # A section without its own ε list (the analysis) reads the characterization's.
    eps_section = section if "eps" in config[section] else "characterization"
    if args.eps is not None:
        config[eps_section]["eps"] = args.eps
    config[eps_section]["eps"] = config_module.check_eps(config[eps_section]["eps"])
    return config


def models_dir(args) -> Path:
    return Path(args.models_dir or f"models/{args.profile}/{args.dataset}")


def load_data(config: dict, data_dir):
    d = config["data"]
    return load_dataset(config["dataset"], d["source"], data_dir, val_fraction=d["val_fraction"],
                        split_seed=d["split_seed"], n_train=d["n_train"], n_test=d["n_test"],
                        sample_test_size=d["sample_test_size"])


def claim_output(out_dir: Path, record_name: str, fingerprint: dict, force: bool) -> None:
    """Refuse to mix results of another configuration into ``out_dir`` unless ``force``."""
    path = out_dir / "run-config.json"
    if path.exists() and not force:
        previous = files.read_json(path).get(record_name)
        if previous is not None and previous != fingerprint:
            raise UserError(f"{out_dir} holds {record_name} results of another configuration: "
                            "pass --out elsewhere, or --force to replace them")
    record = files.read_json(path) if path.exists() else {}
    record[record_name] = fingerprint
    files.write_json(path, record)
