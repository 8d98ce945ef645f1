"""Run configuration: one YAML file per dataset (``configs/<dataset>.yaml``) with named profiles.

``paper`` holds the paper's values (Appendices A-F, the spec's port column where the paper is
silent); ``quick`` shrinks every size so a CPU run finishes in minutes. Every value can be
overridden from the command line with ``--set dotted.key=value`` (the value is parsed as YAML),
and the resolved configuration is written next to the results.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from luring_tf.errors import UserError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
DATASETS = ("mnist", "svhn", "cifar10")


def _config_file(dataset: str) -> Path:
    if dataset not in DATASETS:
        raise UserError(f"unknown dataset {dataset!r}: choose one of {', '.join(DATASETS)}")
    path = CONFIG_DIR / f"{dataset}.yaml"
    if not path.is_file():
        raise UserError(f"configuration file {path} is missing: reinstall luring-tf from its repository")
    return path


def profiles(dataset: str) -> list[str]:
    """Names of the profiles defined for ``dataset``."""
    return sorted(yaml.safe_load(_config_file(dataset).read_text())["profiles"])


def load_config(dataset: str, profile: str = "quick", overrides: list[str] | None = None) -> dict:
    """Resolved configuration of ``dataset`` under ``profile`` with ``key.path=value`` overrides."""
    document = yaml.safe_load(_config_file(dataset).read_text())
    known = document["profiles"]
    if profile not in known:
        raise UserError(f"unknown profile {profile!r} for {dataset}: choose one of {', '.join(sorted(known))}")
    config = _merge(document.get("common", {}), known[profile])
    config["dataset"], config["profile"] = dataset, profile
    for item in overrides or []:
        set_value(config, item)
    return config


def set_value(config: dict, assignment: str) -> None:
    """Apply one ``dotted.key=value`` override in place; the key must already exist."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise UserError(f"bad override {assignment!r}: write it as dotted.key=value, e.g. train.luring.steps=500")
    node: Any = config
    parts = key.split(".")
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            raise UserError(f"unknown configuration key {key!r}: see configs/{config['dataset']}.yaml")
        node = node[part]
    if not isinstance(node, dict) or parts[-1] not in node:
        raise UserError(f"unknown configuration key {key!r}: see configs/{config['dataset']}.yaml")
    try:
        node[parts[-1]] = yaml.safe_load(raw)
    except yaml.YAMLError:
        raise UserError(f"cannot parse the value of {key!r} ({raw!r}): write a YAML scalar or list") from None


def _merge(base: dict, update: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def check_eps(values) -> list[float]:
    """Validate l-inf budgets: each in [0, 1] (pixels live in [0, 1])."""
    eps = [float(v) for v in values]
    bad = [v for v in eps if not 0.0 <= v <= 1.0]
    if bad:
        raise UserError(f"epsilon {bad[0]} is outside [0, 1]: pixel values are in [0, 1], pick e.g. 0.3")
    if not eps:
        raise UserError("no epsilon given: pass at least one value, e.g. --eps 0.3")
    return eps
