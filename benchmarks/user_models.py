#!/usr/bin/env python
"""Issue 22's acceptance matrix: real-image user models protected, attacked and exported through the scripts.

    python benchmarks/user_models.py                        # every case: protect, defend (mim-w), export --tflite
    python benchmarks/user_models.py --cases B E --no-defense
    python benchmarks/user_models.py --step-times           # ms per luring step: Table 6 vs the compact P

Each case is built from the shipped real MNIST digits (``tests/real_images.py``: resized, coloured, relabelled,
written as an unlabeled folder of PNGs) with a small Keras M trained on them in the case's input range and
output kind. Then, as a user would, in the case's folder:

    python run_characterization.py --target-model mine.h5 --data-dir pngs --input-range RANGE
    python run_defense.py --target-model mine.h5 --attack mim-w --n-examples 50 --eps 0.03
    python -m luring_tf.export --target-model mine.h5 --out exported --tflite

and prints a table: held-out (test) T-M agreement, validation agreement, status (ok, or the one-line refusal),
wall time of the protection, the P chosen, and the defense / TFLite outcome. Extra arguments after ``--`` go
to run_characterization.py (e.g. ``-- --set train.luring.steps=400``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from real_images import MEAN_STD, Case  # noqa: E402

# Every value of every axis appears at least once: grey/colour; [0,1], [0,255], mean/std; logits/softmax;
# square/non-square; side <= 64 and > 64; K = 2, 5, 43.
CASES = {
    "A": Case("A grey 28x28 K2 [0,1] softmax", (28, 28, 1), 2, "0,1", "softmax", 3000),
    "B": Case("B colour 40x40 K5 [0,255] logits", (40, 40, 3), 5, "0,255", "logits", 3000),
    "C": Case("C colour 32x48 K43 mean/std logits", (32, 48, 3), 43, MEAN_STD, "logits", 3000),
    "D": Case("D grey 80x80 K5 mean/std softmax", (80, 80, 1), 5, MEAN_STD, "softmax", 3000),
    "E": Case("E colour 96x72 K2 [0,255] softmax", (96, 72, 3), 2, "0,255", "softmax", 3000),
    "F": Case("F grey 48x20 K43 [0,255] logits", (48, 20, 1), 43, "0,255", "logits", 3000),
}


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3", LURING_TF_ALLOW_DOWNLOAD="0")


def _run(args, cwd: Path, log: Path) -> tuple[int, float, str]:
    start = time.time()
    result = subprocess.run([sys.executable, *args], cwd=cwd, env=_env(), capture_output=True, text=True)
    log.write_text(result.stdout + "\n--- stderr ---\n" + result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    return result.returncode, time.time() - start, errors[-1] if errors else ""


def run_case(key: str, case: Case, root: Path, extra: list[str], defense: bool, export: bool) -> dict:
    from real_images import build_case

    folder = root / key
    info = build_case(case, folder, epochs=6)
    row = {"case": case.name, "M_acc_own_images": round(info["train_accuracy_M"], 3)}
    code, seconds, error = _run([str(ROOT / "run_characterization.py"), "--target-model", "mine.h5", "--data-dir",
                                 "pngs", "--input-range", case.input_range, *extra], folder, folder / "protect.log")
    row.update(protect_exit=code, protect_s=round(seconds, 1))
    record_path = folder / ("mine_luring.json" if code == 0 else "mine_luring.failed.json")
    if record_path.is_file():
        record = json.loads(record_path.read_text())
        row.update(test_agreement=record["test_agreement"]["value"], test_n=record["test_agreement"]["denominator"],
                   val_agreement=record["val_agreement"]["value"], constant=record["constant_image_agreement"],
                   status=record["status"], P=record["component_rule"],
                   train_s=record["training"]["seconds"])
    if error:
        row["refusal"] = error
    if code == 0 and defense:
        dcode, dseconds, derror = _run([str(ROOT / "run_defense.py"), "--target-model", "mine.h5", "--attack", "mim-w",
                                        "--n-examples", "50", "--eps", "0.03"], folder, folder / "defense.log")
        row.update(defense_exit=dcode, defense_s=round(dseconds, 1), **({"defense_error": derror} if derror else {}))
        summary = folder / "results" / "mine" / "defense" / "defense_mim-w.json"
        if dcode == 0 and summary.is_file():
            table = json.loads(summary.read_text())["table"][0]
            row.update(DAC=table["DAC"]["value"], AC_M=table["AC_M"]["value"], defense_n=table["n"])
    if code == 0 and export:
        ecode, eseconds, eerror = _run(["-m", "luring_tf.export", "--target-model", "mine.h5", "--out", "exported",
                                        "--tflite"], folder, folder / "export.log")
        row.update(export_exit=ecode, export_s=round(eseconds, 1), **({"export_error": eerror} if eerror else {}))
        written = folder / "exported" / "export.json"
        if ecode == 0 and written.is_file():
            row["tflite_agreement"] = json.loads(written.read_text())["tflite"]["agreement_with_keras_T"]["value"]
    return row


def step_times(shapes=((40, 40, 3), (96, 72, 3)), steps: int = 5, batch: int = 32, rule: bool = True) -> list[dict]:
    """Mean seconds of one luring train step (P forward + M + backward) for Table 6 / the rule's P and the compact P."""
    import keras
    import numpy as np
    import tensorflow as tf

    import architectures.by_shape as by_shape
    from luring_tf.training.trainers import ComponentTrainer

    rows = []
    for shape in shapes:
        m = keras.Sequential([keras.Input(shape), keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(5)])
        x = tf.constant(np.random.default_rng(0).random((batch, *shape), np.float32))
        logits = m(x)
        candidates = [("compact", by_shape.build_compact_component(shape)),
                      ("compact filters 32", by_shape.build_compact_component(shape, filters=32))]
        if rule and max(shape[:2]) <= by_shape.SMALL_SIDE:  # Table 15 (sides > 64) is not timed: far slower still
            candidates.append(("rule: " + by_shape.component_rule(shape), by_shape.build_component_for_shape(shape)))
        for name, p in candidates:
            trainer = ComponentTrainer(p, m, "luring")
            trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
            step = tf.function(trainer.train_step)
            step((x, logits))
            start = time.time()
            for _ in range(steps):
                step((x, logits))
            rows.append({"shape": "x".join(map(str, shape)), "P": name, "params": int(p.count_params()),
                         "s_per_step_batch": batch, "s_per_step": round((time.time() - start) / steps, 3)})
            print(rows[-1], flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--out", default=None, help="work folder (default: a fresh temporary one)")
    parser.add_argument("--no-defense", action="store_true")
    parser.add_argument("--no-export", action="store_true")
    parser.add_argument("--step-times", action="store_true", help="only time one luring step of each P")
    parser.add_argument("extra", nargs="*", help="after --: arguments for run_characterization.py")
    args = parser.parse_args(argv)
    if args.step_times:
        step_times()
        return 0
    root = Path(args.out or tempfile.mkdtemp(prefix="user_models_"))
    rows = []
    for key in args.cases:
        rows.append(run_case(key, CASES[key], root, args.extra, not args.no_defense, not args.no_export))
        print(json.dumps(rows[-1]), flush=True)
    (root / "matrix.json").write_text(json.dumps(rows, indent=1))
    print("\n| case | M acc | T-M test agreement (n) | val | constant | status | protect s | P | DAC@0.03 | TFLite agr |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['M_acc_own_images']} | {r.get('test_agreement', '-')} ({r.get('test_n', '-')}) | "
              f"{r.get('val_agreement', '-')} | {r.get('constant', '-')} | {r.get('status', r.get('refusal', '-'))} | "
              f"{r['protect_s']} | {r.get('P', '-')} | {r.get('DAC', '-')} | {r.get('tflite_agreement', '-')} |")
    print(f"\nwork folder: {root}")
    bad = [r for r in rows if r["protect_exit"] != 0 and not r.get("refusal")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
