"""Helpers of the table-driven CLI error tests (test_cli_errors.py, test_cli_errors_data.py).

Each row runs a script in a subprocess; these lay out read-only folders, take snapshots of the
files a run must not touch, and run the selected rows two at a time (most of a row's time is
TensorFlow's import, one core each).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor


def make_readonly(folder) -> bool:
    """Make ``folder`` unwritable even for root (immutable flag) or by mode bits; False when impossible."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return True
    return shutil.which("chattr") is not None and subprocess.run(
        ["chattr", "+i", str(folder)], capture_output=True).returncode == 0


def undo_readonly(folder) -> None:
    if os.geteuid() != 0:
        folder.chmod(0o755)
    else:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)


def snapshot(*roots) -> dict:
    """Every file under ``roots`` (or a root that is a file): path -> (size, mtime, sha1)."""
    state = {}
    for root in roots:
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
        for path in paths:
            stat = path.stat()
            state[str(path)] = (stat.st_size, stat.st_mtime_ns, hashlib.sha1(path.read_bytes()).hexdigest())
    return state


def changed(before: dict, after: dict) -> list[str]:
    """Files created, removed or changed between two snapshots."""
    return sorted(path for path in set(before) | set(after) if before.get(path) != after.get(path))


def selected_ids(request, case_type) -> set[str]:
    """Ids of the rows (``case`` parameters of type ``case_type``) that this pytest session will run."""
    return {item.callspec.params["case"].id for item in request.session.items
            if getattr(item, "callspec", None) and isinstance(item.callspec.params.get("case"), case_type)}


def run_two_at_a_time(one, cases) -> dict:
    """``{case.id: one(case)}``, two cases at a time."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip([c.id for c in cases], pool.map(one, cases)))
