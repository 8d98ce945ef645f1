"""Rendering of characterization records: markdown tables, CSV and the Figure-2-style PNG.

Everything here reads the JSON record only (never recomputes), so results can be re-rendered.
"""

from __future__ import annotations

import csv
import io

from luring_tf import files, paper_values

NAMES = {"M": "Base (M)", "stack": "Stack", "auto": "Auto", "ce": "C-E", "luring": "Luring"}


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _l0(value) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _rate(rate: dict) -> str:
    return f"{_fmt(rate['value'])} ({rate['numerator']}/{rate['denominator']})"


def table8_markdown(dataset: str, table: dict) -> str:
    """Table 8 with the paper's values beside ours."""
    paper = paper_values.TABLE_8.get(dataset, {})
    lines = ["| model | test acc. | agree (truth) | agreement with M | paper test | paper agree |",
             "|---|---|---|---|---|---|"]
    for name, row in table.items():
        ref = paper.get(name, (None, None))
        agree = _rate(row["agreement_on_truth"]) if "agreement_on_truth" in row else "-"
        overall = _rate(row["agreement"]) if "agreement" in row else "-"
        lines.append(f"| {NAMES.get(name, name)} | {_rate(row['test_accuracy'])} | {agree} | {overall} | "
                     f"{_fmt(ref[0])} | {'-' if ref[1] is None else _fmt(ref[1])} |")
    return "\n".join(lines)


def characterization_markdown(record: dict) -> str:
    """The whole characterization report: Table 8 and DR / IAR per attack × ε × approach."""
    out = [f"# Characterization of the luring effect — {record['dataset']} ({record['profile']} profile)", "",
           f"Models: `{record['models_dir']}`; data: {record['data_source']}.", "",
           "## Table 8 — test accuracy and agreement", "",
           table8_markdown(record["dataset"], record["table8"]), "",
           "## DR and IAR (Figure 2)", "",
           f"Evaluation set: {record['characterization']['n_examples']} test images classified correctly by M "
           "and every M∘P. DR and IAR are computed over the adversarial examples that fool **every** M∘P "
           "(column *kept* = that denominator).", "",
           "| attack | ε | approach | success on M∘P | kept | DR | IAR | mean ℓ2 | mean ℓ∞ | mean ℓ0 |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for row in record["characterization"]["results"]:
        out.append(f"| {row['attack']} | {row['eps']:g} | {NAMES.get(row['approach'], row['approach'])} | "
                   f"{_rate(row['success_rate'])} | {row['kept']} | {_fmt(row['DR']['value'])} | "
                   f"{_fmt(row['IAR']['value'])} | {_fmt(row['mean_l2'])} | {_fmt(row['mean_linf'])} | "
                   f"{_l0(row['mean_l0'])} |")
    return "\n".join(out) + "\n"


def characterization_csv(record: dict) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["dataset", "attack", "eps", "approach", "success_rate", "kept", "DR", "IAR",
                     "mean_l2", "mean_linf", "mean_l0"])
    for row in record["characterization"]["results"]:
        writer.writerow([record["dataset"], row["attack"], row["eps"], row["approach"],
                         row["success_rate"]["value"], row["kept"], row["DR"]["value"], row["IAR"]["value"],
                         row["mean_l2"], row["mean_linf"], row["mean_l0"]])
    return buffer.getvalue()


def figure2(record: dict):
    """Figure 2: DR (solid) and IAR (dashed) against ε, one panel per attack, one colour per approach."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = record["characterization"]["results"]
    attacks = list(dict.fromkeys(r["attack"] for r in rows))
    approaches = list(dict.fromkeys(r["approach"] for r in rows))
    figure, axes = plt.subplots(1, len(attacks), figsize=(3.6 * len(attacks), 3.2), squeeze=False)
    for axis, attack in zip(axes[0], attacks):
        for k, approach in enumerate(approaches):
            mine = [r for r in rows if r["attack"] == attack and r["approach"] == approach]
            eps = [r["eps"] for r in mine]
            color = f"C{k}"
            axis.plot(eps, [r["DR"]["value"] for r in mine], "-o", color=color, label=f"{NAMES[approach]} DR")
            axis.plot(eps, [r["IAR"]["value"] for r in mine], "--s", color=color, label=f"{NAMES[approach]} IAR")
        axis.set_title(attack.upper())
        axis.set_xlabel("ε")
        axis.set_ylim(-0.02, 1.02)
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("rate")
    axes[0][-1].legend(fontsize=7, loc="lower left")
    figure.suptitle(f"{record['dataset']}: DR (solid) and IAR (dashed)")
    figure.tight_layout()
    return figure


def write_characterization(record: dict, out_dir) -> list:
    """Write JSON, CSV, markdown and PNG of a characterization record; returns the paths."""
    import matplotlib.pyplot as plt

    figure = figure2(record)
    paths = [files.write_json(f"{out_dir}/characterization.json", record),
             files.write_text(f"{out_dir}/characterization.csv", characterization_csv(record)),
             files.write_text(f"{out_dir}/characterization.md", characterization_markdown(record)),
             files.write_figure(f"{out_dir}/figure2.png", figure)]
    plt.close(figure)
    return paths
