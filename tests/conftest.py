"""Shared test set-up: quiet TensorFlow, run the scripts as a user would."""

import os
import re
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("LURING_TF_ALLOW_DOWNLOAD", "0")
# The scripts do one task at a time unless a test passes --jobs: the suite's two
# pytest workers already keep the CPUs busy. run_script passes this on to the scripts it starts.
os.environ.setdefault("LURING_TF_JOBS", "1")

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


# The longest test files first: on two workers (pytest-xdist --dist loadfile, README's test command) a long
# file that starts last would leave one worker idle while it runs. Stable: the other files keep their order.
LONGEST_FIRST = ("test_run_characterization.py", "test_official_end_to_end.py", "test_any_classifier.py",
                 "test_imagenet_run.py", "test_adversarial_training.py", "test_training.py", "test_distribute.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
