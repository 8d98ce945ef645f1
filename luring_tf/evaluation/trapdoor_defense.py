"""Table 20 (App. I): a trapdoored model as the public model, in place of T = M∘P.

The threat model is Section 4's: the adversary crafts untargeted examples on the public model --
here the trapdoored model trained from M (:mod:`luring_tf.defenses.trapdoor`) -- and transfers them
to M. The cells are the defense cells of :func:`luring_tf.evaluation.defense.run_defense` with the
trapdoored model as the approach ``trapdoor`` (same attacks, same resumable files keyed by the
models' weights digests), so:

* **AC_M∘P** is the trapdoored model's accuracy on its own adversarial examples (Table 20's
  first column for the trapdoor row), **AC_M** M's accuracy on them;
* **DAC** is Eq. 4 with the trapdoored model in place of M∘P -- an example counts as handled when
  M is right or M and the public model disagree (reading (A) of spec ``trapdoor.md`` §5, the
  paper's detection scheme);
* **DAC signature** is the same count with the trapdoor's own neuron-signature test
  (:mod:`luring_tf.defenses.signature_detector`, 5 % false positives on clean images) as the alarm
  (reading (B)), with its realised false-positive rate on the clean test images.

The evaluation set holds test images classified correctly by M and by every public model (the
trapdoored model, and M∘P of the approaches asked for beside it). The worst case over the runs of
MIM-W (FGSM, MIM, DIM, MIM-TI, DIM-TI: Table 20 includes FGSM) is the per-metric minimum of
:func:`~luring_tf.evaluation.defense.worst_per_metric`, also for the signature DAC. Signature
results are stored per cell in ``<out>/signature/<cell>.json`` (keyed by the detector), the clean
false-positive rate in ``<out>/signature/clean_fpr-<key>.json``: a rerun recomputes nothing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from luring_tf.defenses import signature_detector
from luring_tf.evaluation import metrics
from luring_tf.evaluation.defense import run_defense, run_summary, worst_per_metric
from luring_tf.storage import files

APPROACH = "trapdoor"


def signature_cell(cell: dict, model, detector, out_dir: Path, force: bool = False) -> dict:
    """The signature test on one stored adversarial set: ``{"DAC_signature", "flagged", "flagged_fooling_M"}``.

    Labels for the signatures: the trapdoored model's predictions on x', stored with the set.
    """
    npz_path = Path(cell["adversarial_set"])
    path = out_dir / "signature" / f"{npz_path.stem}.json"
    identity = {"T": cell["models"]["T"], "detector": detector.key}
    if path.exists() and not force:
        stored = files.read_json(path)
        if stored.get("identity") == identity:
            return stored
    stored = files.read_npz(npz_path)
    flags = detector.flag(model, stored["x_adv"], labels=stored["t_pred"])
    fooled = stored["m_pred"] != stored["y"]
    record = {"identity": identity,
              "DAC_signature": signature_detector.detection_accuracy(stored["y"], stored["m_pred"], flags).as_dict(),
              "flagged": metrics.Rate(int(flags.sum()), int(len(flags))).as_dict(),
              "flagged_fooling_M": metrics.Rate(int((flags & fooled).sum()), int(fooled.sum())).as_dict()}
    files.write_json(path, record)
    return record


def clean_false_positives(model, detector, x_clean, out_dir: Path, force: bool = False) -> dict:
    """The detector's false-positive rate on clean images ``x_clean`` (stored, keyed by detector and images)."""
    digest = hashlib.sha1(np.ascontiguousarray(x_clean).tobytes()).hexdigest()[:12]
    path = out_dir / "signature" / f"clean_fpr-{detector.key}-{digest}.json"
    if path.exists() and not force:
        return files.read_json(path)
    record = signature_detector.false_positive_rate(detector, model, x_clean).as_dict()
    files.write_json(path, record)
    return record


def run_trapdoor_defense(models: dict, detector, data, config: dict, attack: str, out_dir, force: bool = False,
                         verbose: bool = True) -> dict:
    """Table 20: ``models`` = ``{"M": M, "trapdoor": trapdoored model, approach: T = M∘P ...}``.

    Returns :func:`run_defense`'s record with ``DAC_signature`` (and its arg-min run) in the
    trapdoor rows and cells, and ``detector``: its layer, nominal and realised clean false-positive
    rates and per-label thresholds.
    """
    out_dir = Path(out_dir)
    record = run_defense(models, data, config, attack, out_dir, force, verbose)
    model = models[APPROACH]
    for cell in record["cells"]:
        if cell["approach"] == APPROACH:
            cell.update({k: v for k, v in signature_cell(cell, model, detector, out_dir, force).items()
                         if k != "identity"})
    for row in record["table"]:
        if row["approach"] != APPROACH:
            continue
        runs = [c for c in record["cells"] if c["approach"] == APPROACH and c["eps"] == row["eps"]]
        worst = worst_per_metric([dict(c, DAC=c["DAC_signature"]) for c in runs])["DAC"]
        row["DAC_signature"] = worst["DAC"]
        row.setdefault("argmin", {})["DAC_signature"] = run_summary(worst)
    record["detector"] = {
        "layer": signature_detector.signature_layer(model).name + " input (the last hidden layer)",
        "fpr": detector.fpr, "clean_test_fpr": clean_false_positives(model, detector, data.x_test, out_dir, force),
        "thresholds": [round(float(t), 4) for t in detector.thresholds]}
    return record
