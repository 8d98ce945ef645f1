"""luring_tf.workers: --jobs resolution, the task scheduler (needs, priority, logs, errors), bad --jobs values.

The end-to-end check (two jobs give the same models and tables as one): tests/test_run_characterization.py.
"""

from types import SimpleNamespace

import numpy as np
import pytest

import worker_tasks
from conftest import assert_one_line_error, run_script
from luring_tf import workers
from luring_tf.errors import UserError

ARRAYS = SimpleNamespace(x_train=np.zeros((4, 2, 2, 1), np.float32), preprocessing=None)


def test_jobs_auto_is_two_on_a_cpu_machine_and_one_where_it_cannot_help(monkeypatch):
    monkeypatch.setattr(workers.os, "cpu_count", lambda: 2)
    assert workers.resolve_jobs("auto", ARRAYS, True) == 2
    assert workers.resolve_jobs(3, ARRAYS, True) == 3
    monkeypatch.setattr(workers.os, "cpu_count", lambda: 1)
    assert workers.resolve_jobs("auto", ARRAYS, True) == 1
    monkeypatch.setattr(workers.os, "cpu_count", lambda: 8)
    streamed = SimpleNamespace(x_train=None, preprocessing=None)
    imagenet = SimpleNamespace(x_train=None, preprocessing="imagenet")
    for data, default_strategy in ((streamed, True), (imagenet, True), (ARRAYS, False)):
        assert workers.resolve_jobs("auto", data, default_strategy) == 1
        assert workers.resolve_jobs(2, data, default_strategy) == 1


def test_parse_jobs():
    assert workers.parse_jobs("auto") == "auto" and workers.parse_jobs(" 2 ") == 2
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(UserError, match="--jobs"):
            workers.parse_jobs(bad)


def test_tasks_wait_for_their_needs_and_follow_the_given_priority(tmp_path):
    data = list(range(7))
    tasks = [("A", worker_tasks.stamp, ("A", 1.0), ()),
             ("B", worker_tasks.stamp, ("B", 0.2), ()),
             ("C", worker_tasks.stamp, ("C", 0.2), ("A",)),
             ("D", worker_tasks.stamp, ("D", 0.2), ()),
             ("size", worker_tasks.data_size, (), ("C",))]
    finished = []
    with workers.Workers(2, data) as pool:
        results = pool.run(tasks, tmp_path / "logs", lambda name, result, seconds: finished.append(name))
    assert results["size"] == len(data)  # every worker holds the run's data
    start = {name: results[name][1] for name in "ABCD"}
    end = {name: results[name][2] for name in "ABCD"}
    assert start["C"] >= end["A"]  # C needs A
    assert start["D"] >= min(end["A"], end["B"])  # two threads: D is started when one of A, B is done
    assert finished.index("A") < finished.index("C") < finished.index("size")
    assert (tmp_path / "logs" / "C.log").read_text() == "task C running\n"


def test_a_failing_task_stops_the_run_with_its_one_line_error(tmp_path):
    tasks = [("bad", worker_tasks.fail, ("the data are wrong: fix them",), ()),
             ("after", worker_tasks.stamp, ("after", 0.0), ("bad",))]
    with pytest.raises(UserError, match=r"^bad: the data are wrong: fix them$"):
        with workers.Workers(2, None) as pool:
            pool.run(tasks, tmp_path, None)
    assert (tmp_path / "bad.log").read_text() == "about to fail\n"
    assert not (tmp_path / "after.log").exists()


@pytest.mark.parametrize("value", ["0", "many"])
def test_bad_jobs_flag_is_one_line(tmp_path, value):
    result = run_script("run_characterization.py", "--jobs", value, cwd=tmp_path)
    assert_one_line_error(result, "--jobs")


def test_bad_jobs_variable_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("LURING_TF_JOBS", "lots")
    result = run_script("run_characterization.py", "--help", cwd=tmp_path)
    assert_one_line_error(result, "LURING_TF_JOBS=lots", "unset")


def test_a_failing_task_ends_the_process_without_waiting_for_the_others():
    import subprocess
    import sys
    import time
    from pathlib import Path

    tests = Path(__file__).resolve().parent
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", "import worker_tasks; worker_tasks.failing_run()"],
                            cwd=tests, capture_output=True, text=True, timeout=120,
                            env={**__import__("os").environ, "PYTHONPATH": f"{tests}:{tests.parent}"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == "error: bad: the data are wrong: fix them"
    assert time.perf_counter() - start < 45  # the slow task's minute is not waited for
