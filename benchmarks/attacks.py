"""Benchmark of the in-house attacks against what they should cost (issue: attacks/, item 5).

* gradient attacks: per-iteration time of ``mim_ti``, ``dim``, ``dim_ti`` / CleverHans ``mim`` (target <= 1.15);
  per-iteration time = (t(n2 iterations) - t(n1 iterations)) / (n2 - n1), so tracing cancels out;
* query attacks: ECO and SPSA queries per second / the model's raw batched forward throughput (target >= 0.8).

On the MNIST Madry net and the CIFAR10 VGG net of ``architectures`` (random weights). Runs in ~2-3 minutes on
2 CPU cores::

    python benchmarks/attacks.py
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import attacks  # noqa: E402
import architectures  # noqa: E402

SETTINGS = {  # dataset: (batch, iterations n1 / n2, eps, ECO budget, ECO block size, ECO batch size, SPSA iters)
    "mnist": dict(batch=32, n1=5, n2=105, eps=0.3, eco_queries=1500, block=2, eco_batch=256, spsa_iter=5),
    "cifar10": dict(batch=8, n1=3, n2=15, eps=0.03, eco_queries=600, block=4, eco_batch=512, spsa_iter=2),
}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def per_iteration(attack, model, x, n1: int, n2: int, **kw) -> float:
    attack(model, x, nb_iter=1, **kw)  # warm-up: first-call costs of the runtime
    t1 = min(_timed(lambda: attack(model, x, nb_iter=n1, **kw)) for _ in range(2))
    t2 = min(_timed(lambda: attack(model, x, nb_iter=n2, **kw)) for _ in range(2))
    return max(t2 - t1, 1e-9) / (n2 - n1)


def forward_throughput(model, shape, batch: int, seconds: float = 0.7) -> float:
    """Images/s of the compiled forward pass at ``batch`` (after one warm-up call)."""
    f = tf.function(lambda t: model(t, training=False))
    x = tf.random.uniform((batch, *shape))
    f(x).numpy()
    start, done = time.perf_counter(), 0
    while done == 0 or time.perf_counter() - start < seconds:
        f(x).numpy()
        done += batch
    return done / (time.perf_counter() - start)


def main() -> None:
    keras.utils.set_random_seed(0)
    rows = []
    for dataset, s in SETTINGS.items():
        m = architectures.build_classifier(dataset)
        logits = keras.Sequential(m.layers[:-1])  # everything up to the Dense "logits"
        shape = architectures.INPUT_SHAPES[dataset]
        x = np.random.default_rng(0).uniform(0, 1, (s["batch"], *shape)).astype(np.float32)
        y = np.argmax(logits(x), 1)
        common = dict(eps=s["eps"])
        ref = per_iteration(attacks.mim, logits, x, s["n1"], s["n2"], **common)
        rows.append((dataset, "mim (CleverHans)", f"{1e3 * ref:.1f} ms/it", "1.00", "reference"))
        for name, kw in (("mim_ti", dict(kernel_size=5)), ("dim", dict(p=1.0, seed=0)),
                         ("dim_ti", dict(kernel_size=5, p=1.0, seed=0))):
            t = per_iteration(attacks.get(name), logits, x, s["n1"], s["n2"], **common, **kw)
            rows.append((dataset, name, f"{1e3 * t:.1f} ms/it", f"{t / ref:.2f}", "<= 1.15"))

        sizes = (s["batch"], 256, 1024) if dataset == "mnist" else (s["batch"], 64)

        def raw() -> float:  # the best batch size is the reference; measured next to each attack (shared CPU)
            return max(forward_throughput(logits, shape, b) for b in sizes)

        attacks.eco(logits, x[:2], y[:2], eps=s["eps"], max_queries=200, seed=0)  # warm-up
        spsa_kw = dict(eps=s["eps"], nb_iter=s["spsa_iter"], spsa_samples=128, seed=0)
        attacks.spsa(logits, x, y, **{**spsa_kw, "nb_iter": 1})  # warm-up
        runs = {
            "eco": lambda: attacks.eco(logits, x, y, eps=s["eps"], max_queries=s["eco_queries"],
                                       block_size=s["block"], batch_size=s["eco_batch"], seed=0),
            "spsa": lambda: attacks.spsa(logits, x, y, **spsa_kw),
        }
        for name, run in runs.items():
            before = raw()
            start = time.perf_counter()
            res = run()
            qps = res.queries / (time.perf_counter() - start)
            ref = (before + raw()) / 2
            rows.append((dataset, name, f"{qps:.0f} q/s", f"{qps / ref:.2f}",
                         f">= 0.8 (raw forward {ref:.0f} img/s, best of batches {sizes})"))
        print(f"{dataset} done", file=sys.stderr, flush=True)

    print(f"{'dataset':8} {'attack':18} {'measure':>14} {'ratio':>6}  target")
    for r in rows:
        print(f"{r[0]:8} {r[1]:18} {r[2]:>14} {r[3]:>6}  {r[4]}")


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - start:.0f}s on {os.cpu_count()} CPU cores")
