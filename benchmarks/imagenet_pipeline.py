#!/usr/bin/env python
"""How fast does the ImageNet pipeline read images? (issue 12, data part)

    python benchmarks/imagenet_pipeline.py                      # 256 JPEGs of 500x375, 224 x 224 crops
    python benchmarks/imagenet_pipeline.py --images 1000 --size 224 --batch 128

Writes ``--images`` random-texture JPEGs of 500 x 375 (about ILSVRC2012's typical size) in a temporary
``train/<wnid>`` / ``val/<wnid>`` layout, then measures, each over two passes of the images:
the load (``load_imagenet``: listing + one decode of every file to find unreadable ones), the evaluation
stream (short-side resize + centre crop), the training stream (random resized crop + flip, shuffled,
repeated), and for reference a plain image folder of the same files (decode + whole-image resize).
Prints images/s (wall) and CPU ms per image (this process, all threads). The load average is printed:
on a shared machine wall time lies; the CPU time is the steadier number.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def write_layout(root: Path, n_images: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (94, 125, 3), dtype=np.uint8)
    for i in range(n_images):
        part, wnid = ("val" if i % 4 == 0 else "train"), f"n{i % 2:08d}"
        folder = root / part / wnid
        folder.mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(np.roll(texture, i, axis=1)).resize((500, 375), Image.BILINEAR)
        out = io.BytesIO()
        image.save(out, "JPEG", quality=90)
        (folder / f"{wnid}_{i}.JPEG").write_bytes(out.getvalue())


def timed(label: str, images: int, run) -> None:
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{label:<44} {images / wall:8.1f} images/s   {1000 * cpu / images:6.2f} CPU ms/image")


def drain(ds, batches: int) -> None:
    for _ in ds.take(batches):
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    from luring_tf.data.folder import load_image_folder
    from luring_tf.data.imagenet import load_imagenet

    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_layout(root, args.images)
        timed("load (list + decode every file once)", args.images,
              lambda: load_imagenet(root, args.size, val_size=8, seed=0))
        data = load_imagenet(root, args.size, val_size=8, seed=0)
        n, b = data.size("train"), args.batch
        batches = max(1, 2 * n // b)
        drain(data.stream("train", b, repeat=True), 1)  # warm-up: tracing
        timed("evaluation stream (resize 256, centre crop)", batches * b,
              lambda: drain(data.stream("train", b, repeat=True), batches))
        timed("training stream (random resized crop, flip)", batches * b,
              lambda: drain(data.stream("train", b, shuffle=True, seed=0, repeat=True), batches))
        plain = load_image_folder(root / "train", (args.size, args.size, 3), test_size=1)
        plain_batches = max(1, 2 * plain.size("train") // b)
        timed("reference: image folder (decode + resize)", plain_batches * b,
              lambda: drain(plain.stream("train", b, shuffle=True, seed=0, repeat=True), plain_batches))


if __name__ == "__main__":
    main()
