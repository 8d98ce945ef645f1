"""Rendering of Tables 18 and 19 (App. H.2: luring on an adversarially trained M) beside the paper's.

Records are the JSON written by :mod:`luring_tf.cli.advtrain_table` (``tables_18_19.json``) and by
``run_characterization.py --base advtrain`` (``table18.json``); the Markdown is rendered from them
alone, so re-rendering recomputes nothing.

Table 18 rows: ``base`` (M trained classically), ``base_<approach>`` (its T = M∘P), ``advtrain``
(M trained adversarially), ``advtrain_<approach>``; each with the test accuracy and, for a T, the
paper's "agreement": the share of test images where M and T are both right (Table 8's definition,
:func:`luring_tf.evaluation.metrics.agreement_on_truth`).
"""

from __future__ import annotations

from pathlib import Path

from luring_tf.report import rates
from luring_tf.report.defense import _params
from luring_tf.report.paper_values import TABLE_18, TABLE_19
from luring_tf.storage import files

BASES = (("base", "Base"), ("advtrain", "AdvTrain"))


def _fmt(rate: dict | None, digits: int = 3) -> str:
    value = None if rate is None else rate.get("value")
    return "n/a" if value is None else f"{value:.{digits}f}"


def _paper(value) -> str:
    """A paper value as printed in the paper (0.991, 0.97, 0.898), – when absent or illegible."""
    return "–" if value is None else f"{value:g}"


def _label(key: str) -> str:
    for prefix, name in BASES:
        if key == prefix:
            return f"{name} (M)"
        if key.startswith(prefix + "_"):
            approach = key[len(prefix) + 1:]
            return f"{name}-{'Luring' if approach == 'luring' else approach}"
    return key


def table18_rows(tables: dict[str, dict]) -> dict[str, dict]:
    """Table 18 rows from characterization ``model_table`` outputs: ``{"base": table8, "advtrain": table8}``.

    Returns ``{row key: {"test_accuracy": rate, "agreement_on_truth": rate (T only)}}`` in Table 18's order.
    """
    rows = {}
    for base, _ in BASES:
        table = tables.get(base)
        if not table:
            continue
        for name, row in table.items():
            key = base if name == "M" else f"{base}_{name}"
            rows[key] = {k: row[k] for k in ("test_accuracy", "agreement_on_truth") if k in row}
    return rows


def table18_markdown(dataset: str, rows: dict, profile: str = "?") -> str:
    paper = TABLE_18.get(dataset, {})
    lines = [f"# Table 18: {dataset} ({profile} profile), test accuracy and agreement", "",
             "Agreement = share of test images where M and T = M∘P both predict the ground-truth label "
             "(the paper's definition, App. H.2 / Table 8). Each entry is *ours / paper*.", "",
             "| model | test accuracy ours / paper | agreement ours / paper | n (test) |", "|---|---|---|---|"]
    for key, row in rows.items():
        ref = paper.get(key, (None, None))
        agree = row.get("agreement_on_truth")
        lines.append(f"| {_label(key)} | {rates.text(row['test_accuracy'], counts=False)} / {_paper(ref[0])} | "
                     + ("– | " if agree is None else f"{rates.text(agree, counts=False)} / {_paper(ref[1])} | ")
                     + f"{row['test_accuracy']['denominator']} |")
    lines += ["", rates.METHOD_NOTE]
    missing = [label for base, label in BASES if base not in {k.split('_')[0] for k in rows}]
    if missing:
        lines += ["", f"No {' / '.join(missing)} models were found: train them with run_characterization.py "
                  "(--base advtrain for AdvTrain) to fill the table."]
    return "\n".join(lines) + "\n"


def table19_markdown(record: dict) -> str:
    """Table 19 layout: per ε, Base-<approach> and AdvTrain-<approach> with AC_M,wb, AC_M, DAC (ours / paper)."""
    dataset = record["dataset"]
    paper = TABLE_19.get(dataset, {})
    lines = [f"# Table 19: {dataset} ({record.get('profile', '?')} profile), MIM-W with FGSM, M trained "
             "classically (Base) or adversarially (AdvTrain)", "",
             "AC_M,wb: M's accuracy under white-box PGD on M itself "
             f"({record['white_box_params']['nb_iter']} iterations of {record['white_box_params']['eps_iter']:g}, "
             "random start in the ε-ball). AC_M and DAC: the lowest over FGSM, MIM, DIM, MIM-TI, DIM-TI runs "
             "crafted on T = M∘P and transferred to M (each minimum with its run). Each model has its own "
             "evaluation set (test images correct for its M and T; n below). Each entry is *ours / paper* "
             f"(paper: ε = {paper.get('eps', '–')}; – = not in the paper or illegible).", "",
             "| ε | model | AC_M,wb ours / paper | AC_M ours / paper | DAC ours / paper | n | worst run for AC_M | "
             "worst run for DAC |", "|---|---|---|---|---|---|---|---|"]
    for row in record["table19"]:
        on_paper = paper and abs(float(row["eps"]) - float(paper["eps"])) < 1e-9 and row["approach"] == "luring"
        ref = paper.get(row["base"], (None,) * 3) if on_paper else (None,) * 3
        cells = [f"{row['eps']:g}", _label(f"{row['base']}_{row['approach']}")]
        for i, key in enumerate(("AC_M_wb", "AC_M", "DAC")):
            cells.append(f"{rates.text(row[key], 2, counts=False)} / {_paper(ref[i])}")
        argmin = row.get("argmin") or {}
        cells += [str(row["n"])] + [_run(argmin.get(k)) for k in ("AC_M", "DAC")]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", rates.METHOD_NOTE, "", "Paper finding (App. H.2): DAC of AdvTrain-Luring > DAC of Base-Luring "
              "(point estimates; the two have their own evaluation sets, so no paired test). Here:"]
    for finding in record.get("findings", []):
        verdict = {True: "holds", False: "does not hold", None: "undefined"}[finding["holds"]]
        lines.append(f"- ε = {finding['eps']:g}, {finding['approach']}: DAC {rates.text(finding['advtrain'], 2)} (AdvTrain) "
                     f"vs {rates.text(finding['base'], 2)} (Base): {verdict}")
    return "\n".join(lines) + "\n"


def _run(summary: dict | None) -> str:
    """The attack and grid value of an arg-min run, as the defense table names it."""
    return _params(summary) if summary else ""


def dac_findings(table19: list[dict]) -> list[dict]:
    """Per (ε, approach): whether AdvTrain's DAC is above Base's (None when either is undefined)."""
    out = []
    for row in table19:
        if row["base"] != "advtrain":
            continue
        base = next((r for r in table19 if r["base"] == "base" and r["eps"] == row["eps"]
                     and r["approach"] == row["approach"]), None)
        if base is None:
            continue
        a, b = row["DAC"].get("value"), base["DAC"].get("value")
        out.append({"eps": row["eps"], "approach": row["approach"], "advtrain": row["DAC"], "base": base["DAC"],
                    "holds": None if a is None or b is None else bool(a > b)})
    return out


def write_table18(record: dict, out_dir) -> list[Path]:
    """``table18.{json,md}`` from a record ``{"dataset", "profile", "table18": rows}``."""
    out_dir = Path(out_dir)
    record = dict(record, paper_table18=TABLE_18.get(record["dataset"]))
    return [files.write_json(out_dir / "table18.json", record),
            files.write_text(out_dir / "table18.md", table18_markdown(record["dataset"], record["table18"],
                                                                      record.get("profile", "?")))]


def write_tables_18_19(record: dict, out_dir) -> list[Path]:
    """``tables_18_19.json`` (everything), ``table18.md`` and ``table19.md``."""
    out_dir = Path(out_dir)
    record = dict(record, paper_table18=TABLE_18.get(record["dataset"]), paper_table19=TABLE_19.get(record["dataset"]))
    return [files.write_json(out_dir / "tables_18_19.json", record),
            files.write_text(out_dir / "table18.md", table18_markdown(record["dataset"], record["table18"],
                                                                      record.get("profile", "?"))),
            files.write_text(out_dir / "table19.md", table19_markdown(record))]


def render(out_dir) -> str:
    """Re-render ``table18.md`` / ``table19.md`` from ``tables_18_19.json`` alone; returns both."""
    record = files.read_json(Path(out_dir) / "tables_18_19.json")
    write_tables_18_19(record, out_dir)
    return table18_markdown(record["dataset"], record["table18"], record.get("profile", "?")) + "\n" + \
        table19_markdown(record)
