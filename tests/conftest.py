"""Shared test set-up: quiet TensorFlow, run the scripts as a user would."""

import os
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
