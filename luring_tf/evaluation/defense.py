"""Section 4: the black-box defense -- the two prediction schemes and their evaluation.

Prediction schemes (paper Section 4.1), for a user protecting a deployed classifier M with
T = M∘P (e.g. ``models/quick/mnist/M.h5`` and ``luring_T.h5``):

* **detection scenario** -- :func:`detect`: the defender answers M's label and flags the input
  as adversarial when M and T = M∘P disagree (``flagged = M(x) != T(x)``), or under a user's
  policy (:mod:`luring_tf.evaluation.detection_policy`: flag only when T is also unsure of M's label);
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

False alarms (not in the paper): on clean images every flag of the detection scheme is a false
alarm. :func:`run_defense` reports, per approach, the clean flag rate on the whole test split (its
denominator and 95 % Wilson interval; the evaluation set itself is flag-free by construction, M and
T agree on it), and, where the data has a validation split, the confidence policy calibrated there
to ``false_alarm`` (:func:`~luring_tf.evaluation.detection_policy.calibrate`): its clean test flag
rate and, per row, ``DAC_policy`` -- the DAC of the same adversarial sets under that policy (the
MIM-W rule takes its minimum over the runs, like DAC's).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from luring_tf import names
from luring_tf.storage import files
from luring_tf.evaluation import detection_policy, intervals, metrics, paired
from luring_tf.evaluation.adversarial import craft, predict_labels, select_examples
from luring_tf.errors import UserError
from luring_tf.storage.fingerprint import weights_digest

# One spelling per name (hyphens); mim_ti / dim_ti / mim_w are aliases (names.canonical_attack). The
# configuration keys keep underscores: defense.attacks.mim_ti, defense.mim_w (names.attack_key).
ATTACKS = names.DEFENSE_ATTACKS  # spsa eco fgsm mim dim mim-ti dim-ti mim-w
GRIDS = {"dim": "p", "mim-ti": "kernel_size", "dim-ti": "kernel_size"}  # parameter searched, if a list
MIM_W_MEMBERS = ("mim", "dim", "mim-ti", "dim-ti")


def canonical_attack(attack: str) -> str:
    """``attack``'s one spelling (``mim_w`` -> ``mim-w``); a one-line ``UserError`` naming the valid ones."""
    name = names.canonical_attack(attack)
    if name not in ATTACKS:
        raise UserError(f"unknown attack {attack!r} for the defense: choose from {', '.join(ATTACKS)}")
    return name
DEFAULT_FALSE_ALARM = 0.05  # the target clean false-alarm rate of the calibrated policy reported beside DAC


@dataclass(frozen=True)
class DetectionResult:
    """Detection scenario on a batch: M's labels (the answer), T's labels, and the alarm flags.

    ``t_prob_of_m``: T's probability of M's label (float [N]); ``policy``: the rule that set ``flagged``.
    """

    m_pred: np.ndarray
    t_pred: np.ndarray
    flagged: np.ndarray
    t_prob_of_m: np.ndarray | None = None
    policy: detection_policy.DetectionPolicy = detection_policy.PAPER

    @property
    def answer(self) -> np.ndarray:
        """The label the defender returns: M's."""
        return self.m_pred


def detect(classifier, protected, x: np.ndarray, batch_size: int = 500, policy=None) -> DetectionResult:
    """Detection scenario: return M(x) as the answer and flag inputs under ``policy``.

    ``classifier`` is M and ``protected`` is T = M∘P (Keras models with softmax or logits
    output); ``x`` float32 ``[N,H,W,C]`` in their input range. ``policy``: None (the paper's rule,
    flag when M(x) != T(x)) or a :class:`~luring_tf.evaluation.detection_policy.DetectionPolicy`
    (e.g. calibrated to a false-alarm rate on clean validation images). Adversarial examples crafted
    on T that do not fool M the same way are either answered correctly or flagged (DAC counts both).
    """
    policy = detection_policy.resolve(policy)
    s = detection_policy.scores(classifier, protected, np.asarray(x, dtype=np.float32), batch_size)
    return DetectionResult(m_pred=s.m_pred, t_pred=s.t_pred, flagged=policy.flags(s.m_pred, s.t_pred, s.t_prob_of_m),
                           t_prob_of_m=s.t_prob_of_m, policy=policy)


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

    A list-valued grid parameter (dim: ``p``; mim-ti / dim-ti: ``kernel_size``) gives one run
    per value; ``mim-w`` = mim + the dim grid + the mim-ti grid + the dim-ti grid (+ fgsm when
    ``mim_w.include_fgsm``). ``attack`` in either spelling; the runs carry the canonical one, their
    parameters come from ``defense.attacks.<config key>`` (``mim-ti`` -> ``mim_ti``).
    """
    attack = canonical_attack(attack)
    attacks_cfg = section.get("attacks", section)
    if attack == "mim-w":
        members = list(MIM_W_MEMBERS)
        if (section.get("mim_w") or {}).get("include_fgsm"):
            members.insert(0, "fgsm")
        return [run for member in members for run in expand_configs(member, section)]
    key = names.attack_key(attack)
    if key not in attacks_cfg:
        configured = ", ".join(sorted(attacks_cfg)) or "none"
        raise UserError(f"attack {attack!r} has no parameters in this profile's defense.attacks (it has {configured}): "
                        f"choose one of those, or add defense.attacks.{key} to the dataset's profile (--config FILE)")
    params = dict(attacks_cfg[key] or {})
    grid_key = GRIDS.get(attack)
    if grid_key and isinstance(params.get(grid_key), (list, tuple)):
        values = list(params[grid_key])
        if not values:
            raise UserError(f"defense.attacks.{key}.{grid_key} is an empty grid: give at least one value")
        return [(attack, dict(params, **{grid_key: v})) for v in values]
    return [(attack, params)]


def cell_name(attack: str, eps: float, params: dict, context: dict | None = None) -> str:
    """``<attack>_eps<eps>_<slug>``: the grid value in clear plus a short hash of every setting.

    ``<attack>`` is the configuration key (``mim_ti``), so cells stored before the names took hyphens are reused.
    """
    grid_key = GRIDS.get(names.canonical_attack(attack))
    readable = f"{grid_key}{params[grid_key]:g}" if grid_key and grid_key in params else "default"
    digest = hashlib.sha1(json.dumps({"params": params, **(context or {})}, sort_keys=True,
                                     default=str).encode()).hexdigest()[:8]
    return f"{names.attack_key(attack)}_eps{eps:g}_{readable}-{digest}"


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
    """The attack, parameters and the three rates of one run (an arg-min beside a minimum), and its DAC under
    the calibrated detection policy when computed."""
    return {"attack": record["attack"], "params": record["params"],
            **{key: record[key] for key in ("AC_MoP", "AC_M", "DAC", "DAC_policy") if key in record}}


def grid_argmin(records: list[dict]) -> dict[str, dict]:
    """Tables 11-13 layout: per gridded member attack, the grid value at its lowest AC_M and at its lowest DAC.

    ``{"mim-ti": {"grid": "kernel_size", "AC_M": 5, "DAC": 10, "runs": 2}, ...}`` for every member
    whose runs differ in their grid parameter (dim: p; mim-ti / dim-ti: kernel_size).
    """
    out = {}
    for attack, key in GRIDS.items():
        mine = [r for r in records if names.canonical_attack(r["attack"]) == attack and key in r["params"]]
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
    with_policy = all("DAC_policy" in r for r in records)
    if len(records) == 1 and canonical_attack(attack) != "mim-w":
        best = records[0]
        row = {"approach": approach, "eps": eps, "n": best["n"],
               "AC_MoP": best["AC_MoP"], "AC_M": best["AC_M"], "DAC": best["DAC"]}
        if with_policy:
            row["DAC_policy"] = best["DAC_policy"]
        return row
    worst = worst_per_metric(records)
    argmin = {key: run_summary(worst[key]) for key in MINIMISED}
    row = {"approach": approach, "eps": eps, "n": worst["AC_M"]["n"], "runs": len(records),
           "AC_MoP": worst["AC_M"]["AC_MoP"], "AC_M": worst["AC_M"]["AC_M"], "DAC": worst["DAC"]["DAC"],
           "argmin": argmin, "grid_argmin": grid_argmin(records)}
    if with_policy:  # the same per-metric worst case as DAC's
        lowest = min(records, key=lambda r: (_metric(r, "DAC_policy"), _metric(r, "AC_M")))
        row["DAC_policy"] = lowest["DAC_policy"]
        argmin["DAC_policy"] = run_summary(lowest)
    return row


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
        if why is None:  # stored as mim_ti reads back as mim-ti; a cell stored before intervals gets them;
            # its adversarial set is named where it lies now (the stored path may be relative to another folder)
            return dict(stored, **{k: metrics.with_interval(stored[k]) for k in ("AC_MoP", "AC_M", "DAC")},
                        attack=attack, adversarial_set=str(npz_path), reused=True)
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


CALIBRATION_LIMIT = 5000  # validation images decoded from files for the calibration, at most


def validation_images(data) -> np.ndarray | None:
    """The clean [0,1] validation images of ``data`` (in memory; the first ``CALIBRATION_LIMIT`` of a split
    read from files), or None when it has no validation split."""
    x = getattr(data, "x_val", None)
    if x is None and hasattr(data, "images") and getattr(data, "files", None):
        from luring_tf.data import streams

        x = data.images("val", CALIBRATION_LIMIT) if streams.size(data, "val") else None
    return None if x is None or len(x) == 0 else np.asarray(x, np.float32)


def false_alarms(models: dict, data, approaches, false_alarm: float | None, batch_size: int) -> dict:
    """Per approach, the detection scheme on clean images: ``{approach: (entry, policy or None)}``.

    ``entry``: the paper rule's flag rate on the whole clean test split (``test_flag_rate``, with its
    95 % Wilson interval), and -- when ``false_alarm`` is given and ``data`` has a validation split --
    the confidence policy calibrated on the validation images (``policy``) with its flag rate on the
    test split (``policy_test_flag_rate``: the held-out false-alarm rate).
    """
    x_val = validation_images(data) if false_alarm is not None else None
    outputs = detection_policy.checked_outputs  # M's outputs on each clean split: once for every approach
    m_test = outputs(models["M"], data.x_test, batch_size, "M")
    m_val = None if x_val is None else outputs(models["M"], x_val, batch_size, "M")
    out = {}
    for approach in approaches:
        name = f"{approach}_T"
        test = detection_policy.scores_from_outputs(m_test, outputs(models[approach], data.x_test, batch_size, name))
        entry = {"test_images": len(test), "paper_rule": detection_policy.PAPER.describe(),
                 "test_flag_rate": detection_policy.flag_rate(detection_policy.PAPER, test).as_dict()}
        policy = None
        if x_val is not None:
            val = detection_policy.scores_from_outputs(m_val, outputs(models[approach], x_val, batch_size, name))
            policy = detection_policy.calibrate(val, false_alarm)
            entry["policy"] = policy.as_dict()
            entry["policy_test_flag_rate"] = detection_policy.flag_rate(policy, test).as_dict()
        elif false_alarm is not None:
            entry["policy"] = None
            entry["policy_note"] = "no validation split to calibrate a detection policy on"
        out[approach] = (entry, policy)
    return out


def policy_dac(model_t, npz_path: Path, y, policy: detection_policy.DetectionPolicy, batch_size: int) -> dict:
    """DAC of a stored adversarial set under ``policy`` (T's probabilities recomputed on its ``x_adv``)."""
    from luring_tf import inference

    stored = files.read_npz(npz_path)
    t_prob = detection_policy.probabilities(inference.outputs(model_t, stored["x_adv"], batch_size))
    m_adv, t_adv = stored["m_pred"], stored["t_pred"]
    flagged = policy.flags(m_adv, t_adv, t_prob[np.arange(len(m_adv)), m_adv])
    return metrics.detection_accuracy_flagged(y, m_adv, flagged).as_dict()


def run_defense(models: dict, data, config: dict, attack: str, out_dir, force: bool = False,
                verbose: bool = True, false_alarm: float | None = DEFAULT_FALSE_ALARM) -> dict:
    """Evaluate every approach of ``models`` (``{"M": M, approach: T}``) under ``attack``.

    Returns ``{"attack", "n", "models", "cells": [...], "table": [one row per (eps, approach)], "paired"}``
    (``paired``: Luring − each baseline for AC_M and DAC per ε, paired over the evaluation set with its
    interval and verdict, :func:`luring_tf.evaluation.paired.defense_pairs`);
    for ``mim-w`` (and any grid of runs) each table row holds the lowest AC_M and the lowest DAC
    over the runs with their arg-min runs (:func:`table_row`). ``models``: the weights digests the
    cells are keyed by. Every row also holds ``clean_flag_rate`` (the paper rule's false alarms on the clean
    test split) and, with ``false_alarm`` and a validation split, ``DAC_policy`` and ``clean_flag_rate_policy``
    (:func:`false_alarms`; ``false_alarm=None``: the paper's rule only); ``false_alarms`` holds the details.
    """
    section = config["defense"]
    attack = canonical_attack(attack)
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
    if false_alarm is not None:
        false_alarm = detection_policy.check_false_alarm(false_alarm)
    clean = false_alarms(models, data, approaches, false_alarm, section["batch_size"])
    if verbose:
        for approach, (entry, policy) in clean.items():
            text = (f"clean test images flagged on {approach} (false alarms, M(x) ≠ T(x)): "
                    f"{intervals.rate_text(entry['test_flag_rate'])}")
            if policy is not None:
                text += (f"; under the policy calibrated on {policy.calibration['images']} validation images "
                         f"to {false_alarm:g}: {intervals.rate_text(entry['policy_test_flag_rate'])}")
            _log(text)
    cells, table, by_row = [], [], {}
    for eps in section["eps"]:
        for approach in approaches:
            identity = {"M": digests["M"], "T": digests[approach]}
            entry, policy = clean[approach]
            records = []
            for member, params in runs:
                name = cell_name(member, eps, params, dict(context, models=identity))
                record = run_cell(models, approach, member, params, eps, x, y, index, out_dir, name,
                                  meta, section["batch_size"], config["seed"], force, verbose, identity)
                if policy is not None:
                    npz_path = out_dir / "adversarial" / approach / f"{name}.npz"
                    record["DAC_policy"] = policy_dac(models[approach], npz_path, y, policy, section["batch_size"])
                records.append(record)
            cells.extend(records)
            row = table_row(approach, eps, records, attack)
            row["clean_flag_rate"] = entry["test_flag_rate"]
            if policy is not None:
                row["clean_flag_rate_policy"] = entry["policy_test_flag_rate"]
            table.append(row)
            by_row[eps, approach] = records
    reused = sum(1 for c in cells if c.get("reused"))
    _log(f"{len(cells)} cells: {len(cells) - reused} computed, {reused} reused from {out_dir / 'cells'}")
    pairs = paired.defense_pairs(by_row, attack, config["seed"],
                                 lambda records, metric: reported_run(records, metric, attack))
    return {"attack": attack, "n": int(len(index)), "index": index.tolist(), "models": digests,
            "cells": cells, "table": table, "paired": pairs, "false_alarm_target": false_alarm,
            "false_alarms": {approach: entry for approach, (entry, _) in clean.items()}}
