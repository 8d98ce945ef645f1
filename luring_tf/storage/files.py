"""Atomic writes of result files: write a temporary sibling, then rename over the target."""

from __future__ import annotations

import json
import os
import threading
import zipfile
from pathlib import Path

import numpy as np

from luring_tf.errors import UserError


def _atomic(path: Path, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")  # threads of --jobs too
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def remove_stale_temporaries(folder) -> list[Path]:
    """Delete the temporary files (of :func:`_atomic`) that a killed run left under ``folder``; returns them.

    Only those of processes no longer running: a run killed while writing cannot delete its own, and a
    resumed run would otherwise leave them behind for good. Call it with ``folder`` locked.
    """
    removed = []
    for tmp in Path(folder).rglob(".*.tmp-*"):
        pid = tmp.name.rsplit(".tmp-", 1)[1].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)) and tmp.is_file():
            tmp.unlink()
            removed.append(tmp)
    return removed


def write_text(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return _atomic(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path, record) -> Path:
    """Write ``record`` as indented JSON atomically."""
    return write_text(path, json.dumps(record, indent=2, sort_keys=False, default=_jsonable) + "\n")


def read_json(path, fix: str = "delete it or rerun with --force to recompute it"):
    """Read a JSON record; a truncated or corrupt file is a one-line ``UserError`` naming it and ``fix``."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"result file {path} is corrupt ({type(exc).__name__}): {fix}") from None


def read_npz(path) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz``; a truncated or corrupt file is a one-line ``UserError`` naming it."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {key: stored[key] for key in stored.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise UserError(f"result file {path} is corrupt ({type(exc).__name__}): delete it or rerun with --force "
                        "to recompute it") from None


def check_writable(folder, flag: str = "--out") -> Path:
    """Create ``folder`` if needed and prove it writable with a probe file, before any long work."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{flag} {folder} is a file, not a folder: pass a folder path")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"{flag} {folder} is not writable ({exc.strerror or type(exc).__name__}): "
                        "pass a folder you can write to") from None
    return folder


def write_npz(path, *, compress: bool = True, **arrays) -> Path:
    """Write arrays losslessly (``np.savez_compressed``; ``np.savez`` when not ``compress``) atomically."""

    def write(tmp: Path):
        with open(tmp, "wb") as handle:
            (np.savez_compressed if compress else np.savez)(handle, **arrays)

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
