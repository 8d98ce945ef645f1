"""Rendering of the defense results: JSON summary and a markdown table beside the paper's values."""

from __future__ import annotations

from pathlib import Path

from luring_tf import files
from luring_tf.paper_values import DEFENSE, DEFENSE_TABLE

METRICS = (("AC_MoP", "AC_M∘P"), ("AC_M", "AC_M"), ("DAC", "DAC"))


def paper_value(dataset: str, attack: str, eps: float, approach: str):
    """The paper's (AC_M∘P, AC_M, DAC) for a cell, or None where the paper has no such cell."""
    by_eps = DEFENSE.get(dataset, {}).get(attack, {})
    for key, row in by_eps.items():
        if abs(float(key) - float(eps)) < 1e-9:
            return row.get(approach)
    return None


def _fmt(rate: dict | None) -> str:
    value = None if rate is None else rate.get("value")
    return "n/a" if value is None else f"{value:.2f}"


def _paper(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def _params(winner: dict) -> str:
    params = winner["params"]
    shown = {k: params[k] for k in ("p", "kernel_size") if k in params}
    return winner["attack"] + ("" if not shown else " " + ", ".join(f"{k}={v}" for k, v in shown.items()))


def defense_markdown(record: dict) -> str:
    """Table 1 / Table 14 layout: per ε and approach, "ours / paper" for AC_M∘P, AC_M and DAC."""
    dataset, attack = record["dataset"], record["attack"]
    table_name = DEFENSE_TABLE.get(dataset, "the paper")
    paper_attack = attack if attack in ("spsa", "eco", "mim-w") else None
    has_winner = any("winner" in row for row in record["table"])
    lines = [f"# Defense: {attack} on {dataset} ({record.get('profile', '?')} profile)", "",
             f"Adversarial examples crafted on T = M∘P of each approach over **n = {record['n']}** test images "
             f"classified correctly by M and every M∘P (the denominator of every rate; the paper uses 1000), "
             f"transferred to M. Each entry is *ours / paper* (paper: {table_name}"
             + ("" if paper_attack else f", which has no {attack} row") + "; – = not in the paper or "
             "illegible in its text).", ""]
    header = ["ε", "approach", *[f"{label} ours / paper" for _, label in METRICS], "n"]
    if has_winner:
        header.append("worst run (lowest AC_M, ties lowest DAC)")
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in record["table"]:
        paper = paper_value(dataset, paper_attack, row["eps"], row["approach"]) if paper_attack else None
        cells = [f"{row['eps']:g}", row["approach"]]
        for i, (key, _) in enumerate(METRICS):
            cells.append(f"{_fmt(row[key])} / {_paper(None if paper is None else paper[i])}")
        cells.append(str(row["n"]))
        if has_winner:
            cells.append(_params(row["winner"]) if "winner" in row else "")
        lines.append("| " + " | ".join(cells) + " |")
    if attack == "mim-w":
        lines += ["", "MIM-W = the worst case over MIM, DIM (p grid), MIM-TI and DIM-TI (kernel-size grids); "
                  "compare the winning parameters with the paper's Tables 11–13."]
    return "\n".join(lines) + "\n"


def write_defense(record: dict, out_dir) -> list[Path]:
    """``defense_<attack>.json`` (summary, cells included) and ``defense_<attack>.md``."""
    out_dir = Path(out_dir)
    stem = f"defense_{record['attack']}"
    summary = {k: v for k, v in record.items()}
    summary["cells"] = [{k: v for k, v in cell.items() if k != "reused"} for cell in record["cells"]]
    for row in summary["table"]:
        paper = paper_value(record["dataset"], record["attack"], row["eps"], row["approach"])
        row["paper"] = None if paper is None else dict(zip(("AC_MoP", "AC_M", "DAC"), paper))
    summary["paper_table"] = DEFENSE_TABLE.get(record["dataset"])
    return [files.write_json(out_dir / f"{stem}.json", summary),
            files.write_text(out_dir / f"{stem}.md", defense_markdown(record))]
