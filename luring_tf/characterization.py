"""Section 3: characterization of the luring effect (Table 8, DR and IAR of Figure 2).

Protocol (spec ``attacks-and-metrics.md`` §1-2): the evaluation set is a seeded draw of
``n_examples`` test images classified correctly by M and every M∘P. Each attack is run on every
M∘P separately, white-box on its logits, with label = the shared clean prediction. For each
(attack, ε) only the examples successful on **all** M∘P are kept (X'); DR and IAR are computed on
X' per approach, and the denominator |X'| is stated with each number.

Resumable: each (attack, ε, approach) result is stored in ``cells/`` as an ``.npz`` holding the
predictions and distortions; a stored cell with the same parameters is reused.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from luring_tf import files, metrics
from luring_tf.adversarial import craft, predict_labels, select_examples

ATTACKS = ("fgsm", "pgd", "mim", "miml2")


def _log(message: str) -> None:
    print(f"[luring-tf] {message}", flush=True)


def model_table(models: dict, data) -> dict:
    """Table 8: test accuracy of M and each T, agreement of T with M on the truth and overall."""
    preds = {name: predict_labels(model, data.x_test) for name, model in models.items()}
    table = {"M": {"test_accuracy": metrics.accuracy(preds["M"], data.y_test).as_dict()}}
    for name in models:
        if name != "M":
            table[name] = {
                "test_accuracy": metrics.accuracy(preds[name], data.y_test).as_dict(),
                "agreement_on_truth": metrics.agreement_on_truth(preds[name], preds["M"], data.y_test).as_dict(),
                "agreement": metrics.agreement(preds[name], preds["M"]).as_dict(),
            }
    return table


def distortions(x: np.ndarray, x_adv: np.ndarray) -> dict[str, np.ndarray]:
    """Per-example l2, l-inf and l0 (changed components, exact) of ``x_adv - x``."""
    delta = (x_adv - x).reshape(len(x), -1)
    return {"l2": np.linalg.norm(delta, axis=1), "linf": np.abs(delta).max(axis=1),
            "l0": np.count_nonzero(delta, axis=1)}


def _cell(cells_dir: Path, attack, eps, approach, params_key, compute) -> dict:
    path = cells_dir / f"{attack}_eps{eps:g}_{approach}.npz"
    if path.exists():
        with np.load(path) as stored:
            if str(stored["params"]) == params_key:
                return {k: stored[k] for k in stored.files}
    result = compute()
    files.write_npz(path, params=np.array(params_key), **result)
    return result


def characterize(models: dict, data, config: dict, out_dir, force: bool = False, verbose: bool = True) -> dict:
    """Run the characterization; returns the JSON-ready record (also written by the caller)."""
    section = config["characterization"]
    approaches = [name for name in models if name != "M"]
    cells_dir = Path(out_dir) / "cells"
    index = select_examples(models, data.x_test, data.y_test, section["n_examples"], config["seed"])
    x, y = data.x_test[index], data.y_test[index]
    _log(f"evaluation set: {len(index)} test images correct for M and {', '.join(approaches)}")
    record = {"n_examples": int(len(index)), "results": []}
    for attack in section["attacks"]:
        params = section["attacks"][attack] or {}
        for eps in section["eps"]:
            success, preds = {}, {}
            for approach in approaches:
                key = json.dumps({"attack": attack, "eps": eps, "params": params, "index": index.tolist()},
                                 sort_keys=True)
                if force and (cells_dir / f"{attack}_eps{eps:g}_{approach}.npz").exists():
                    (cells_dir / f"{attack}_eps{eps:g}_{approach}.npz").unlink()

                def compute(approach=approach):
                    start = time.time()
                    x_adv, info = craft(attack, models[approach], x, y, eps, params,
                                        section["batch_size"], config["seed"], verbose)
                    _log(f"{attack} eps={eps:g} on {approach}: {time.time() - start:.1f}s")
                    return dict(t_adv=predict_labels(models[approach], x_adv),
                                m_adv=predict_labels(models["M"], x_adv),
                                iterations=np.array(info["iterations"]), **distortions(x, x_adv))

                cell = _cell(cells_dir, attack, eps, approach, key, compute)
                preds[approach] = cell
                success[approach] = cell["t_adv"] != y
            kept = np.logical_and.reduce([success[a] for a in approaches])
            for approach in approaches:
                cell = preds[approach]
                record["results"].append({
                    "attack": attack, "eps": eps, "approach": approach,
                    "success_rate": metrics.Rate(int(success[approach].sum()), len(y)).as_dict(),
                    "kept": int(kept.sum()),
                    "DR": metrics.disagreement_rate(y[kept], cell["t_adv"][kept], cell["m_adv"][kept]).as_dict(),
                    "IAR": metrics.inefficient_adversarial_rate(
                        y[kept], cell["t_adv"][kept], cell["m_adv"][kept]).as_dict(),
                    "mean_l2": float(cell["l2"][kept].mean()) if kept.any() else None,
                    "mean_linf": float(cell["linf"][kept].mean()) if kept.any() else None,
                    "mean_l0": float(cell["l0"][kept].mean()) if kept.any() else None,
                })
            _log(f"{attack} eps={eps:g}: {int(kept.sum())}/{len(y)} adversarial examples fool every M∘P")
    return record
