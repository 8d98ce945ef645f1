"""Section 4: the black-box defense -- the two prediction schemes and their evaluation.

Prediction schemes (paper Section 4.1), for a user protecting a deployed classifier M with
T = M∘P (e.g. ``models/quick/mnist/M.h5`` and ``luring_T.h5``):

* **detection scenario** -- :func:`detect`: the defender answers M's label and flags the input
  as adversarial when M and T = M∘P disagree (``flagged = M(x) != T(x)``);
* **transferability scenario** -- :func:`transfer_predict`: only M answers (the attacker crafts
  on T, which is all the black box reveals; M's label is returned).

Evaluation (spec ``attacks-and-metrics.md`` §3-5): attacks run white-box (or score-based for
SPSA / ECO) on T of one approach over N test images correct for M and every T, the set is
transferred to M and scored with AC_M∘P, AC_M and DAC (:mod:`luring_tf.metrics`), every rate
with its denominator. One cell = (approach, attack, eps, parameters): its adversarial set is
written to ``<out>/adversarial/<approach>/<cell>.npz`` first, then its JSON to
``<out>/cells/<approach>/<cell>.json`` -- the JSON is the commit point, a cell whose JSON exists
is finished and is never recomputed unless ``force``.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from luring_tf import files, metrics
from luring_tf.adversarial import craft, predict_labels, select_examples
from luring_tf.errors import UserError

ATTACKS = ("spsa", "eco", "fgsm", "mim", "dim", "mim_ti", "dim_ti", "mim-w")
GRIDS = {"dim": "p", "mim_ti": "kernel_size", "dim_ti": "kernel_size"}  # parameter searched, if a list
MIM_W_MEMBERS = ("mim", "dim", "mim_ti", "dim_ti")


@dataclass(frozen=True)
class DetectionResult:
    """Detection scenario on a batch: M's labels (the answer), T's labels, and the alarm flags."""

    m_pred: np.ndarray
    t_pred: np.ndarray
    flagged: np.ndarray

    @property
    def answer(self) -> np.ndarray:
        """The label the defender returns: M's."""
        return self.m_pred


def detect(classifier, protected, x: np.ndarray, batch_size: int = 500) -> DetectionResult:
    """Detection scenario: return M(x) as the answer and flag inputs where M(x) != T(x).

    ``classifier`` is M and ``protected`` is T = M∘P (Keras models with softmax or logits
    output); ``x`` float32 ``[N,H,W,C]`` in [0, 1]. Adversarial examples crafted on T that do
    not fool M the same way are either answered correctly or flagged (DAC counts both).
    """
    x = np.asarray(x, dtype=np.float32)
    m_pred = predict_labels(classifier, x, batch_size)
    t_pred = predict_labels(protected, x, batch_size)
    return DetectionResult(m_pred=m_pred, t_pred=t_pred, flagged=m_pred != t_pred)


def transfer_predict(classifier, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Transferability scenario: only M answers; returns M's labels (int64 ``[N]``)."""
    return predict_labels(classifier, np.asarray(x, dtype=np.float32), batch_size)


def evaluate_cell(y, t_adv, m_adv) -> dict[str, metrics.Rate]:
    """AC_M∘P, AC_M and DAC of one adversarial set (labels y; predictions of T and M on x')."""
    return {"AC_MoP": metrics.adversarial_accuracy(t_adv, y),
            "AC_M": metrics.adversarial_accuracy(m_adv, y),
            "DAC": metrics.detection_adversarial_accuracy(y, t_adv, m_adv)}


def expand_configs(attack: str, section: dict) -> list[tuple[str, dict]]:
    """Concrete ``(attack, params)`` runs of ``attack`` from the ``defense`` config section.

    A list-valued grid parameter (dim: ``p``; mim_ti / dim_ti: ``kernel_size``) gives one run
    per value; ``mim-w`` = mim + the dim grid + the mim_ti grid + the dim_ti grid (+ fgsm when
    ``mim_w.include_fgsm``).
    """
    if attack not in ATTACKS:
        raise UserError(f"unknown attack {attack!r} for the defense: choose from {', '.join(ATTACKS)}")
    attacks_cfg = section.get("attacks", section)
    if attack == "mim-w":
        members = list(MIM_W_MEMBERS)
        if (section.get("mim_w") or {}).get("include_fgsm"):
            members.insert(0, "fgsm")
        return [run for member in members for run in expand_configs(member, section)]
    if attack not in attacks_cfg:
        raise UserError(f"attack {attack!r} has no parameters in the configuration's defense.attacks")
    params = dict(attacks_cfg[attack] or {})
    grid_key = GRIDS.get(attack)
    if grid_key and isinstance(params.get(grid_key), (list, tuple)):
        values = list(params[grid_key])
        if not values:
            raise UserError(f"defense.attacks.{attack}.{grid_key} is an empty grid: give at least one value")
        return [(attack, dict(params, **{grid_key: v})) for v in values]
    return [(attack, params)]


def cell_name(attack: str, eps: float, params: dict, context: dict | None = None) -> str:
    """``<attack>_eps<eps>_<slug>``: the grid value in clear plus a short hash of every setting."""
    grid_key = GRIDS.get(attack)
    readable = f"{grid_key}{params[grid_key]:g}" if grid_key and grid_key in params else "default"
    digest = hashlib.sha1(json.dumps({"params": params, **(context or {})}, sort_keys=True,
                                     default=str).encode()).hexdigest()[:8]
    return f"{attack}_eps{eps:g}_{readable}-{digest}"


def select_worst(records: list[dict]) -> dict:
    """MIM-W rule: the record with the lowest AC_M, ties broken by the lowest DAC."""
    if not records:
        raise ValueError("no records to select from")

    def key(record):
        ac_m, dac = record["AC_M"]["value"], record["DAC"]["value"]
        return (np.inf if ac_m is None else ac_m, np.inf if dac is None else dac)

    return min(records, key=key)


def _log(message: str) -> None:
    print(f"[luring-tf] {message}", flush=True)


def run_cell(models: dict, approach: str, attack: str, params: dict, eps: float, x, y, index,
             out_dir: Path, name: str, meta: dict, batch_size: int, seed: int,
             force: bool = False, verbose: bool = True) -> dict:
    """Compute (or read back) one cell; npz first, JSON last (the commit point)."""
    json_path = out_dir / "cells" / approach / f"{name}.json"
    npz_path = out_dir / "adversarial" / approach / f"{name}.npz"
    if json_path.exists() and not force:
        return dict(files.read_json(json_path), reused=True)
    start = time.time()
    x_adv, info = craft(attack, models[approach], x, y, eps, params, batch_size, seed, verbose)
    t_adv = predict_labels(models[approach], x_adv)
    m_adv = predict_labels(models["M"], x_adv)
    files.write_npz(npz_path, x_adv=x_adv.astype(np.float32), index=np.asarray(index, dtype=np.int64),
                    y=np.asarray(y, dtype=np.int64), m_pred=m_adv, t_pred=t_adv, eps=np.float32(eps),
                    params=np.array(json.dumps(params, sort_keys=True)))
    rates = evaluate_cell(y, t_adv, m_adv)
    record = {**meta, "approach": approach, "attack": attack, "eps": eps, "params": params,
              "n": int(len(y)), **{k: r.as_dict() for k, r in rates.items()},
              "seconds": round(time.time() - start, 2), "queries": info["queries"],
              "iterations": info["iterations"], "adversarial_set": str(npz_path)}
    files.write_json(json_path, record)
    if verbose:
        _log(f"{attack} {params} eps={eps:g} on {approach}: AC_M∘P {rates['AC_MoP']}, AC_M {rates['AC_M']}, "
             f"DAC {rates['DAC']} (n={len(y)}, {record['seconds']:.1f}s)")
    return dict(record, reused=False)


def run_defense(models: dict, data, config: dict, attack: str, out_dir, force: bool = False,
                verbose: bool = True) -> dict:
    """Evaluate every approach of ``models`` (``{"M": M, approach: T}``) under ``attack``.

    Returns ``{"attack", "n", "cells": [...], "table": [one row per (eps, approach)]}``; for
    ``mim-w`` each table row is the worst run (lowest AC_M, ties lowest DAC) with its winner.
    """
    section = config["defense"]
    runs = expand_configs(attack, section)
    out_dir = Path(out_dir)
    approaches = [name for name in models if name != "M"]
    index = select_examples(models, data.x_test, data.y_test, section["n_examples"], config["seed"])
    x, y = data.x_test[index], data.y_test[index]
    _log(f"evaluation set: {len(index)} test images correct for M and {', '.join(approaches)} "
         f"(the denominator of every rate)")
    # the cell names hash the evaluation set itself: another set (other approaches, n, seed, models)
    # gives other files instead of silently reusing cells computed on different images
    context = {"dataset": config["dataset"], "batch_size": section["batch_size"],
               "index": hashlib.sha1(np.asarray(index, dtype=np.int64).tobytes()).hexdigest()[:12]}
    meta = {"dataset": config["dataset"]}
    cells, table = [], []
    for eps in section["eps"]:
        for approach in approaches:
            records = []
            for member, params in runs:
                name = cell_name(member, eps, params, context)
                records.append(run_cell(models, approach, member, params, eps, x, y, index, out_dir, name,
                                        meta, section["batch_size"], config["seed"], force, verbose))
            cells.extend(records)
            best = select_worst(records) if attack == "mim-w" else records[0]
            row = {"approach": approach, "eps": eps, "n": best["n"],
                   "AC_MoP": best["AC_MoP"], "AC_M": best["AC_M"], "DAC": best["DAC"]}
            if attack == "mim-w" or len(records) > 1:
                if attack != "mim-w":  # a plain grid (e.g. dim's p list): report the worst run too
                    best = select_worst(records)
                    row.update(AC_MoP=best["AC_MoP"], AC_M=best["AC_M"], DAC=best["DAC"])
                row["winner"] = {"attack": best["attack"], "params": best["params"]}
            table.append(row)
    reused = sum(1 for c in cells if c.get("reused"))
    _log(f"{len(cells)} cells: {len(cells) - reused} computed, {reused} reused from {out_dir / 'cells'}")
    return {"attack": attack, "n": int(len(index)), "index": index.tolist(), "cells": cells, "table": table}
