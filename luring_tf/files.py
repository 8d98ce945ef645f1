"""Atomic writes of result files: write a temporary sibling, then rename over the target."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


def _atomic(path: Path, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_text(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return _atomic(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path, record) -> Path:
    """Write ``record`` as indented JSON atomically."""
    return write_text(path, json.dumps(record, indent=2, sort_keys=False, default=_jsonable) + "\n")


def read_json(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_npz(path, **arrays) -> Path:
    """Write arrays losslessly (``np.savez_compressed``) atomically."""

    def write(tmp: Path):
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)

    return _atomic(Path(path), write)


def write_figure(path, figure) -> Path:
    """Save a matplotlib figure as PNG atomically."""

    def write(tmp: Path):
        with open(tmp, "wb") as handle:
            figure.savefig(handle, format="png", dpi=120, bbox_inches="tight")

    return _atomic(Path(path), write)


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in JSON")
