"""Section 3: characterization of the luring effect (Table 8, DR and IAR of Figure 2, l0 of Figure 3).

Protocol (spec ``attacks-and-metrics.md`` §1-2): the evaluation set is a seeded draw of
``n_examples`` test images classified correctly by M and every M∘P. Each attack is run on every
M∘P separately, white-box on its logits, with label = the shared clean prediction. For each
(attack, ε) only the examples successful on **all** M∘P are kept (X'); DR and IAR are computed on
X' per approach, and the denominator |X'| is stated with each number.

Figure 3 (left/middle), spec §6: the l0 distortion of these same adversarial sets over X' -- the
exact count of changed components (the original ``metrics``'s L0) and, per the spec's port column,
the count of changed pixels (any channel). The paper shows MIM; every attack and ε is recorded.
(``run_analysis.py`` keeps CW-L2's l0 as a separate statistic of Appendix D.2.)

Resumable: each (attack, ε, approach) result is stored in ``cells/`` as an ``.npz`` holding the
predictions and distortions, keyed by the attack settings, the evaluation set and the weights
digests of M and of the approach's T (:func:`luring_tf.fingerprint.weights_digest`). A stored
cell with the same key is reused; one with another key (other settings, or models retrained since)
is recomputed with a log line and overwritten -- never read as current. A truncated cell is a
one-line error naming it; ``force`` recomputes every cell.

Every rate carries its denominator and 95 % Wilson score interval (:class:`metrics.Rate`); the mean l0 a
seeded bootstrap interval; and ``record["paired"]`` holds, per (attack, ε), Luring − each baseline for DR and
IAR paired over the kept examples (:mod:`luring_tf.evaluation.paired`: interval, McNemar, verdict). The missing ε of one attack on one T are
crafted in one pass (the evaluation set once per ε, one budget per image, in chunks of ``batch_size``
images): the graph runs on fuller batches, and each image gets what a run at its own ε gives.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from luring_tf import names

from luring_tf.data import streams
from luring_tf.storage import files
from luring_tf.evaluation import intervals, metrics, paired
from luring_tf.evaluation.adversarial import craft, predict_labels, select_examples
from luring_tf.evaluation.analysis import per_example_distortions, summary
from luring_tf.errors import UserError
from luring_tf.storage.fingerprint import weights_digest

ATTACKS = names.CHARACTERIZATION_ATTACKS  # fgsm pgd mim miml2
CELL_FORMAT = 3  # 2: keyed by the models' digests, l0_pixels stored; 3: PGD's start from the seed, ε in one pass
DISTORTIONS = ("l2", "linf", "l0", "l0_pixels")


def _log(message: str) -> None:
    print(f"[luring-tf] {message}", flush=True)


def model_table(models: dict, data, margin: float = metrics.CHANCE_MARGIN) -> dict:
    """Table 8 (Table 16 for ImageNet): test accuracy of M and each T, agreement of T with M on the truth and overall.

    The test split is read as arrays, or streamed when the data set is file- or record-backed (ImageNet).

    A model whose test accuracy is at chance level (≤ 1/K + ``margin``, K = its number of outputs)
    carries ``at_chance: true`` and a ``warning`` sentence (e.g. a luring component collapsed to a
    constant image); the others carry ``at_chance: false``.
    """
    x = data.x_test if getattr(data, "x_test", None) is not None else streams.stream(data, "test", 500)
    preds = {name: predict_labels(model, x, name=name) for name, model in models.items()}
    classes = {name: int(model.output_shape[-1]) for name, model in models.items()}
    table = {}
    for name in models:
        row = {"test_accuracy": metrics.accuracy(preds[name], data.y_test).as_dict()}
        if name != "M":
            row["agreement_on_truth"] = metrics.agreement_on_truth(preds[name], preds["M"], data.y_test).as_dict()
            row["agreement"] = metrics.agreement(preds[name], preds["M"]).as_dict()
        accuracy = row["test_accuracy"]["value"]
        row["at_chance"] = metrics.at_chance_level(accuracy, classes[name], margin)
        if row["at_chance"]:
            row["warning"] = (f"test accuracy {accuracy:.3f} is at chance level (≤ 1/{classes[name]} + {margin:g}): "
                              f"{'M' if name == 'M' else 'T = M∘P'} did not learn; retrain it (--retrain) before "
                              "reading its results")
            _log(f"WARNING: {name}: {row['warning']}")
        table[name] = row
    return table


def distortions(x: np.ndarray, x_adv: np.ndarray) -> dict[str, np.ndarray]:
    """Per-example l2, l-inf, l0 (changed components, exact) and l0_pixels (pixels with a changed channel)."""
    per = per_example_distortions(x, x_adv)
    return {key: per[key] for key in DISTORTIONS}


def _stored(path: Path, key: str):
    """The cell at ``path`` when it holds ``key``, else None (a truncated cell: one-line error, --force recomputes it)."""
    if path.exists():
        stored = files.read_npz(path)
        if "params" in stored and str(stored["params"]) == key:
            return stored
    return None


def _attack_cells(attack: str, eps_list: list, params: dict, model, classifier, x, y, approach: str,
                  batch_size: int, seed: int, verbose: bool) -> list[dict]:
    """The cells of ``attack`` at each ε of ``eps_list`` on ``approach``'s T (``model``), crafted in one pass: the
    evaluation set once per ε, each copy with its own budget (the gradient attacks take one ε per image), in
    chunks of ``batch_size`` images; the adversarial examples judged by T and M. One dict per ε."""
    start, n = time.time(), len(x)
    eps_per_image = np.repeat(np.asarray(eps_list, np.float32), n)
    x_adv, info = craft(attack, model, np.concatenate([x] * len(eps_list)), np.concatenate([y] * len(eps_list)),
                        eps_per_image, params, batch_size, seed, verbose, name=f"{approach}_T")
    t_adv = predict_labels(model, x_adv, name=f"{approach}_T")
    m_adv = predict_labels(classifier, x_adv, name="M")
    _log(f"{attack} eps={','.join(f'{e:g}' for e in eps_list)} on {approach}: {time.time() - start:.1f}s")
    return [dict(t_adv=t_adv[i * n:(i + 1) * n], m_adv=m_adv[i * n:(i + 1) * n],
                 iterations=np.array(info["iterations"]), **distortions(x, x_adv[i * n:(i + 1) * n]))
            for i in range(len(eps_list))]


def cells_task(approach: str, models: dict, cells: list, x, y, batch_size: int, seed: int, verbose: bool) -> dict:
    """Compute and store ``cells`` ((attack, eps, params, path, key) tuples) of ``approach`` with the run's
    ``models`` (``{"M": M, approach: T, ...}``), every ε of an attack in one pass; returns ``{path: cell}``.
    Run in a task thread (:mod:`luring_tf.workers`) or in the caller's."""
    by_attack: dict = {}
    for attack, eps, params, path, key in cells:  # (one section: one params per attack)
        by_attack.setdefault(attack, []).append((eps, params, path, key))
    computed = {}
    for attack, group in by_attack.items():
        results = _attack_cells(attack, [eps for eps, *_ in group], group[0][1], models[approach], models["M"], x, y,
                                approach, batch_size, seed, verbose)
        for (eps, _, path, key), result in zip(group, results):
            if Path(path).exists():
                _log(f"{path} holds {attack} eps={eps:g} on {approach} for other models or settings: recomputing it")
            files.write_npz(path, params=np.array(key), **result)
            computed[str(path)] = result
    return computed


def _every_cell(cells: dict, models: dict, x, y, section: dict, seed: int, out_dir: Path, verbose: bool,
                workers=None) -> dict:
    """``{(attack, eps, approach): cell}``: the stored cells read once, the others computed (and stored), one
    task per approach (its attack graphs are built once): in ``workers``' threads when given, else here."""
    found, per_approach = {}, {}
    for name, (path, key, params) in cells.items():
        found[name] = _stored(path, key)
        if found[name] is None:
            per_approach.setdefault(name[2], []).append((name[0], name[1], params, str(path), key))
    computed = {}
    if per_approach and workers is None:
        for approach, todo in per_approach.items():
            computed.update(cells_task(approach, models, todo, x, y, section["batch_size"], seed, verbose))
    elif per_approach:
        log_dir = out_dir / "logs"
        _log(f"attacking {', '.join(per_approach)} in {workers.jobs} threads (their output: {log_dir}/<approach>.log)")
        tasks = [(f"attacks_{approach}", cells_task, (approach, models, todo, x, y, section["batch_size"], seed,
                                                      verbose), ())
                 for approach, todo in per_approach.items()]
        results = workers.run(tasks, log_dir, lambda name, done, seconds: _log(
            f"{name.split('_', 1)[1]}: {len(done)} attack cells in {seconds:.0f} s"))
        for done in results.values():
            computed.update(done)
    return {name: cell if cell is not None else computed[str(cells[name][0])] for name, cell in found.items()}


def _l0_highest(rows: list[dict], field: str):
    """Whether Luring's mean of ``field`` is the highest of the approaches (None when undefined)."""
    means = {r["approach"]: r[field] for r in rows if r[field] is not None}
    if "luring" not in means or len(means) < 2:
        return None
    return bool(means["luring"] == max(means.values()))


def characterize(models: dict, data, config: dict, out_dir, force: bool = False, verbose: bool = True, *,
                 workers=None) -> dict:
    """Run the characterization; returns the JSON-ready record (also written by the caller).

    ``workers`` (a :class:`luring_tf.workers.Workers`): the cells not stored yet are computed in its threads
    first, one approach per task, on these ``models``.
    """
    section = config["characterization"]
    approaches = [name for name in models if name != "M"]
    cells_dir = Path(out_dir) / "cells"
    index = select_examples(models, data.x_test, data.y_test, section["n_examples"], config["seed"])
    x, y = data.x_test[index], data.y_test[index]
    _log(f"evaluation set: {len(index)} test images correct for M and {', '.join(approaches)}")
    digests = {name: weights_digest(model) for name, model in models.items()}
    record = {"n_examples": int(len(index)), "index": index.tolist(), "models": digests, "results": [],
              "figure3": [], "paired": []}
    cells = {}
    for attack in section["attacks"]:
        params = section["attacks"][attack] or {}
        for eps in section["eps"]:
            for approach in approaches:
                path = cells_dir / f"{attack}_eps{eps:g}_{approach}.npz"
                key = json.dumps({"attack": attack, "eps": eps, "params": params, "index": index.tolist(),
                                  "models": {"M": digests["M"], "T": digests[approach]}, "format": CELL_FORMAT},
                                 sort_keys=True)
                if force and path.exists():
                    path.unlink()
                cells[attack, eps, approach] = (path, key, params)
    stored = _every_cell(cells, models, x, y, section, config["seed"], Path(out_dir), verbose, workers)
    for attack in section["attacks"]:
        for eps in section["eps"]:
            success, preds = {}, {}
            for approach in approaches:
                path = cells[attack, eps, approach][0]
                cell = stored[attack, eps, approach]
                missing = [k for k in ("t_adv", "m_adv", *DISTORTIONS) if k not in cell]
                if missing:
                    raise UserError(f"result file {path} lacks {', '.join(missing)}: rerun with --force to "
                                    "recompute it")
                preds[approach] = cell
                success[approach] = cell["t_adv"] != y
            kept = np.logical_and.reduce([success[a] for a in approaches])
            rows = []
            for approach in approaches:
                cell = preds[approach]
                l0 = {key: dict(summary(cell[field][kept]),
                                mean_interval=list(intervals.mean_interval(cell[field][kept], seed=config["seed"])))
                      for key, field in (("components", "l0"), ("pixels", "l0_pixels"))}
                rows.append({
                    "attack": attack, "eps": eps, "approach": approach,
                    "success_rate": metrics.Rate(int(success[approach].sum()), len(y)).as_dict(),
                    "kept": int(kept.sum()),
                    "DR": metrics.disagreement_rate(y[kept], cell["t_adv"][kept], cell["m_adv"][kept]).as_dict(),
                    "IAR": metrics.inefficient_adversarial_rate(
                        y[kept], cell["t_adv"][kept], cell["m_adv"][kept]).as_dict(),
                    "mean_l2": float(cell["l2"][kept].mean()) if kept.any() else None,
                    "mean_linf": float(cell["linf"][kept].mean()) if kept.any() else None,
                    "mean_l0": l0["components"]["mean"],
                    "mean_l0_pixels": l0["pixels"]["mean"],
                    "l0": l0,
                })
            record["results"].extend(rows)
            record["paired"].extend(paired.characterization_pairs(
                attack, eps, y[kept], {a: (preds[a]["t_adv"][kept], preds[a]["m_adv"][kept]) for a in approaches},
                config["seed"]))
            record["figure3"].append({"attack": attack, "eps": eps, "kept": int(kept.sum()),
                                      "luring_l0_highest": _l0_highest(rows, "mean_l0"),
                                      "luring_l0_pixels_highest": _l0_highest(rows, "mean_l0_pixels")})
            _log(f"{attack} eps={eps:g}: {int(kept.sum())}/{len(y)} adversarial examples fool every M∘P")
    return record
