#!/usr/bin/env python
"""What TensorFlow op determinism costs the quick MNIST training (issue 9, defect 5).

    python benchmarks/determinism.py [--repeats 2] [--steps 300]

On the quick profile's real digits, times two representative trainings with ``deterministic``
on and off, alternating (on, off, on, off, ...) so a change of machine load hits both alike:
one epoch of M with the quick augmentation (``train_classifier``) and ``--steps`` luring steps
(``train_component``, no warm-up). Prints wall and process CPU seconds (``resource.getrusage``)
per run, the medians and the cost of determinism in % of CPU and wall time. Same seed each run:
the runs of each mode must give identical weights (checked and printed; exit 1 otherwise).

Measured (2 shared CPU cores, load 7-9): CPU +2.3 %, wall +40 % with op determinism (a 50-step
luring micro-benchmark alternated 3 times: wall +34 %, CPU equal) -- TF's deterministic kernels
keep fewer threads busy -- and identical weights in both modes. Above the 20 % the issue allows,
so the quick profiles run without op determinism (seeding and stateless augmentation still make
them repeatable); the paper profiles, GPU work, keep it on.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300, help="luring steps per measurement")
    args = parser.parse_args()
    from luring_tf.cli.parser import quiet_tensorflow

    quiet_tensorflow()

    import architectures
    from luring_tf.config import profiles
    from luring_tf.cli import run_folder
    from luring_tf.training import trainers
    from luring_tf.storage.fingerprint import weights_digest

    cfg = profiles.load_config("mnist", "quick")
    data = run_folder.load_data(cfg, None)
    base = dict(cfg["train"]["base"], epochs=1)
    luring = dict(cfg["train"]["luring"], steps=args.steps, eval_every=args.steps, identity_warmup_steps=0,
                  restarts=0)
    augment = trainers.augmentation(base.get("augment"))
    trainers._verbose = lambda: 0  # no progress lines in the timings
    rows, digests = {True: [], False: []}, {True: set(), False: set()}
    for repeat in range(args.repeats):
        for deterministic in (True, False):
            wall, cpu = time.perf_counter(), cpu_seconds()
            classifier, _ = trainers.train_classifier(lambda: architectures.build_classifier("mnist"), data, base,
                                                      augment, seed=0, deterministic=deterministic)
            component = architectures.build_luring_component("mnist")
            trainers.train_component(component, classifier, data, luring, "luring", seed=0,
                                     deterministic=deterministic)
            wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
            rows[deterministic].append((wall, cpu))
            digests[deterministic].add(weights_digest(classifier) + weights_digest(component))
            print(f"run {repeat + 1} deterministic={deterministic!s:<5}: wall {wall:6.1f} s, CPU {cpu:6.1f} s, "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    median = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in rows.items()}
    print(f"\nM 1 epoch (augmented) + {args.steps} luring steps, median of {args.repeats}:")
    for k in (True, False):
        print(f"  deterministic={k!s:<5}: wall {median[k][0]:6.1f} s, CPU {median[k][1]:6.1f} s")
    print(f"cost of determinism: CPU {100 * (median[True][1] / median[False][1] - 1):+.1f} %, "
          f"wall {100 * (median[True][0] / median[False][0] - 1):+.1f} %")
    print(f"deterministic runs gave {len(digests[True])} distinct set(s) of weights "
          f"(non-deterministic: {len(digests[False])})")
    return 0 if len(digests[True]) == 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
