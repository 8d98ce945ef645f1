"""Benchmark of the in-house attacks against what they should cost (issue: attacks/, items 5 and 13).

* gradient attacks: per-iteration time of ``mim_ti``, ``dim``, ``dim_ti`` / CleverHans ``mim`` (target <= 1.15);
  per-iteration time = (t(n2 iterations) - t(n1 iterations)) / (n2 - n1), so tracing cancels out;
* query attacks: ECO and SPSA queries per second / the model's raw compiled forward throughput at the best of
  several batch sizes, those the attack uses included (target >= 0.8 for ECO on MNIST).

Every ratio is measured with its two sides interleaved (reference, attack, reference, attack, ...) so that both
see the same load, and repeated: the table gives the median over repeats and the spread (max - min) / median,
marked ``!`` above 10 % (then the median is not to be trusted: rerun on a quieter machine). Each ratio is given
twice: on elapsed time (what a user waits) and on this process's CPU seconds (what the work costs, much less
disturbed by other processes on a shared machine; the targets are judged on it).
On the MNIST Madry net and the CIFAR10 VGG net of ``architectures`` (random weights). 12 minutes with
``--repeats 5`` on an otherwise idle 2-core machine::

    python benchmarks/attacks.py [--repeats 3] [--datasets mnist cifar10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import attacks  # noqa: E402
import architectures  # noqa: E402

SPREAD_LIMIT = 0.10
SETTINGS = {  # images per attack, iterations n1 / n2, eps, ECO images / budget / block / batch, SPSA its, raw sizes
    # ECO runs on 256 images: the real runs attack 500-1000 at once, and its sequential lazy-greedy steps are
    # batched across images only, so with a few dozen images most model calls would be tiny (unrepresentative).
    # n2 - n1 iterations long enough that their time outweighs the noise of a trace (each call of a transfer
    # attack traces its loop again): with 30 MNIST / 10 CIFAR10 iterations the spreads were 56-126 % even on
    # a quiet machine.
    "mnist": dict(batch=32, n1=2, n2=302, eps=0.3, eco_images=256, eco_queries=600, block=2, eco_batch=256,
                  spsa_iter=5, raw_sizes=(32, 256, 1024, 4096), query_attacks=("eco", "spsa")),
    "cifar10": dict(batch=8, n1=1, n2=51, eps=0.03, eco_images=16, eco_queries=500, block=4, eco_batch=512,
                    spsa_iter=1, raw_sizes=(8, 64, 256), query_attacks=("eco",)),
}
TRANSFER = (("mim_ti", dict(kernel_size=5)), ("dim", dict(p=1.0, seed=0)),
            ("dim_ti", dict(kernel_size=5, p=1.0, seed=0)))


def _clocks() -> np.ndarray:
    """(wall seconds, CPU seconds of this process, all threads)."""
    return np.array([time.perf_counter(), time.process_time()])


def _timed(fn) -> np.ndarray:
    """(wall, CPU) seconds of ``fn()``."""
    start = _clocks()
    fn()
    return _clocks() - start


def forward_throughput(f, shape, sizes, seconds: float = 0.3) -> np.ndarray:
    """Best (wall, CPU) images/s of the compiled forward pass ``f`` over batch sizes ``sizes`` (warmed up)."""
    best = np.zeros(2)
    for b in sizes:
        x = tf.random.uniform((b, *shape))
        start, done = _clocks(), 0
        while done == 0 or time.perf_counter() - start[0] < seconds:
            f(x).numpy()
            done += b
        best = np.maximum(best, done / (_clocks() - start))
    return best


def summary(ratios: list[float]) -> tuple[float, float]:
    """(median, spread = (max - min) / median); nan if any repeat gave no ratio."""
    if any(np.isnan(ratios)):
        return float("nan"), float("nan")
    med = statistics.median(ratios)
    return med, (max(ratios) - min(ratios)) / med


def gradient_ratios(logits, x, s, repeats: int) -> dict[str, list[float]]:
    """Per repeat: every attack at n1 then every attack at n2, the reference first (interleaved)."""
    runs = {"mim": (attacks.mim, {})}
    runs.update({name: (attacks.get(name), kw) for name, kw in TRANSFER})
    for fn, kw in runs.values():  # warm-up: first-call costs of the runtime
        fn(logits, x, eps=s["eps"], nb_iter=1, **kw)
    ratios = {name: [] for name in runs if name != "mim"}
    for _ in range(repeats):
        t = {n: {} for n in runs}
        for n_iter in (s["n1"], s["n2"]):
            for name, (fn, kw) in runs.items():
                t[name][n_iter] = _timed(lambda: fn(logits, x, eps=s["eps"], nb_iter=n_iter, **kw))
        # a difference <= 0 means the load swamped the measurement: no ratio (nan), flagged below
        per_it = {name: np.where(t[name][s["n2"]] > t[name][s["n1"]], t[name][s["n2"]] - t[name][s["n1"]], np.nan)
                  for name in runs}
        for name in ratios:
            ratios[name].append(per_it[name] / per_it["mim"])
    return ratios


def query_ratios(logits, shape, s, rng, repeats: int) -> tuple[dict[str, list[float]], list[float]]:
    """Per repeat: raw, ECO, raw, SPSA, raw ...: each attack's rate over the mean of the raw rates around it."""
    f = tf.function(lambda t: logits(t, training=False))
    for b in s["raw_sizes"]:
        f(tf.random.uniform((b, *shape))).numpy()
    x_eco = rng.uniform(0, 1, (s["eco_images"], *shape)).astype(np.float32)
    x_spsa = x_eco[:s["batch"]]
    runs = {
        "eco": lambda: attacks.eco(logits, x_eco, None, eps=s["eps"], max_queries=s["eco_queries"],
                                   block_size=s["block"], batch_size=s["eco_batch"], seed=0),
        "spsa": lambda: attacks.spsa(logits, x_spsa, None, eps=s["eps"], nb_iter=s["spsa_iter"], spsa_samples=128,
                                     seed=0),
    }
    runs = {name: run for name, run in runs.items() if name in s["query_attacks"]}
    attacks.eco(logits, x_eco[:2], None, eps=s["eps"], max_queries=150, seed=0)  # warm-up
    if "spsa" in runs:
        attacks.spsa(logits, x_spsa, None, eps=s["eps"], nb_iter=1, spsa_samples=128, seed=0)
    ratios, raws = {name: [] for name in runs}, []
    raw = forward_throughput(f, shape, s["raw_sizes"])
    for _ in range(repeats):
        for name, run in runs.items():
            start = _clocks()
            res = run()
            rate = res.queries / (_clocks() - start)
            after = forward_throughput(f, shape, s["raw_sizes"])
            ratios[name].append(rate / ((raw + after) / 2))
            raws.append(after)
            raw = after
    return ratios, raws


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3,
                        help="interleaved repeats per ratio (default 3; more on a quiet machine tightens the spread)")
    parser.add_argument("--datasets", nargs="+", choices=sorted(SETTINGS), default=list(SETTINGS))
    args = parser.parse_args(argv)
    if args.repeats < 2:
        parser.error("--repeats must be >= 2 (a spread needs two measurements)")
    keras.utils.set_random_seed(0)
    rows, unstable = [], [0, 0]
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    for dataset in args.datasets:
        s = SETTINGS[dataset]
        m = architectures.build_classifier(dataset)
        logits = keras.Sequential(m.layers[:-1])  # everything up to the Dense "logits"
        shape = architectures.INPUT_SHAPES[dataset]
        rng = np.random.default_rng(0)
        x = rng.uniform(0, 1, (s["batch"], *shape)).astype(np.float32)
        found = gradient_ratios(logits, x, s, args.repeats)
        print(f"{dataset}: gradient attacks done ({time.perf_counter() - t0:.0f}s)", file=sys.stderr, flush=True)
        targets = {name: ("<=", 1.15) for name in found}
        q, raws = query_ratios(logits, shape, s, rng, args.repeats)
        found.update(q)
        targets.update({"eco": (">=", 0.8), "spsa": ("<=", 1.0)})
        for name, ratios in found.items():
            op, goal = targets[name]
            row = [dataset, name]
            for clock in (0, 1):  # wall, CPU
                med, spread = summary([float(r[clock]) for r in ratios])
                flag = "!" if not spread <= SPREAD_LIMIT else ""  # nan (no ratio) is flagged too
                unstable[clock] += bool(flag)
                row += [f"{med:.2f}", f"{100 * spread:.0f}%{flag}"]
            met = float(row[-2]) <= goal if op == "<=" else float(row[-2]) >= goal
            ref = ("CleverHans mim" if name in dict(TRANSFER)
                   else f"raw forward {statistics.median(float(r[0]) for r in raws):.0f} img/s")
            verdict = ("yes" if met else "NO") + ("?" if row[-1].endswith("!") else "")  # ? = CPU spread > 10 %
            rows.append((*row, f"{op} {goal}", verdict, ref))
        print(f"{dataset}: done ({time.perf_counter() - t0:.0f}s)", file=sys.stderr, flush=True)

    head = ("dataset", "attack", "wall", "spread", "CPU", "spread", "target", "met", "ratio to")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())
    print(f"medians over {args.repeats} interleaved repeats; spread = (max - min) / median, '!' = above "
          f"{100 * SPREAD_LIMIT:.0f}%: not to be trusted ({unstable[0]} wall, {unstable[1]} CPU).\n"
          f"wall = elapsed-time ratio; CPU = ratio of this process's CPU seconds (all threads), which other "
          f"processes' load disturbs much less; 'met' is judged on the CPU median ('?': its spread is too wide). Load average {os.getloadavg()[0]:.1f} "
          f"(at start {load0:.1f}) on {os.cpu_count()} cores. SPSA's bound 1.0 is physical.")
    return 0


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    print(f"total {time.perf_counter() - start:.0f}s")
    sys.exit(code)
