"""Independent work of one run in several processes (``--jobs``): the model trainings and the attack cells.

Why: one TensorFlow process keeps a small CPU machine's cores only partly busy (a quick-profile MNIST
training used 1.5-1.7 of 2 cores: TF splits each small op of these models over the cores and waits for the
slowest part); two processes, each with its own model, keep them all busy -- which pays where the cores
are real ones (``benchmarks/quick_run.py`` measures it; see below for the 2-CPU machine). The trainings of M and Stack are independent; C-E, Luring
and Auto (whose T is M∘P) need M; the characterization's cells are independent once the models exist.

``--jobs 1`` is the default (``LURING_TF_JOBS`` sets another): everything in this process. ``--jobs auto`` =
2 processes on a machine of at least 2 CPUs without a GPU, when the data are in memory (not streamed files,
not ImageNet) and the strategy is one device, otherwise 1; ``--jobs N`` asks for N (1 where the run cannot
use workers). Not the default because on the 2-CPU machine of the measurements two processes did not
finish sooner: the quick MNIST run took 296 s with 2 and 300 s with 1 (16 % more CPU seconds with 2), each
model training 1.7x slower beside another -- the two virtual CPUs gave little more than one core's work.

Each worker is a fresh process (``spawn``: TensorFlow must not be forked) with TensorFlow's default thread
pools, the same as this process's; it receives the data once, when it starts, and each task's output goes to
its log file (``<folder>/logs/<task>.log``), the main process printing one line per finished task.

Reproducibility: every model is trained from the seed alone and every cell from its own seeds, whichever
process runs it and in whichever order, with the same thread pools: ``--jobs 2`` gives the same models and
tables as ``--jobs 1`` (tested). (One thread per worker would be about 10 % faster on 2 CPUs, but
TensorFlow's thread count changes how float sums are split, hence the weights.)
"""

from __future__ import annotations

import concurrent.futures as futures
import contextlib
import multiprocessing
import os
import sys
import time
from pathlib import Path

from luring_tf.errors import UserError

ENV = "LURING_TF_JOBS"
_STATE: dict = {}  # in a worker: {"data": the run's Dataset}


def parse_jobs(value) -> str | int:
    """``auto`` or a positive integer (the ``--jobs`` argument or ``LURING_TF_JOBS``); UserError otherwise."""
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise UserError(f"--jobs {value}: give a number of processes (1 = everything in this process) or auto")


def default_jobs() -> str | int:
    """``LURING_TF_JOBS`` when set, else 1."""
    value = os.environ.get(ENV)
    if value is None:
        return 1
    try:
        return parse_jobs(value)
    except UserError:
        raise UserError(f"{ENV}={value}: give a number of processes or auto, or unset it") from None


def why_one(data, strategy_is_default: bool) -> str | None:
    """Why this run must stay in one process, or None when workers may be used."""
    if not strategy_is_default:
        return "--strategy uses several devices"
    if getattr(data, "x_train", None) is None or getattr(data, "preprocessing", None) is not None:
        return "the images are streamed from files"
    return None


def resolve_jobs(requested, data, strategy_is_default: bool) -> int:
    """The number of processes: ``requested`` (an int, or ``auto``) where the run allows it, else 1."""
    reason = why_one(data, strategy_is_default)
    if reason is not None:
        if requested not in ("auto", 1):
            print(f"[luring-tf] --jobs {requested}: running in one process ({reason})", flush=True)
        return 1
    if requested != "auto":
        return int(requested)
    import tensorflow as tf

    cpus = os.cpu_count() or 1
    return 2 if cpus >= 2 and not tf.config.list_physical_devices("GPU") else 1


@contextlib.contextmanager
def for_run(requested, data, strategy_is_default: bool):
    """A :class:`Workers` of :func:`resolve_jobs` processes for the block, or None when that is 1."""
    jobs = resolve_jobs(requested, data, strategy_is_default)
    if jobs == 1:
        yield None
        return
    with Workers(jobs, data) as pool:
        yield pool


def _start_worker(data) -> None:
    """Initializer of a worker process: quiet TensorFlow, keep ``data``."""
    from luring_tf.cli.parser import quiet_tensorflow

    quiet_tensorflow()
    _STATE["data"] = data


def worker_data():
    """The run's data, in a worker."""
    return _STATE["data"]


@contextlib.contextmanager
def output_to(log: Path):
    """Point this process's stdout and stderr (file descriptors 1 and 2) at ``log`` (appended) for the block."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for descriptor in (*saved, fd):
            os.close(descriptor)


def _run_logged(log: str, function, args: tuple):
    """In a worker: ``function(*args)`` with its output in ``log``; returns (result, seconds)."""
    start = time.perf_counter()
    with output_to(Path(log)):
        result = function(*args)
    return result, time.perf_counter() - start


class Workers:
    """``jobs`` worker processes holding ``data``; :meth:`run` runs tasks and their dependents as they free up.

    Use as a context manager: leaving it (also by an error or Ctrl-C) stops every worker.
    """

    def __init__(self, jobs: int, data):
        self.jobs = int(jobs)
        self._pool = futures.ProcessPoolExecutor(
            max_workers=self.jobs, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker, initargs=(data,))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close(cancel=exc[0] is not None)
        return False

    def close(self, cancel: bool = False) -> None:
        if cancel:  # a task failed or the user stopped the run: stop the workers now
            # (the executor's processes: Python 3.11 has no public way to terminate them; 3.14 adds one)
            processes = list((getattr(self._pool, "_processes", None) or {}).values())
            self._pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.terminate()
        else:
            self._pool.shutdown(wait=True)

    def run(self, tasks: list, log_dir, on_done=None) -> dict:
        """Run ``tasks`` and return ``{name: result}``.

        ``tasks``: ``(name, function, args, needs)`` tuples, in order of priority; ``function`` is a
        module-level function (it runs in a worker) and ``needs`` the names of the tasks it must wait for.
        A task is started as soon as a worker is free and its needs are done; the first ready one in
        ``tasks``' order goes first. ``on_done(name, result, seconds)`` is called in this process as each
        task ends. A task's error (a ``UserError`` keeps its one line) stops the others and is raised here.
        """
        waiting, running, results = list(tasks), {}, {}
        log_dir = Path(log_dir)
        while waiting or running:
            while waiting and len(running) < self.jobs:
                ready = next((t for t in waiting if all(n in results for n in t[3])), None)
                if ready is None:
                    break
                waiting.remove(ready)
                name, function, args, _ = ready
                log = log_dir / f"{name}.log"
                if log.exists():
                    log.unlink()
                running[self._pool.submit(_run_logged, str(log), function, args)] = (name, log)
            if not running:
                raise RuntimeError(f"tasks wait for tasks that are not given: {[t[0] for t in waiting]}")
            done, _ = futures.wait(running, return_when=futures.FIRST_COMPLETED)
            for future in done:
                name, log = running.pop(future)
                try:
                    result, seconds = future.result()
                except futures.process.BrokenProcessPool:
                    raise UserError(f"the process running {name} died (out of memory?); its output is in {log}: "
                                    "rerun the same command (finished work is kept), with --jobs 1 to use "
                                    "less memory") from None
                except UserError as exc:
                    raise UserError(f"{name}: {exc}") from None
                results[name] = result
                if on_done is not None:
                    on_done(name, result, seconds)
        return results
