"""Rendering of Table 20 (App. I): the trapdoored public model beside the paper's, JSON and Markdown."""

from __future__ import annotations

from pathlib import Path

from luring_tf.report import rates
from luring_tf.report.defense import _paper, _params
from luring_tf.report.paper_values import TABLE_20
from luring_tf.storage import files

METRICS = ("AC_MoP", "AC_M", "DAC")


def paper_value(dataset: str, eps: float, public: str):
    """The paper's Table 20 (AC_M∘P, AC_M, DAC) of a public model ("trapdoor" or "luring"), or None."""
    for key, row in TABLE_20.get(dataset, {}).items():
        if abs(float(key) - float(eps)) < 1e-9:
            return row.get(public)
    return None


def _value(rate):
    return None if rate is None else rate.get("value")


def weak_transfer(row: dict) -> bool | None:
    """The paper's finding for a trapdoor row: AC_M above AC_M∘P (examples crafted on it transfer weakly to M)."""
    ac_m, ac_mop = _value(row.get("AC_M")), _value(row.get("AC_MoP"))
    return None if ac_m is None or ac_mop is None else ac_m > ac_mop


def table20_markdown(record: dict) -> str:
    """Per ε and public model: "ours / paper" for AC_M∘P, AC_M, DAC, then the signature DAC (ours only)."""
    dataset, attack = record["dataset"], record["attack"]
    paper_shown = attack == "mim-w"
    det = record["detector"]
    fpr = det["clean_test_fpr"]
    lines = [f"# Table 20: trapdoored public model, {attack} on {dataset} ({record.get('profile', '?')} profile)", "",
             f"Adversarial examples crafted on the public model -- the trapdoored model trained from M "
             f"(`trapdoor`) or T = M∘P -- over **n = {record['n']}** test images classified correctly by M and "
             "every public model, transferred to M. AC_M∘P is the public model's own accuracy; DAC counts an "
             "example as handled when M is right or M and the public model disagree (Eq. 4); DAC signature "
             "replaces the disagreement by the trapdoor's neuron-signature test. Entries are *ours / paper* "
             f"(paper: Table 20{'' if paper_shown else f', which has no {attack} row'}; – = not in the paper or "
             "illegible in its text).", ""]
    header = ["ε", "public model", "AC_M∘P ours / paper", "AC_M ours / paper", "DAC ours / paper",
              "DAC signature (ours)", "n", "runs", "worst run for AC_M", "worst run for DAC",
              "worst run for DAC signature"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in record["table"]:
        paper = paper_value(dataset, row["eps"], row["approach"]) if paper_shown else None
        cells = [f"{row['eps']:g}", row["approach"]]
        cells += [f"{rates.text(row[key], 2, counts=False)} / {_paper(None if paper is None else paper[i])}"
                  for i, key in enumerate(METRICS)]
        cells += [rates.text(row.get("DAC_signature"), 2, counts=False) if "DAC_signature" in row else "–",
                  str(row["n"]),
                  str(row.get("runs", 1))]
        argmin = row.get("argmin") or {}
        cells += [_params(argmin[k]) if k in argmin else "" for k in ("AC_M", "DAC", "DAC_signature")]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Worst case over the runs ({'FGSM, MIM, DIM, MIM-TI, DIM-TI' if attack == 'mim-w' else attack}), "
              "per metric: each of AC_M, DAC and DAC signature is its lowest value over the runs, reached by the run "
              "named beside it; AC_M∘P is the lowest-AC_M run's.",
              "", f"Signature detector: features at the {det['layer']}, threshold per predicted label at "
              f"{100 * det['fpr']:g} % false positives on clean validation images; realised false-positive rate on "
              f"{fpr['denominator']} clean test images: {rates.text(fpr, 2)}.", "", rates.METHOD_NOTE]
    verdicts = [(row["eps"], weak_transfer(row)) for row in record["table"] if row["approach"] == "trapdoor"]
    if verdicts:
        holds = all(v for _, v in verdicts if v is not None)
        lines += ["", "Paper's finding, transfer from the trapdoored model to M is weak (AC_M above AC_M∘P): "
                  + ", ".join(f"ε = {e:g} {'yes' if v else 'no' if v is not None else 'n/a'}" for e, v in verdicts)
                  + f" -- {'holds' if holds else 'does not hold'} here."]
    return "\n".join(lines) + "\n"


def write_table20(record: dict, out_dir) -> list[Path]:
    """``trapdoor_<attack>.json`` (summary, cells included, paper values beside) and ``trapdoor_<attack>.md``."""
    out_dir = Path(out_dir)
    stem = f"trapdoor_{record['attack']}"
    summary = dict(record)
    summary["cells"] = [{k: v for k, v in cell.items() if k != "reused"} for cell in record["cells"]]
    summary["table"] = [dict(row) for row in record["table"]]
    for row in summary["table"]:
        paper = paper_value(record["dataset"], row["eps"], row["approach"]) if record["attack"] == "mim-w" else None
        row["paper"] = None if paper is None else dict(zip(METRICS, paper))
        if row["approach"] == "trapdoor":
            row["weak_transfer"] = weak_transfer(row)
    summary["paper_table"] = "Table 20"
    return [files.write_json(out_dir / f"{stem}.json", summary),
            files.write_text(out_dir / f"{stem}.md", table20_markdown(record))]
