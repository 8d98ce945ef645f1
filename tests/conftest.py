"""Shared test set-up: quiet TensorFlow, run the scripts as a user would."""

import os
import re
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("LURING_TF_ALLOW_DOWNLOAD", "0")

ROOT = Path(__file__).resolve().parent.parent


def run_script(script: str, *args: str, cwd=None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``python <script> args`` from ``cwd`` with the repository's scripts; capture output."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", LURING_TF_ALLOW_DOWNLOAD="0")
    return subprocess.run([sys.executable, str(ROOT / script), *args], cwd=cwd or ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


_NOISE = re.compile(r"^(WARNING: All log messages|[IWE]\d{4} )")  # TF/absl C++ start-up lines


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """A user mistake: non-zero exit, one line on stderr (no traceback) holding every fragment."""
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line.strip() and not _NOISE.match(line)]
    assert len(lines) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
