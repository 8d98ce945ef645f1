"""Run configuration: one YAML file per dataset (``luring_tf/configs/<dataset>.yaml``, shipped in the package) with
named profiles, and optionally a user's profile file laid over it (``--config FILE`` or ``$LURING_TF_CONFIG``,
:mod:`luring_tf.config.custom`).

``paper`` holds the paper's values (Appendices A-F, the spec's port column where the paper is
silent); ``quick`` shrinks every size so a CPU run finishes in minutes. Every value can be
overridden from the command line with ``--set dotted.key=value`` (the value is parsed as YAML),
and the resolved configuration is written next to the results. Every value is checked against
:mod:`luring_tf.config.schema` once the overrides are applied.

Every departure of one profile from another, generated from the YAML so it cannot drift::

    python -m luring_tf.config --diff quick paper --dataset mnist [--markdown] [--config FILE]
    python -m luring_tf.config --shipped --dataset mnist > mine.yaml      # start a profile file of your own
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

from luring_tf.config import custom, schema
from luring_tf.errors import UserError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"  # package data: luring_tf/configs/*.yaml
DATASETS = ("mnist", "svhn", "cifar10", "imagenet")


def _config_file(dataset: str) -> Path:
    if dataset not in DATASETS:
        raise UserError(f"unknown dataset {dataset!r}: choose one of {', '.join(DATASETS)}")
    path = CONFIG_DIR / f"{dataset}.yaml"
    if not path.is_file():
        raise UserError(f"configuration file {path} is missing: reinstall luring-tf (pip install luring-tf, or "
                        "pip install . in its repository)")
    return path


def shipped_text(dataset: str) -> str:
    """The shipped ``luring_tf/configs/<dataset>.yaml``, comments included."""
    return _config_file(dataset).read_text(encoding="utf-8")


def _documents(dataset: str, config_file=None) -> tuple[dict, dict, str, dict]:
    """(profiles in effect, shipped profiles, where their values come from, shipped profile each one starts from).

    The custom file (``config_file`` or ``$LURING_TF_CONFIG``) is laid over the shipped file.
    """
    shipped = yaml.safe_load(shipped_text(dataset))
    bases = {name: name for name in shipped["profiles"]}
    chosen = custom.custom_file(config_file)
    if chosen is None:
        return shipped, shipped, f"luring_tf/configs/{dataset}.yaml", bases
    document, extends = custom.overlay(shipped, *chosen, dataset, _merge)
    return document, shipped, f"{chosen[1]} {chosen[0]}", {**bases, **extends}


def profiles(dataset: str, config_file=None) -> list[str]:
    """Names of the profiles defined for ``dataset`` (with those of the custom file, if any)."""
    return sorted(_documents(dataset, config_file)[0]["profiles"])


def load_config(dataset: str, profile: str = "quick", overrides: list[str] | None = None, config_file=None) -> dict:
    """Resolved configuration of ``dataset`` under ``profile`` with ``key.path=value`` overrides.

    ``config_file`` (else ``$LURING_TF_CONFIG``, else none) is a user's profile file laid over the shipped one
    (:mod:`luring_tf.config.custom`); its values are validated like every other one (one-line ``UserError``).
    """
    document, shipped, source, bases = _documents(dataset, config_file)
    known = document["profiles"]
    if profile not in known:
        raise UserError(f"unknown profile {profile!r} for {dataset}: choose one of {', '.join(sorted(known))}")
    config = _merge(document.get("common", {}), known[profile])
    config["dataset"], config["profile"] = dataset, profile
    # keys no schema rule names keep the type of the shipped value (of the profile a custom one extends)
    defaults = _merge(shipped.get("common", {}), shipped["profiles"][bases[profile]])
    defaults["dataset"], defaults["profile"] = dataset, profile
    for item in overrides or []:
        set_value(config, item)
    return schema.validate(config, defaults, source)


def set_value(config: dict, assignment: str) -> None:
    """Apply one ``dotted.key=value`` override in place; the key must already exist."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise UserError(f"bad override {assignment!r}: write it as dotted.key=value, e.g. train.luring.steps=500")
    node: Any = config
    parts = key.split(".")
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            raise UserError(f"unknown configuration key {key!r}: see luring_tf/configs/{config['dataset']}.yaml")
        node = node[part]
    if not isinstance(node, dict) or parts[-1] not in node:
        raise UserError(f"unknown configuration key {key!r}: see luring_tf/configs/{config['dataset']}.yaml")
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
    bad = [v for v in eps if not 0.0 <= v <= 1.0]  # NaN fails too
    if bad:
        raise UserError(f"epsilon {bad[0]} is outside [0, 1]: pixel values are in [0, 1], pick e.g. 0.3")
    if not eps:
        raise UserError("no epsilon given: pass at least one value, e.g. --eps 0.3")
    return eps


ABSENT = "(absent)"


def _differences(a, b, prefix: str) -> list[tuple[str, Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        rows = []
        for key in list(a) + [k for k in b if k not in a]:
            rows += _differences(a.get(key, ABSENT), b.get(key, ABSENT), f"{prefix}{key}.")
        return rows
    same = a == b and type(a) is type(b)  # 1 and 1.0 (or 0 and false) are a departure too
    return [] if same else [(prefix[:-1], a, b)]


def diff_profiles(dataset: str, first: str, second: str, config_file=None) -> list[tuple[str, Any, Any]]:
    """Every key whose value differs between two profiles: ``(dotted key, first's value, second's value)``."""
    a, b = load_config(dataset, first, config_file=config_file), load_config(dataset, second, config_file=config_file)
    a.pop("profile"), b.pop("profile")
    return sorted(_differences(a, b, ""))


def _show(value) -> str:
    if value is ABSENT:
        return ABSENT
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("\n...").strip()


def format_diff(dataset: str, first: str, second: str, markdown: bool = False, config_file=None) -> str:
    rows = [(key, _show(va), _show(vb)) for key, va, vb in diff_profiles(dataset, first, second, config_file)]
    if markdown:
        lines = [f"| {dataset} key | {first} | {second} |", "| --- | --- | --- |"]
        lines += [f"| `{key}` | {va} | {vb} |" for key, va, vb in rows]
    else:
        width = max([len(key) for key, _, _ in rows] + [len("key")])
        lines = [f"{'key':<{width}}  {first} -> {second}"] + [f"{key:<{width}}  {va} -> {vb}" for key, va, vb in rows]
    return "\n".join(lines)


def main(argv=None, prog: str = "python -m luring_tf.config") -> int:
    from luring_tf.cli.parser import Parser  # one-line argparse errors

    parser = Parser(prog=prog, description="Every configuration value where two profiles differ; the shipped "
                                           "profile file to start one of your own.")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--diff", nargs=2, metavar=("PROFILE", "OTHER"),
                        help="the two profiles to compare, e.g. quick paper")
    action.add_argument("--shipped", action="store_true",
                        help="print the shipped luring_tf/configs/<dataset>.yaml (comments included), e.g. to start "
                             "a file for --config / $LURING_TF_CONFIG")
    parser.add_argument("--dataset", default="mnist", choices=DATASETS, help="the data set (default: mnist)")
    parser.add_argument("--markdown", action="store_true", help="a Markdown table (for README)")
    parser.add_argument("--config", default=None, metavar="FILE",
                        help=f"a profile file of your own laid over the shipped one (default: ${custom.ENV}, "
                             "if set)")
    args = parser.parse_args(argv)
    try:
        if args.shipped:
            print(shipped_text(args.dataset), end="")
        else:
            print(format_diff(args.dataset, *args.diff, markdown=args.markdown, config_file=args.config))
    except UserError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
