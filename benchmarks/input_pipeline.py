#!/usr/bin/env python
"""Is the streaming input pipeline fast enough for training? (issue 11: ratio >= 3)

    python benchmarks/input_pipeline.py                       # MNIST and CIFAR10, quick-profile batch sizes
    python benchmarks/input_pipeline.py --profile paper --images 3000 --batches 60

For each data set's luring training (component P of the paper's Table 5 / Table 7 and its classifier M,
batch size and augmentation of the profile's ``train.luring``): images/s of the training input pipeline
(``trainers._train_dataset``: shuffle, repeat, decode when file-backed, batch, augmentation, prefetch)
from arrays and from a folder of PNG files, and images/s of ``ComponentTrainer.train_step`` fed with
one cached batch (no input cost). Ratio = pipeline / training step: >= 3 means the pipeline is not the
bottleneck. Measured one after the other in this process (the pipeline with all cores, then the step);
during training they share the cores. The load average is printed: on a shared machine wall time lies.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pipeline_rate(ds, batches: int, batch_size: int) -> float:
    """images/s of ``ds`` over ``batches`` batches, after 3 warm-up batches."""
    iterator = iter(ds)
    for _ in range(3):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


def step_rate(trainer, batch, steps: int, batch_size: int) -> float:
    """images/s of ``trainer.fit`` on one cached batch repeated, after a warm-up fit (tracing)."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensors(batch).repeat()
    trainer.fit(ds, steps_per_epoch=3, epochs=1, verbose=0)
    start = time.perf_counter()
    trainer.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * batch_size / (time.perf_counter() - start)


def write_pngs(folder: Path, x) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(x):
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(folder / f"{i:05d}.png")


def measure(dataset: str, profile: str, n_images: int, batches: int, steps: int) -> dict:
    import keras
    import numpy as np

    import architectures
    from luring_tf.config import profiles
    from luring_tf.data.dataset import IMAGE_SHAPES, Dataset
    from luring_tf.data.folder import load_image_folder
    from luring_tf.training import trainers

    cfg = profiles.load_config(dataset, profile, [])["train"]["luring"]
    batch_size, shape = int(cfg["batch_size"]), IMAGE_SHAPES[dataset]
    augment = trainers.augmentation(cfg.get("augment"))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n_images, *shape), dtype=np.uint8)
    y = (np.arange(n_images) % 10).astype(np.int64)
    arrays = Dataset(dataset, x.astype(np.float32) / 255, y, x[:10] / 255, y[:10], x[:10] / 255, y[:10], "random")
    logits = rng.normal(size=(n_images, 10)).astype(np.float32)
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        write_pngs(Path(tmp) / "pngs", x)
        folder = load_image_folder(Path(tmp) / "pngs", shape, test_size=1, val_fraction=0.01)
        folder_logits = logits[: folder.size("train")]
        rates["arrays"] = pipeline_rate(trainers._train_dataset(arrays, logits, batch_size, augment, 0), batches,
                                        batch_size)
        rates["png folder"] = pipeline_rate(trainers._train_dataset(folder, folder_logits, batch_size, augment, 0),
                                            batches, batch_size)
    keras.utils.set_random_seed(0)
    trainer = trainers.ComponentTrainer(architectures.build_luring_component(dataset, dropout=cfg.get("dropout", 0.0)),
                                        architectures.build_classifier(dataset), "luring",
                                        cfg.get("luring_coefficient", 1.0), augment)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-4))
    batch = (arrays.x_train[:batch_size], logits[:batch_size])
    rates["train step"] = step_rate(trainer, batch, steps, batch_size)
    return {"batch_size": batch_size, "augment": augment is not None, **rates}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["mnist", "cifar10"])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--images", type=int, default=2000, help="images in the arrays and the PNG folder")
    parser.add_argument("--batches", type=int, default=40, help="pipeline batches timed")
    parser.add_argument("--steps", type=int, default=20, help="training steps timed")
    args = parser.parse_args()
    from luring_tf.cli.parser import quiet_tensorflow

    quiet_tensorflow()
    print(f"load average before: {' '.join(f'{v:.1f}' for v in os.getloadavg())}; {os.cpu_count()} CPUs")
    worst = float("inf")
    for dataset in args.datasets:
        r = measure(dataset, args.profile, args.images, args.batches, args.steps)
        for source in ("arrays", "png folder"):
            ratio = r[source] / r["train step"]
            worst = min(worst, ratio)
            print(f"{dataset:8s} batch {r['batch_size']:3d} augment {str(r['augment']):5s} pipeline from "
                  f"{source:10s} {r[source]:9.0f} img/s | luring train_step {r['train step']:7.0f} img/s | "
                  f"ratio {ratio:6.1f}", flush=True)
    print(f"load average after: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(f"lowest ratio {worst:.1f} (target >= 3): {'met' if worst >= 3 else 'NOT met'}")
    return 0 if worst >= 3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
