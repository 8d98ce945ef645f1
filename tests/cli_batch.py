#!/usr/bin/env python
"""Run many script invocations in one Python process (the table-driven CLI error tests' runner).

    python tests/cli_batch.py cases.json results.json

``cases.json``: a list of ``{"id", "script", "args", "cwd", "watch"}``. Each case runs the script's
``main`` as its ``__main__`` block does (``luring_tf.cli.parser.run``: a ``UserError`` is one line on
stderr and exit 2), from ``cwd``, with Python's stdout/stderr captured; an uncaught exception becomes a
traceback on the captured stderr and exit 1, as in a process of its own. ``watch``: paths whose files
are snapshotted (``cli_table.snapshot``) right before and after the case. TensorFlow is imported once for
all cases -- the point of the batch: a subprocess per case spends most of its time importing it.
Results: ``{id: {"returncode", "stdout", "stderr", "before", "after"}}``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

from cli_table import snapshot  # noqa: E402


def run_case(case: dict, mains: dict) -> dict:
    from luring_tf.cli.parser import run

    script = case["script"]
    if script not in mains:
        mains[script] = runpy.run_path(str(ROOT / script), run_name="cli_batch_case")["main"]
    main = mains[script]
    watch = [Path(p) for p in case["watch"]]
    before = snapshot(*watch)
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(case["cwd"])
    argv = sys.argv
    sys.argv = [script, *case["args"]]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                run(lambda: main(case["args"]))
                code = 0
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
            except BaseException:  # noqa: BLE001 -- what an uncaught exception prints in a process of its own
                traceback.print_exc(file=err)
                code = 1
    finally:
        sys.argv = argv
        os.chdir(cwd)
    return {"returncode": code, "stdout": out.getvalue(), "stderr": err.getvalue(), "before": before,
            "after": snapshot(*watch)}


def main() -> int:
    cases = json.loads(Path(sys.argv[1]).read_text())
    mains: dict = {}
    results = {case["id"]: run_case(case, mains) for case in cases}
    Path(sys.argv[2]).write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
