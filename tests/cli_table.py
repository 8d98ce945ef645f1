"""Helpers of the table-driven CLI error tests (test_cli_errors.py, test_cli_errors_data.py).

Each row runs a script as a user would; these lay out read-only folders, take snapshots of the
files a run must not touch, and run the selected rows in two batch processes (``cli_batch.py``: most
of a row's time in a process of its own was TensorFlow's import).
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
            try:
                stat = path.stat()
                state[str(path)] = (stat.st_size, stat.st_mtime_ns, hashlib.sha1(path.read_bytes()).hexdigest())
            except FileNotFoundError:  # a transient file (a run's folder lock) went between the listing and here
                continue
    return state


def changed(before: dict, after: dict) -> list[str]:
    """Files created, removed or changed between two snapshots."""
    return sorted(path for path in set(before) | set(after) if before.get(path) != after.get(path))


def selected_ids(request, case_type) -> set[str]:
    """Ids of the rows (``case`` parameters of type ``case_type``) that this pytest session will run."""
    return {item.callspec.params["case"].id for item in request.session.items
            if getattr(item, "callspec", None) and isinstance(item.callspec.params.get("case"), case_type)}


def run_batches(specs: list[dict], work, workers: int = 2, timeout: int = 600) -> dict:
    """Run script invocations in ``workers`` processes of ``tests/cli_batch.py`` (TensorFlow imported once each).

    ``specs``: ``{"id", "script", "args", "cwd", "watch"}`` (see cli_batch.py). Returns ``{id: (result,
    files before, files after)}`` with ``result`` a ``subprocess.CompletedProcess`` (returncode, stdout,
    stderr) as a subprocess per case would give, and the snapshots of ``watch`` around that case.
    """
    import json
    import sys
    from pathlib import Path

    runner = Path(__file__).resolve().parent / "cli_batch.py"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", LURING_TF_ALLOW_DOWNLOAD="0")
    chunks = [specs[i::workers] for i in range(workers) if specs[i::workers]]

    def one(index_chunk):
        index, chunk = index_chunk
        cases, results = Path(work) / f"batch{index}.json", Path(work) / f"batch{index}-results.json"
        cases.write_text(json.dumps([dict(s, cwd=str(s["cwd"]), watch=[str(p) for p in s["watch"]]) for s in chunk]))
        done = subprocess.run([sys.executable, str(runner), str(cases), str(results)], env=env,
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0 or not results.exists():
            raise RuntimeError(f"cli_batch.py failed: {done.stderr[-3000:]}")
        return json.loads(results.read_text())

    out = {}
    with ThreadPoolExecutor(max_workers=len(chunks) or 1) as pool:
        for results in pool.map(one, enumerate(chunks)):
            for case_id, r in results.items():
                result = subprocess.CompletedProcess([case_id], r["returncode"], r["stdout"], r["stderr"])
                out[case_id] = (result, r["before"], r["after"])
    return out
