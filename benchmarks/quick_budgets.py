#!/usr/bin/env python
"""Choose the quick profile's training budgets on the VALIDATION split only (issue 23, item 1).

    python benchmarks/quick_budgets.py                       # MNIST quick profile, every candidate
    python benchmarks/quick_budgets.py --only luring ce      # the candidates of some sections
    python benchmarks/quick_budgets.py --out budgets.json    # also write the table as JSON

Each candidate is a set of ``--set``-style overrides of one ``train.<section>`` of the quick profile. It is
trained with the package's own training code (the same trainers, seeds, warm-up, restarts and checkpoint choice
as ``run_characterization.py``) and scored on the validation digits:

- M, Stack: the best validation accuracy (the epoch kept) and the kept model's validation accuracy;
- Auto: the kept model's validation accuracy of T = M∘P (its training minimises reconstruction, not accuracy);
- C-E, Luring: the best validation agreement with M (the evaluation kept) and the kept T's validation accuracy.

**The test split never enters this process**: the data set handed to the trainers is the quick data with its
test split *replaced by the validation split* (``Dataset(..., x_test=x_val, y_test=y_val)``), so the package's
after-training checks (which read ``x_test``) also score validation digits, and no number printed here comes
from a test image. M is trained once with the profile's M section (the first candidate of ``base`` is the
profile's own), and every P candidate is trained against that M, as in a run.

CPU = user + system seconds of this process (``resource.getrusage``); on a shared machine compare CPU, not wall.
The scores are over 680 validation digits: a 95 % Wilson interval is about ±0.02 at 0.93, so candidates closer
than that are a tie, broken by time.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# (section, label, overrides). The first of each section is the profile's value as shipped.
CANDIDATES = [
    ("base", "8 ep, b64, lr 0.0015, augment", {}),
    ("base", "8 ep, b64, lr 0.0015, no augment", {"augment": False}),
    ("base", "12 ep, b64, lr 0.0015, augment", {"epochs": 12}),
    ("stack", "8 ep, b64, lr 0.0006", {}),
    ("stack", "8 ep, b28, lr 0.0003", {"batch_size": 28, "lr": [0.0003]}),
    ("stack", "12 ep, b64, lr 0.0006", {"epochs": 12}),
    ("auto", "15 ep, b128, lr 0.004", {}),
    ("auto", "30 ep, b128, lr 0.002", {"epochs": 30, "lr": [0.002]}),
    ("auto", "25 ep, b128, lr 0.004", {"epochs": 25}),
]
COMPONENT = [  # shared by C-E and Luring (they get the same budget)
    ("400 warm-up + 1,000 steps [0.003, 0.0005]@700", {}),
    ("1,000 warm-up + 1,500 steps [0.002, 0.0005]@1000",
     {"identity_warmup_steps": 1000, "steps": 1500, "lr": [0.002, 0.0005], "lr_boundaries": [1000]}),
    ("400 warm-up + 1,500 steps [0.002, 0.0005]@1000",
     {"steps": 1500, "lr": [0.002, 0.0005], "lr_boundaries": [1000]}),
    ("400 warm-up + 1,500 steps [0.003, 0.0005]@1000",
     {"steps": 1500, "lr_boundaries": [1000]}),
    ("200 warm-up + 1,000 steps [0.003, 0.0005]@700", {"identity_warmup_steps": 200}),
]
CANDIDATES += [(section, label, overrides) for section in ("ce", "luring") for label, overrides in COMPONENT]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def sealed_data(config: dict):
    """The quick data with its test split replaced by the validation split (see the module docstring)."""
    from luring_tf.cli.run_folder import load_data

    data = load_data(config, None)
    return replace(data, x_test=data.x_val, y_test=data.y_val)


def score(section: str, summary: dict) -> dict:
    """The validation scores of one trained candidate (``summary``: its training.json entry)."""
    kept = summary["test_rate"]  # over the validation digits here (sealed_data)
    out = {"val_rate_of_kept_model": kept["value"], "n_val": kept["denominator"], "interval": kept["interval"]}
    if "best_val_agreement" in summary:
        out["best_val_agreement"] = round(summary["best_val_agreement"], 4)
    if "best_val_accuracy" in summary:
        out["best_val_accuracy"] = round(summary["best_val_accuracy"], 4)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--only", nargs="+", help="sections to sweep (default: all): base stack auto ce luring")
    parser.add_argument("--out", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    from luring_tf.config.precedence import resolve
    from luring_tf.training import paper_models

    config = resolve(args.dataset, args.profile)
    data = sealed_data(config)
    print(f"{args.dataset} {args.profile}: train {len(data.x_train)}, validation {len(data.x_val)} "
          "(the test split is not loaded into the trainers: x_test := x_val)", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        m_dir = Path(scratch) / "M"
        start, cpu = time.perf_counter(), cpu_seconds()
        classifier, m_summary = paper_models.train_and_save_classifier(data, config, m_dir)
        print(f"M for the P candidates: validation accuracy {m_summary['test_rate']['value']:.3f} "
              f"({time.perf_counter() - start:.0f} s, {cpu_seconds() - cpu:.0f} CPU s)", flush=True)
        for index, (section, label, overrides) in enumerate(CANDIDATES):
            if args.only and section not in args.only:
                continue
            candidate = copy.deepcopy(config)
            candidate["train"][section].update(overrides)
            folder = Path(scratch) / f"c{index}"
            start, cpu = time.perf_counter(), cpu_seconds()
            if section == "base":
                _, summary = paper_models.train_and_save_classifier(data, candidate, folder)
            else:
                _, summary = paper_models.train_and_save_protected(section, classifier, data, candidate, folder)
            row = {"section": section, "candidate": label, "overrides": overrides, **score(section, summary),
                   "wall_s": round(time.perf_counter() - start, 1), "cpu_s": round(cpu_seconds() - cpu, 1)}
            rows.append(row)
            best = row.get("best_val_agreement", row.get("best_val_accuracy"))
            print(f"{section:7s} {label:48s} best val {best if best is not None else '-'}  kept-model val "
                  f"{row['val_rate_of_kept_model']:.3f}  {row['wall_s']:.0f} s / {row['cpu_s']:.0f} CPU s", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"dataset": args.dataset, "profile": args.profile,
                                              "load_average": os.getloadavg(), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
