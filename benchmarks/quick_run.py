#!/usr/bin/env python
"""Wall and CPU seconds of every stage of a characterization run (issue 9: the quick run's time).

    python benchmarks/quick_run.py                          # MNIST, quick profile, everything retrained
    python benchmarks/quick_run.py --dataset mnist -- --set train.luring.steps=500

Runs ``run_characterization.py``'s ``main`` in this process, into fresh temporary folders (so every
model is trained), and times each stage: imports, data, training (every model), Table 8, attacks, and
the rest (report, figure). Then each model's own training time (from ``<models>/training.json``: with
``--jobs 2``, the default on a CPU machine, the models train side by side in two threads, so these overlap).
CPU = user + system seconds of this process (``resource.getrusage``, every thread). The load average is printed
before and after, and the machine's speed: a 1500 x 1500 float32 NumPy matmul in GFLOP/s (best of 10), before and after
the run. On a shared machine wall time lies, CPU seconds less; compare runs whose speeds agree.

    python benchmarks/quick_run.py -- --jobs 1               # one task at a time (the same results)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STAGES: list[tuple[str, float, float]] = []


def cpu_seconds(who=resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def matmul_gflops(n: int = 1500, repeats: int = 10) -> float:
    """The machine's speed now: GFLOP/s of the best of ``repeats`` float32 ``n x n`` NumPy matmuls."""
    import numpy as np

    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def timed(name, function):
    def wrapper(*args, **kwargs):
        wall, cpu = time.perf_counter(), cpu_seconds()
        try:
            return function(*args, **kwargs)
        finally:
            label = name(*args) if callable(name) else name
            STAGES.append((label, time.perf_counter() - wall, cpu_seconds() - cpu))
    return wrapper


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--keep", default=None, help="write models and results here instead of a temporary folder")
    parser.add_argument("extra", nargs="*", help="more run_characterization.py arguments (after --)")
    args = parser.parse_args()
    speed_before = matmul_gflops()
    start_wall, start_cpu, load_before = time.perf_counter(), cpu_seconds(), os.getloadavg()
    work = Path(args.keep or tempfile.mkdtemp(prefix="luring-quick-run-"))

    from luring_tf.cli.parser import quiet_tensorflow

    timed("imports (TensorFlow)", quiet_tensorflow)()
    from luring_tf.evaluation import characterization
    from luring_tf.cli import run_folder
    from luring_tf.training import paper_models

    run_folder.load_data = timed("data", run_folder.load_data)
    paper_models.obtain_models = timed("training (every model)", paper_models.obtain_models)
    characterization.model_table = timed("Table 8", characterization.model_table)
    characterization.characterize = timed("attacks (DR, IAR)", characterization.characterize)
    import run_characterization

    argv = ["--dataset", args.dataset, "--profile", args.profile, "--models-dir", str(work / "models"),
            "--out", str(work / "results"), "--quiet", *args.extra]
    code = run_characterization.main(argv)
    total_wall, own_cpu = time.perf_counter() - start_wall, cpu_seconds() - start_cpu
    total_cpu = own_cpu
    named_wall, named_cpu = sum(s[1] for s in STAGES), sum(s[2] for s in STAGES)
    STAGES.append(("rest (report, figure, start-up)", total_wall - named_wall, own_cpu - named_cpu))
    print(f"\n{args.dataset} {args.profile}: python run_characterization.py {' '.join(argv)}")
    print(f"{'stage':<34}{'wall s':>9}{'CPU s':>9}")
    for name, wall, cpu in STAGES:
        print(f"{name:<34}{wall:>9.1f}{cpu:>9.1f}")
    print(f"{'total':<34}{total_wall:>9.1f}{total_cpu:>9.1f}")
    record = json.loads((work / "models" / "training.json").read_text())
    print("each model's training, wall s: " + ", ".join(f"{name} {summary['seconds']:.0f}"
                                                       for name, summary in record.items()))
    print(f"load average (1, 5, 15 min) before {load_before[0]:.1f} {load_before[1]:.1f} {load_before[2]:.1f}, "
          f"after {' '.join(f'{v:.1f}' for v in os.getloadavg())}; {os.cpu_count()} CPUs")
    print(f"machine speed (NumPy matmul): {speed_before:.0f} GFLOP/s before, {matmul_gflops():.0f} after")
    print(f"models and results in {work}")
    return code or 0


if __name__ == "__main__":
    raise SystemExit(main())
