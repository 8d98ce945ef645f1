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

A cell's name hashes everything it depends on, the models included: the weights digests
(:func:`luring_tf.fingerprint.weights_digest`) of M and of the approach's T, so retrained models
give other file names and a cell computed on older models is never read as current (it stays on
disk, unused). Both files also record the digests; a stored cell whose digests differ from the
models in hand, or whose adversarial set is missing, is recomputed with a log line (not refused:
the files are keyed, so nothing current is overwritten). A truncated cell file is a one-line error
naming it; ``force`` recomputes it.

MIM-W (spec §3.4, paper App. F and §4.3): the paper reports, per (approach, ε), the lowest AC_M
and the lowest DAC over the MIM / DIM / MIM-TI / DIM-TI runs, each minimum with the attack and
parameters that reached it (:func:`worst_per_metric`); AC_M∘P is reported alongside, not
minimised (footnote 2) -- here, the AC_M∘P of the run with the lowest AC_M. The paper picked the
runs by hand from printed logs; the port computes the minima.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from luring_tf.storage import files
from luring_tf.evaluation import metrics, paired
from luring_tf.evaluation.adversarial import craft, predict_labels, select_examples
from luring_tf.errors import UserError
from luring_tf.storage.fingerprint import weights_digest

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
        configured = ", ".join(sorted(attacks_cfg)) or "none"
        raise UserError(f"attack {attack!r} has no parameters in this profile's defense.attacks (it has {configured}): "
                        f"choose one of those, or add defense.attacks.{attack} to the dataset's configs/*.yaml")
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


MINIMISED = ("AC_M", "DAC")  # the metrics MIM-W minimises; AC_M∘P is reported alongside


def _metric(record: dict, key: str) -> float:
    value = record[key]["value"]
    return np.inf if value is None else value


def worst_per_metric(records: list[dict]) -> dict[str, dict]:
    """MIM-W rule: for AC_M and for DAC separately, the run with the lowest value of that metric.

    Returns ``{"AC_M": record, "DAC": record}`` -- possibly two different runs (e.g. the lowest
    AC_M under DIM p=1.0 and the lowest DAC under DIM-TI k=5). Ties on a metric go to the lower
    other metric, then to the first run in grid order. Undefined values (None) never win.
    """
    if not records:
        raise ValueError("no records to select from")
    out = {}
    for key in MINIMISED:
        other = "DAC" if key == "AC_M" else "AC_M"
        out[key] = min(records, key=lambda r: (_metric(r, key), _metric(r, other)))
    return out


def run_summary(record: dict) -> dict:
    """The attack, parameters and the three rates of one run (an arg-min beside a minimum)."""
    return {"attack": record["attack"], "params": record["params"],
            **{key: record[key] for key in ("AC_MoP", "AC_M", "DAC")}}


def grid_argmin(records: list[dict]) -> dict[str, dict]:
    """Tables 11-13 layout: per gridded member attack, the grid value at its lowest AC_M and at its lowest DAC.

    ``{"mim_ti": {"grid": "kernel_size", "AC_M": 5, "DAC": 10, "runs": 2}, ...}`` for every member
    whose runs differ in their grid parameter (dim: p; mim_ti / dim_ti: kernel_size).
    """
    out = {}
    for attack, key in GRIDS.items():
        mine = [r for r in records if r["attack"] == attack and key in r["params"]]
        if len(mine) > 1:
            best = worst_per_metric(mine)
            out[attack] = {"grid": key, "runs": len(mine),
                           **{metric: best[metric]["params"][key] for metric in MINIMISED}}
    return out


def table_row(approach: str, eps: float, records: list[dict], attack: str) -> dict:
    """One row of the defense table from the runs of one (approach, ε).

    One run: its three rates. Several runs (MIM-W, or a grid such as dim's p list): the lowest
    AC_M and the lowest DAC over the runs, each with its arg-min run in ``argmin``; AC_M∘P is
    the one of the AC_M arg-min run.
    """
    if len(records) == 1 and attack != "mim-w":
        best = records[0]
        return {"approach": approach, "eps": eps, "n": best["n"],
                "AC_MoP": best["AC_MoP"], "AC_M": best["AC_M"], "DAC": best["DAC"]}
    worst = worst_per_metric(records)
    argmin = {key: run_summary(worst[key]) for key in MINIMISED}
    return {"approach": approach, "eps": eps, "n": worst["AC_M"]["n"], "runs": len(records),
            "AC_MoP": worst["AC_M"]["AC_MoP"], "AC_M": worst["AC_M"]["AC_M"], "DAC": worst["DAC"]["DAC"],
            "argmin": argmin, "grid_argmin": grid_argmin(records)}


def reported_run(records: list[dict], metric: str, attack: str) -> dict:
    """The run whose ``metric`` a table row reports (:func:`table_row`): the only run, or its MIM-W / grid arg-min."""
    return records[0] if len(records) == 1 and attack != "mim-w" else worst_per_metric(records)[metric]


def _log(message: str) -> None:
    print(f"[luring-tf] {message}", flush=True)


def _stale(json_path: Path, npz_path: Path, record: dict, identity: dict) -> str | None:
    """Why a stored cell cannot be reused for ``identity`` (the models' digests), or None."""
    if record.get("models") != identity:
        return f"{json_path} was computed on other models ({record.get('models')}, now {identity})"
    if not npz_path.is_file():
        return f"its adversarial set {npz_path} is missing"
    stored = files.read_npz(npz_path)  # a truncated set: one-line error, --force recomputes it
    if "models" not in stored or json.loads(str(stored["models"])) != identity:
        return f"its adversarial set {npz_path} belongs to other models"
    return None


def run_cell(models: dict, approach: str, attack: str, params: dict, eps: float, x, y, index,
             out_dir: Path, name: str, meta: dict, batch_size: int, seed: int,
             force: bool = False, verbose: bool = True, identity: dict | None = None) -> dict:
    """Compute (or read back) one cell; npz first, JSON last (the commit point).

    ``identity``: the weights digests ``{"M": ..., "T": ...}`` of the models the cell is for
    (computed here when not given); a stored cell of other models is recomputed, never reused.
    """
    json_path = out_dir / "cells" / approach / f"{name}.json"
    npz_path = out_dir / "adversarial" / approach / f"{name}.npz"
    if identity is None:
        identity = {"M": weights_digest(models["M"]), "T": weights_digest(models[approach])}
    if json_path.exists() and not force:
        stored = files.read_json(json_path)  # a truncated cell: one-line error, --force recomputes it
        why = _stale(json_path, npz_path, stored, identity)
        if why is None:  # (a cell stored before intervals existed gets them from its counts)
            return dict(stored, **{k: metrics.with_interval(stored[k]) for k in ("AC_MoP", "AC_M", "DAC")},
                        reused=True)
        _log(f"recomputing {attack} eps={eps:g} on {approach}: {why}")
    start = time.time()
    x_adv, info = craft(attack, models[approach], x, y, eps, params, batch_size, seed, verbose,
                        name=f"{approach}_T")
    t_adv = predict_labels(models[approach], x_adv, name=f"{approach}_T")
    m_adv = predict_labels(models["M"], x_adv, name="M")
    files.write_npz(npz_path, x_adv=x_adv.astype(np.float32), index=np.asarray(index, dtype=np.int64),
                    y=np.asarray(y, dtype=np.int64), m_pred=m_adv, t_pred=t_adv, eps=np.float32(eps),
                    params=np.array(json.dumps(params, sort_keys=True)),
                    models=np.array(json.dumps(identity, sort_keys=True)))
    rates = evaluate_cell(y, t_adv, m_adv)
    record = {**meta, "approach": approach, "attack": attack, "eps": eps, "params": params,
              "n": int(len(y)), **{k: r.as_dict() for k, r in rates.items()},
              "seconds": round(time.time() - start, 2), "queries": info["queries"],
              "iterations": info["iterations"], "models": identity, "adversarial_set": str(npz_path)}
    files.write_json(json_path, record)
    if verbose:
        _log(f"{attack} {params} eps={eps:g} on {approach}: AC_M∘P {rates['AC_MoP']}, AC_M {rates['AC_M']}, "
             f"DAC {rates['DAC']} (n={len(y)}, {record['seconds']:.1f}s)")
    return dict(record, reused=False)


def run_defense(models: dict, data, config: dict, attack: str, out_dir, force: bool = False,
                verbose: bool = True) -> dict:
    """Evaluate every approach of ``models`` (``{"M": M, approach: T}``) under ``attack``.

    Returns ``{"attack", "n", "models", "cells": [...], "table": [one row per (eps, approach)], "paired"}``
    (``paired``: Luring − each baseline for AC_M and DAC per ε, paired over the evaluation set with its
    interval and verdict, :func:`luring_tf.evaluation.paired.defense_pairs`);
    for ``mim-w`` (and any grid of runs) each table row holds the lowest AC_M and the lowest DAC
    over the runs with their arg-min runs (:func:`table_row`). ``models``: the weights digests the
    cells are keyed by.
    """
    section = config["defense"]
    runs = expand_configs(attack, section)
    out_dir = Path(out_dir)
    approaches = [name for name in models if name != "M"]
    index = select_examples(models, data.x_test, data.y_test, section["n_examples"], config["seed"])
    x, y = data.x_test[index], data.y_test[index]
    _log(f"evaluation set: {len(index)} test images correct for M and {', '.join(approaches)} "
         f"(the denominator of every rate)")
    digests = {name: weights_digest(model) for name, model in models.items()}
    # the cell names hash the evaluation set itself and the models' weights: another set (other
    # approaches, n, seed) or retrained models give other files instead of silently reusing cells
    # computed on different images or models
    context = {"dataset": config["dataset"], "batch_size": section["batch_size"],
               "index": hashlib.sha1(np.asarray(index, dtype=np.int64).tobytes()).hexdigest()[:12]}
    meta = {"dataset": config["dataset"]}
    cells, table, by_row = [], [], {}
    for eps in section["eps"]:
        for approach in approaches:
            identity = {"M": digests["M"], "T": digests[approach]}
            records = []
            for member, params in runs:
                name = cell_name(member, eps, params, dict(context, models=identity))
                records.append(run_cell(models, approach, member, params, eps, x, y, index, out_dir, name,
                                        meta, section["batch_size"], config["seed"], force, verbose, identity))
            cells.extend(records)
            table.append(table_row(approach, eps, records, attack))
            by_row[eps, approach] = records
    reused = sum(1 for c in cells if c.get("reused"))
    _log(f"{len(cells)} cells: {len(cells) - reused} computed, {reused} reused from {out_dir / 'cells'}")
    pairs = paired.defense_pairs(by_row, attack, config["seed"],
                                 lambda records, metric: reported_run(records, metric, attack))
    return {"attack": attack, "n": int(len(index)), "index": index.tolist(), "models": digests,
            "cells": cells, "table": table, "paired": pairs}
