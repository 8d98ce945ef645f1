"""A user's profile file (``--config FILE`` or ``$LURING_TF_CONFIG``) over the shipped ``luring_tf/configs/<dataset>.yaml``.

The file has the shipped file's layout, and holds only what it changes (a copy of the whole
shipped file, edited, works too: ``python -m luring_tf.config --shipped --dataset mnist > mine.yaml``)::

    dataset: mnist            # optional; when given, it must be the run's data set
    common: {seed: 3}         # optional, over the shipped common values
    profiles:
      quick:                  # a shipped profile: these values replace its values
        train: {luring: {steps: 500}}
      fast:                   # a new profile: ``extends`` names the shipped profile it starts from (as changed here)
        extends: quick
        train: {luring: {steps: 200}}

Precedence: shipped profile < this file < ``--set`` < the scripts' dedicated flags. ``--config``
wins over ``$LURING_TF_CONFIG``. Like ``--set``, the file may only set keys the shipped file knows
(of any of its profiles, so a typo is a one-line error, not a value silently ignored); every value
is then checked by :mod:`luring_tf.config.schema`, typed by the shipped values.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml

from luring_tf.errors import UserError

ENV = "LURING_TF_CONFIG"
TOP_KEYS = ("dataset", "common", "profiles")


def custom_file(config_file=None) -> tuple[Path, str] | None:
    """The custom profile file in effect and how it was named (``--config`` / ``$LURING_TF_CONFIG``), or None."""
    if config_file:
        where = "--config"
    elif os.environ.get(ENV):
        config_file, where = os.environ[ENV], f"${ENV}"
    else:
        return None
    path = Path(config_file).expanduser()
    if not path.is_file():
        raise UserError(f"{where} {config_file}: no such file; give the path of a YAML profile file "
                        f"(start one with `python -m luring_tf.config --shipped --dataset mnist > mine.yaml`)")
    return path, where


def read(path: Path, where: str, dataset: str) -> dict:
    """The custom file's document, its layout checked (values are checked once merged)."""
    label = f"{where} {path}"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{label}: cannot read it ({exc.__class__.__name__}): give a readable YAML file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"{label} is not valid YAML{at}: fix the file") from None
    if not isinstance(document, dict):
        raise UserError(f"{label}: expected a YAML mapping with `profiles:` (and optionally `common:`, `dataset:`)")
    unknown = [str(k) for k in document if k not in TOP_KEYS]
    if unknown:
        raise UserError(f"{label}: unknown top-level key {unknown[0]!r}: a profile file has only "
                        f"{', '.join(TOP_KEYS)} (values go under `profiles: {{NAME: ...}}` or `common:`)")
    if document.get("dataset") is not None and document["dataset"] != dataset:
        raise UserError(f"{label} is a profile file for {document['dataset']!r}, this run is {dataset!r}: pass "
                        f"--dataset {document['dataset']}, or another file")
    for key in ("common", "profiles"):
        if document.get(key) is not None and not isinstance(document[key], dict):
            raise UserError(f"{label}: `{key}:` must be a mapping, got {type(document[key]).__name__}")
    for name, body in (document.get("profiles") or {}).items():
        if body is not None and not isinstance(body, dict):
            raise UserError(f"{label}: profile {name!r} must be a mapping of configuration values")
    return document


def _known_keys(node: Any, prefix: str = "") -> set[str]:
    if not isinstance(node, dict):
        return set()
    keys = set()
    for key, value in node.items():
        keys.add(prefix + str(key))
        keys |= _known_keys(value, f"{prefix}{key}.")
    return keys


def _first_unknown(node: dict, known: set[str], prefix: str = "") -> str | None:
    """The first dotted key of ``node`` the shipped file does not know. Inside ``train.*.augment`` and ``*.attacks``
    names are free (an attack the shipped profile has no parameters for may be added): the schema's rules check
    them, and the attacks refuse an unknown name or parameter."""
    import fnmatch

    from luring_tf.config import schema

    for key, value in node.items():
        dotted = f"{prefix}{key}"
        if dotted not in known:
            return dotted
        free = schema._rule(dotted) is schema.augment or fnmatch.fnmatchcase(dotted, "*.attacks")
        if isinstance(value, dict) and not free:
            found = _first_unknown(value, known, dotted + ".")
            if found:
                return found
    return None


def overlay(shipped: dict, path: Path, where: str, dataset: str, merge) -> tuple[dict, dict[str, str]]:
    """The shipped document with the custom file at ``path`` laid over it (``merge``: a deep merge), and the
    shipped profile each new profile extends."""
    document = read(path, where, dataset)
    label = f"{where} {path}"
    profiles = shipped["profiles"]
    # every key any shipped profile knows (with common), relative to a profile's root
    reference: dict = {}
    for body in profiles.values():
        reference = merge(reference, merge(shipped.get("common") or {}, body))
    known = _known_keys(reference)
    result = copy.deepcopy(shipped)
    common = document.get("common") or {}
    bad = _first_unknown(common, known)
    if bad:
        raise UserError(f"{label}: unknown configuration key {bad!r} under `common:`: see the shipped "
                        f"luring_tf/configs/{dataset}.yaml for the keys")
    result["common"] = merge(shipped.get("common") or {}, common)
    extends = {}
    mine = document.get("profiles") or {}
    # shipped profiles first, so that a new profile extends the shipped one as this file changes it
    for name, body in sorted(mine.items(), key=lambda item: item[0] not in profiles):
        body = dict(body or {})
        base = body.pop("extends", None)
        if name in profiles:
            if base not in (None, name):
                raise UserError(f"{label}: profile {name!r} is a shipped profile and cannot extend {base!r}: "
                                f"rename it, or drop `extends`")
            base = name
        elif base is None:
            raise UserError(f"{label}: profile {name!r} is not a shipped {dataset} profile: add `extends: quick` "
                            f"(or one of {', '.join(sorted(profiles))}) to say which one it changes")
        elif base not in profiles:
            raise UserError(f"{label}: profile {name!r} extends {base!r}, which is not a shipped {dataset} "
                            f"profile: choose one of {', '.join(sorted(profiles))}")
        bad = _first_unknown(body, known)
        if bad:
            raise UserError(f"{label}: unknown configuration key {bad!r} in profile {name!r}: see the shipped "
                            f"luring_tf/configs/{dataset}.yaml for the keys")
        result["profiles"][name] = merge(result["profiles"][base], body)
        extends[name] = base
    return result, extends
