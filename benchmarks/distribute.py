#!/usr/bin/env python
"""Luring training throughput with 1 and 2 replicas (issue 12, tf.distribute).

    python benchmarks/distribute.py [--repeats 3] [--steps 20] [--batch 64] [--dataset mnist]

Trains the paper's P of ``--dataset`` against its M (architectures, random weights; M frozen, cached logits)
with :class:`luring_tf.training.trainers.ComponentTrainer` under the default strategy (1 replica) and under a
``MirroredStrategy`` of 2 replicas: 2 GPUs when at least two are visible, else 2 logical CPU devices of this
machine's CPU (``tf.config.set_logical_device_configuration``: the same cores, split in two). Global batch
``--batch`` (Keras splits it), ``--steps`` steps per timed run, after an untimed warm-up run (tracing) of each.
Runs are interleaved (1, 2, 1, 2, ...) so that both see the same machine load; the table gives images/s
(wall and this process's CPU seconds) per run, the medians and spread = (max - min) / median ('!' above 10 %),
and the ratio 2 replicas / 1 replica of the medians.

Two logical CPU devices share the cores one device already uses: expect a ratio near or under 1 there (the
all-reduce and the per-step Python round trip are pure overhead); the number that matters is on GPUs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from types import SimpleNamespace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

SPREAD_LIMIT = 0.10


def two_devices() -> str:
    """Make two replicas possible before TensorFlow starts; describe them."""
    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) >= 2:
        return f"2 of {len(gpus)} GPUs"
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    return f"2 logical CPU devices on {os.cpu_count()} cores"


def make_trainer(name: str, dataset: str, data, batch: int, steps: int):
    """(strategy, trainer, training stream) built under strategy ``name``."""
    import keras

    import architectures
    from luring_tf.training import distribute, trainers

    strategy = distribute.use(name)
    with distribute.scope():
        keras.utils.set_random_seed(0)
        m = architectures.build_classifier(dataset)
        p = architectures.build_luring_component(dataset)
        trainer = trainers.ComponentTrainer(p, m, "luring")
        trainer.compile(optimizer=keras.optimizers.Adam(1e-3),
                        steps_per_execution=distribute.steps_per_execution(steps))
    logits = trainers.classifier_logits(m, data.x_train)
    return strategy, trainer, trainers._train_dataset(data, logits, batch, seed=0)


def timed(strategy, trainer, stream, steps: int, batch: int) -> np.ndarray:
    """(wall, CPU) images/s of ``steps`` training steps of ``trainer`` (built under ``strategy``)."""
    from luring_tf.training import distribute

    distribute.use(strategy)
    start = np.array([time.perf_counter(), time.process_time()])
    trainer.fit(stream, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * batch / (np.array([time.perf_counter(), time.process_time()]) - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=64, help="global batch (default: the MNIST luring batch)")
    parser.add_argument("--dataset", default="mnist", choices=("mnist", "svhn", "cifar10"))
    args = parser.parse_args(argv)
    devices = two_devices()
    from luring_tf.data.dataset import IMAGE_SHAPES

    rng = np.random.default_rng(0)
    data = SimpleNamespace(x_train=rng.random((max(1024, 4 * args.batch), *IMAGE_SHAPES[args.dataset]),
                                              dtype=np.float32))
    sides = {"1 replica": "one", "2 replicas": "mirrored"}
    built = {label: make_trainer(name, args.dataset, data, args.batch, args.steps) for label, name in sides.items()}
    for label in sides:  # warm-up: tracing
        timed(*built[label], args.steps, args.batch)
    runs = {label: [] for label in sides}
    for _ in range(args.repeats):
        for label in sides:
            runs[label].append(timed(*built[label], args.steps, args.batch))
    print(f"luring training, {args.dataset} P and M, global batch {args.batch}, {args.steps} steps per run, "
          f"2 replicas = {devices}, TF {tf.__version__}")
    medians = {}
    for label, values in runs.items():
        values = np.array(values)
        medians[label] = np.array([statistics.median(values[:, k]) for k in range(2)])
        spread = (values.max(0) - values.min(0)) / medians[label]
        marks = ["!" if s > SPREAD_LIMIT else "" for s in spread]
        print(f"{label:<11} images/s wall {' '.join(f'{v:7.0f}' for v in values[:, 0])}  "
              f"median {medians[label][0]:7.0f}"
              f" spread {spread[0]:.0%}{marks[0]}  | CPU {' '.join(f'{v:7.0f}' for v in values[:, 1])}  median "
              f"{medians[label][1]:7.0f} spread {spread[1]:.0%}{marks[1]}")
    ratio = medians["2 replicas"] / medians["1 replica"]
    print(f"ratio 2 replicas / 1 replica: {ratio[0]:.2f} (wall), {ratio[1]:.2f} (CPU seconds)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
