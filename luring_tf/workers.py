"""Independent work of one run side by side (``--jobs``): the model trainings and the attack cells, in threads.

Why: one TensorFlow training keeps a small CPU machine's cores only partly busy -- its small ops leave the
cores idle between them, and tracing a graph or writing a checkpoint is Python on one core. Two trainings in
two threads of one process share TensorFlow's thread pools and fill each other's gaps (C-E and Luring on the
quick MNIST M: 162 s side by side against 200 s one after the other, same load). The trainings of M and
Stack are independent; C-E, Luring and Auto (whose T is M∘P) need M; the characterization's cells are
independent once the models exist.

``--jobs auto`` is the default (``LURING_TF_JOBS`` sets another): 2 threads on a machine of at least 2 CPUs
without a GPU, when the data are in memory (not streamed files, not ImageNet) and the strategy is one
device, otherwise 1; ``--jobs N`` asks for N (1 where the run cannot use them); ``--jobs 1`` runs everything
in turn.

Reproducibility: the threads share the thread pools (so every op splits its sums as with ``--jobs 1``), and
:mod:`luring_tf.seeding` gives each thread the global random state alone while it seeds and builds. So
``--jobs 2`` gives the same models and tables as ``--jobs 1``, bit for bit (tested). Each task's output
goes to its log file (``<folder>/logs/<task>.log``), the main thread printing one line per finished task.

Stopping: a task's error (or Ctrl-C) ends the run with its one line; :func:`abandon` then leaves the
process at once, without waiting for the other threads' trainings (their finished epochs are
checkpointed: rerunning the command resumes them).
"""

from __future__ import annotations

import concurrent.futures as futures
import contextlib
import os
import sys
import threading
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
    raise UserError(f"--jobs {value}: give a number of threads (1 = one task at a time) or auto")


def default_jobs() -> str | int:
    """``LURING_TF_JOBS`` when set, else ``auto``."""
    value = os.environ.get(ENV)
    if value is None:
        return "auto"
    try:
        return parse_jobs(value)
    except UserError:
        raise UserError(f"{ENV}={value}: give a number of threads or auto, or unset it") from None


def why_one(data, strategy_is_default: bool) -> str | None:
    """Why this run must do one task at a time, or None when it may run several."""
    if not strategy_is_default:
        return "--strategy uses several devices"
    if getattr(data, "x_train", None) is None or getattr(data, "preprocessing", None) is not None:
        return "the images are streamed from files"
    return None


def resolve_jobs(requested, data, strategy_is_default: bool) -> int:
    """The number of threads: ``requested`` (an int, or ``auto``) where the run allows it, else 1."""
    reason = why_one(data, strategy_is_default)
    if reason is not None:
        if requested not in ("auto", 1):
            print(f"[luring-tf] --jobs {requested}: one task at a time ({reason})", flush=True)
        return 1
    if requested != "auto":
        return int(requested)
    import tensorflow as tf

    cpus = os.cpu_count() or 1
    return 2 if cpus >= 2 and not tf.config.list_physical_devices("GPU") else 1


@contextlib.contextmanager
def for_run(requested, data, strategy_is_default: bool):
    """A :class:`Workers` of :func:`resolve_jobs` threads for the block, or None when that is 1."""
    jobs = resolve_jobs(requested, data, strategy_is_default)
    if jobs == 1:
        yield None
        return
    with Workers(jobs, data) as pool:
        yield pool


def worker_data():
    """The run's data, in a task."""
    return _STATE["data"]


class _Routed:
    """``sys.stdout`` / ``sys.stderr`` while workers run: a task thread's writes go to its log file."""

    def __init__(self, stream):
        self.stream = stream
        self.logs: dict[int, object] = {}

    def _target(self):
        return self.logs.get(threading.get_ident(), self.stream)

    def write(self, text):
        return self._target().write(text)

    def flush(self):
        self._target().flush()

    def isatty(self):
        return self._target().isatty()

    def __getattr__(self, name):
        return getattr(self._target(), name)


@contextlib.contextmanager
def output_to(log: Path):
    """This thread's ``print``s and Keras progress lines in ``log`` (appended) for the block."""
    log.parent.mkdir(parents=True, exist_ok=True)
    routes = [stream for stream in (sys.stdout, sys.stderr) if isinstance(stream, _Routed)]
    with open(log, "a", buffering=1) as handle:
        for route in routes:
            route.logs[threading.get_ident()] = handle
        try:
            yield
        finally:
            for route in routes:
                route.logs.pop(threading.get_ident(), None)


def _run_logged(log: str, function, args: tuple, future: futures.Future) -> None:
    """In a task thread: ``future`` gets ``(function(*args), seconds)`` or the error; output in ``log``."""
    start = time.perf_counter()
    try:
        with output_to(Path(log)):
            result = function(*args)
    except BaseException as exc:  # noqa: BLE001 -- handed to the scheduler, which raises it
        future.set_exception(exc)
    else:
        future.set_result((result, time.perf_counter() - start))


_THREADS: list = []  # the task threads started in this process


def busy() -> bool:
    """Whether a task thread is still running."""
    return any(thread.is_alive() for thread in _THREADS)


def abandon(code: int) -> None:
    """Exit now with ``code`` when task threads still run (they would keep the process alive until done)."""
    if busy():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class Workers:
    """Up to ``jobs`` task threads sharing ``data``; :meth:`run` runs tasks and their dependents as they free up.

    Use as a context manager: while it is open, task threads' output goes to their logs.
    """

    def __init__(self, jobs: int, data):
        self.jobs = int(jobs)
        _STATE["data"] = data
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout, sys.stderr = _Routed(sys.stdout), _Routed(sys.stderr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self) -> None:
        sys.stdout, sys.stderr = self._saved
        _STATE.pop("data", None)

    def _start(self, log: Path, function, args: tuple) -> futures.Future:
        future: futures.Future = futures.Future()
        thread = threading.Thread(target=_run_logged, args=(str(log), function, args, future), daemon=True,
                                  name=f"luring-tf {log.stem}")
        _THREADS[:] = [t for t in _THREADS if t.is_alive()] + [thread]
        thread.start()
        return future

    def run(self, tasks: list, log_dir, on_done=None) -> dict:
        """Run ``tasks`` and return ``{name: result}``.

        ``tasks``: ``(name, function, args, needs)`` tuples, in order of priority; ``needs`` are the names of
        the tasks it must wait for. A task is started as soon as fewer than ``jobs`` run and its needs are
        done; the first ready one in ``tasks``' order goes first. ``on_done(name, result, seconds)`` is called
        in this thread as each task ends. A task's error (a ``UserError`` keeps its one line) is raised here
        and no task is started after it (the running ones are left to :func:`abandon`).
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
                running[self._start(log, function, args)] = (name, log)
            if not running:
                raise RuntimeError(f"tasks wait for tasks that are not given: {[t[0] for t in waiting]}")
            done, _ = futures.wait(running, return_when=futures.FIRST_COMPLETED)
            for future in done:
                name, log = running.pop(future)
                try:
                    result, seconds = future.result()
                except UserError as exc:
                    raise UserError(f"{name}: {exc}") from None
                results[name] = result
                if on_done is not None:
                    on_done(name, result, seconds)
        return results
