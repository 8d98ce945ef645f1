"""Rendering of the defense results: JSON summary, a markdown table beside the paper's values (every rate with
its 95 % Wilson interval; the paired comparisons Luring − baseline with their verdicts) and a figure
(:mod:`luring_tf.report.defense_figure`)."""

from __future__ import annotations

from pathlib import Path

from luring_tf.names import canonical_attack
from luring_tf.evaluation import intervals
from luring_tf.storage import files
from luring_tf.report import rates
from luring_tf.report.paper_values import DEFENSE, DEFENSE_TABLE

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


def _params(run: dict) -> str:
    params = run["params"]
    shown = {k: params[k] for k in ("p", "kernel_size") if k in params}
    return canonical_attack(run["attack"]) + ("" if not shown else " " + ", ".join(f"{k}={v}" for k, v in shown.items()))


def _grid_value(key: str, value) -> str:
    return f"{value}×{value}" if key == "kernel_size" else f"{value}"


def grid_table(record: dict) -> list[str]:
    """Tables 11-13 layout: per gridded attack and approach, the grid value at the lowest AC_M / lowest DAC per ε."""
    rows = [r for r in record["table"] if r.get("grid_argmin")]
    if not rows:
        return []
    eps_list = list(dict.fromkeys(r["eps"] for r in rows))
    attacks = list(dict.fromkeys(a for r in rows for a in r["grid_argmin"]))
    lines = ["", "Grid value of each gridded attack at its lowest AC_M / at its lowest DAC (one value when both "
             "agree), the layout of the paper's Tables 11–13 (kernel sizes; the paper reports DIM's p in App. F.2):",
             "", "| attack | approach | " + " | ".join(f"ε = {e:g}" for e in eps_list) + " |",
             "|---|---|" + "---|" * len(eps_list)]
    for attack in attacks:
        for approach in dict.fromkeys(r["approach"] for r in rows):
            cells = []
            for eps in eps_list:
                found = [r for r in rows if r["approach"] == approach and r["eps"] == eps and attack in r["grid_argmin"]]
                if not found:
                    cells.append("–")
                    continue
                g = found[0]["grid_argmin"][attack]
                a, d = _grid_value(g["grid"], g["AC_M"]), _grid_value(g["grid"], g["DAC"])
                cells.append(a if a == d else f"{a} / {d}")
            if any(c != "–" for c in cells):
                lines.append(f"| {attack} | {approach} | " + " | ".join(cells) + " |")
    return lines


def false_alarm_lines(record: dict) -> list[str]:
    """What the detection scheme costs on clean images, per approach, and the calibrated policy's DAC."""
    alarms = record.get("false_alarms")
    if not alarms:
        return []
    lines = ["", "**False alarms on clean images** (not in the paper): the detection scheme flags x when "
             "M(x) ≠ T(x), so every flag on a clean image is a false alarm. The evaluation set above is flag-free "
             "by construction (M and every T are correct on it); the rates below are over the whole clean test "
             f"split, with their denominator and {intervals.method_name()} interval.", ""]
    target = record.get("false_alarm_target")
    for approach, entry in alarms.items():
        text = f"- {approach}: the paper's rule flags {intervals.rate_text(entry['test_flag_rate'])} clean test images"
        policy = entry.get("policy")
        if policy:
            cal = policy["calibration"]
            text += (f"; the confidence policy ({policy['description']}) flags "
                     f"{intervals.rate_text(cal['flag_rate'])} of the validation images it was calibrated on and "
                     f"{intervals.rate_text(entry['policy_test_flag_rate'])} held-out clean test images")
        elif entry.get("policy_note"):
            text += f" (no calibrated policy: {entry['policy_note']})"
        lines.append(text + ".")
    if target is not None and any(e.get("policy") for e in alarms.values()):
        lines.append(f"- DAC, policy: the DAC of the same adversarial sets when only the policy's flags count "
                     f"(target false-alarm rate {target:g}); DAC is the paper's rule's. The policy only removes "
                     "flags, so DAC, policy ≤ DAC.")
    return lines


def defense_markdown(record: dict) -> str:
    """Table 1 / Table 14 layout: per ε and approach, "ours / paper" for AC_M∘P, AC_M and DAC.

    With several runs per (ε, approach) (MIM-W, or a grid), AC_M and DAC are each the minimum over
    the runs and the two arg-min runs are named beside them; AC_M∘P is the AC_M arg-min run's.
    """
    dataset, attack = record["dataset"], record["attack"]
    table_name = DEFENSE_TABLE.get(dataset, "the paper")
    paper_attack = attack if attack in ("spsa", "eco", "mim-w") else None
    has_argmin = any("argmin" in row for row in record["table"])
    has_policy = any("DAC_policy" in row for row in record["table"])
    has_flags = any("clean_flag_rate" in row for row in record["table"])
    lines = [f"# Defense: {attack} on {dataset} ({record.get('profile', '?')} profile)", "",
             f"Adversarial examples crafted on T = M∘P of each approach over **n = {record['n']}** test images "
             f"classified correctly by M and every M∘P (the denominator of every rate; the paper uses 1000), "
             f"transferred to M. Each entry is *ours / paper* (paper: {table_name}"
             + ("" if paper_attack else f", which has no {attack} row") + "; – = not in the paper or "
             "illegible in its text).", ""]
    lines += [*record.get("notes", []), ""] if record.get("notes") else []
    header = ["ε", "approach", *[f"{label} ours / paper" for _, label in METRICS], "n"]
    header += ["DAC, policy"] if has_policy else []
    header += ["clean flag rate [95 % CI]"] if has_flags else []
    if has_argmin:
        header += ["runs", "worst run for AC_M (lowest AC_M)", "worst run for DAC (lowest DAC)"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in record["table"]:
        paper = paper_value(dataset, paper_attack, row["eps"], row["approach"]) if paper_attack else None
        cells = [f"{row['eps']:g}", row["approach"]]
        for i, (key, _) in enumerate(METRICS):
            cells.append(f"{rates.text(row[key], digits=2, counts=False)} / {_paper(None if paper is None else paper[i])}")
        cells.append(str(row["n"]))
        if has_policy:
            cells.append(_fmt(row.get("DAC_policy")))
        if has_flags:
            cells.append(rates.text(row.get("clean_flag_rate")))
        if has_argmin:
            argmin = row.get("argmin")
            cells += ([str(row["runs"]), _params(argmin["AC_M"]), _params(argmin["DAC"])] if argmin else
                      ["1", "", ""])
        lines.append("| " + " | ".join(cells) + " |")
    if has_argmin:
        pool = ("MIM, DIM (p grid), MIM-TI and DIM-TI (kernel-size grids)" if attack == "mim-w"
                else f"the {attack} grid")
        lines += ["", f"Worst case over {pool}, per metric as in the paper (App. F, §4.3): AC_M is the lowest AC_M "
                  "over the runs and DAC the lowest DAC, each reached by the run named beside it (they may differ); "
                  "AC_M∘P is the one of the lowest-AC_M run (reported alongside, not minimised). Every run's cell "
                  "is in the JSON record."]
        lines += grid_table(record)
    lines += false_alarm_lines(record)
    lines += ["", rates.METHOD_NOTE + " Figure: " + f"defense_{attack}.png."]
    if record.get("paired"):
        lines += ["", "## Paired comparisons: Luring − each baseline (AC_M and DAC over the same evaluation set)",
                  "", "The paper's Table 1 / 14 finding is that Luring has the highest AC_M and DAC. Per ε, the "
                  "reported run of each approach (its MIM-W arg-min for that metric) on the same clean images:", ""]
        lines += rates.paired_markdown(record["paired"], digits=2)
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
    from luring_tf.report.defense_figure import write_defense_figure

    return [files.write_json(out_dir / f"{stem}.json", summary),
            files.write_text(out_dir / f"{stem}.md", defense_markdown(record)),
            *write_defense_figure(record, out_dir / f"{stem}.png")]
