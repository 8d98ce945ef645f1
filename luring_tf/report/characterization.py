"""Rendering of characterization records: markdown tables, CSV, Figure 2 (DR / IAR) and Figure 3's l0 PNGs.

Everything here reads the JSON record only (never recomputes), so results can be re-rendered.
Every rate is shown with its denominator and 95 % Wilson score interval (:mod:`luring_tf.report.rates`;
computed from the counts for records written before intervals existed), Figure 2 draws those intervals as
error bars, Figure 3 the bootstrap interval of each mean l0, and the paired comparisons Luring − baseline
(``record["characterization"]["paired"]``) get their own table with a verdict per row.
Figure 3 (left/middle) is drawn from the characterization attacks' l0 (spec §6): box plots per
approach for every attack and ε (the paper shows MIM), over the examples kept for DR / IAR.
"""

from __future__ import annotations

import csv
import io

import numpy as np

from luring_tf.storage import files
from luring_tf.report import paper_values, rates

NAMES = {"M": "Base (M)", "stack": "Stack", "auto": "Auto", "ce": "C-E", "luring": "Luring"}


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _l0(value) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _rate(rate: dict) -> str:
    """``value [low, high] (numerator/denominator)``: the 95 % Wilson interval and the denominator."""
    return rates.text(rate)


def _nudge(eps: list) -> float:
    """A small offset along ε (2.5 % of the smallest gap, or of ε) to draw the approaches' error bars side by side."""
    values = sorted(set(eps))
    gaps = [b - a for a, b in zip(values, values[1:])]
    return 0.025 * (min(gaps) if gaps else (values[0] or 1.0))


def table_name(dataset: str) -> str:
    """The paper's table of test accuracy and agreement for ``dataset``: Table 8, or Table 16 for ImageNet."""
    return paper_values.MODEL_TABLE_NAMES.get(dataset, "Table 8")


def table8_markdown(dataset: str, table: dict) -> str:
    """Table 8 (16) with the paper's values beside ours; a model at chance level is flagged in its row and below."""
    paper = paper_values.MODEL_TABLES.get(dataset, {})
    lines = ["| model | test acc. | agree (truth) | agreement with M | paper test | paper agree |",
             "|---|---|---|---|---|---|"]
    warnings = []
    for name, row in table.items():
        ref = paper.get(name, (None, None))
        agree = _rate(row["agreement_on_truth"]) if "agreement_on_truth" in row else "-"
        overall = _rate(row["agreement"]) if "agreement" in row else "-"
        flag = " ⚠ **at chance level**" if row.get("at_chance") else ""
        if row.get("at_chance"):
            warnings.append(f"**Warning — {NAMES.get(name, name)}:** {row['warning']}.")
        lines.append(f"| {NAMES.get(name, name)} | {_rate(row['test_accuracy'])}{flag} | {agree} | {overall} | "
                     f"{_fmt(ref[0])} | {'-' if ref[1] is None else _fmt(ref[1])} |")
    lines += ["", rates.METHOD_NOTE]
    if warnings:
        lines += [""] + warnings
    return "\n".join(lines)


def figure3_markdown(record: dict) -> list[str]:
    """Figure 3 (left/middle) as a table: l0 of the kept adversarial examples per attack, ε and approach."""
    rows = [r for r in record["characterization"]["results"] if "l0" in r]
    if not rows:
        return []
    out = ["## l0 distortion (Figure 3 left/middle)", "",
           "l0 of the same adversarial examples as DR / IAR (those fooling every M∘P; n = *kept*): the exact count of "
           "changed components (the original code's L0) and of changed pixels (any channel; equal on grey-scale "
           "images). The paper's Figure 3 shows MIM. Box plots: figure3_l0.png.", "",
           "| attack | ε | approach | kept | mean ℓ0 (components) [95 % bootstrap interval] | median | q1–q3 | "
           "mean ℓ0 (pixels) |",
           "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        c = row["l0"]["components"]
        spread = "n/a" if c["q1"] is None else f"{c['q1']:.0f}–{c['q3']:.0f}"
        mean = _l0(c["mean"]) + ("" if not c.get("mean_interval") or c["mean_interval"][0] is None else
                                 f" [{_l0(c['mean_interval'][0])}, {_l0(c['mean_interval'][1])}]")
        out.append(f"| {row['attack']} | {row['eps']:g} | {NAMES.get(row['approach'], row['approach'])} | "
                   f"{row['kept']} | {mean} | {_l0(c['median'])} | {spread} | "
                   f"{_l0(row['l0']['pixels']['mean'])} |")
    verdicts = record["characterization"].get("figure3", [])
    if verdicts:
        word = {True: "yes", False: "no", None: "n/a"}
        out += ["", "Is Luring's mean ℓ0 the highest of the approaches (the paper's Figure 3 finding on MNIST)? "
                "components / pixels:", ""]
        out += [f"- {v['attack']} ε={v['eps']:g} (n = {v['kept']}): {word[v['luring_l0_highest']]} / "
                f"{word[v['luring_l0_pixels_highest']]}" for v in verdicts]
    return out


def characterization_markdown(record: dict) -> str:
    """The whole characterization report: Table 8 (16) and DR / IAR per attack × ε × approach (when run)."""
    out = [f"# Characterization of the luring effect — {record['dataset']} ({record['profile']} profile)", "",
           f"Models: `{record['models_dir']}`; data: {record['data_source']}.", "",
           f"## {table_name(record['dataset'])} — test accuracy and agreement", "",
           table8_markdown(record["dataset"], record["table8"]), ""]
    skipped = record["characterization"].get("skipped")
    if skipped:
        return "\n".join(out + [f"DR and IAR (Figure 2): not computed -- {skipped}."]) + "\n"
    out += ["## DR and IAR (Figure 2)", "",
            f"Evaluation set: {record['characterization']['n_examples']} test images classified correctly by M "
            "and every M∘P. DR and IAR are computed over the adversarial examples that fool **every** M∘P "
            "(column *kept* = that denominator). " + rates.METHOD_NOTE, "",
            "| attack | ε | approach | success on M∘P | kept | DR | IAR | mean ℓ2 | mean ℓ∞ | mean ℓ0 |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for row in record["characterization"]["results"]:
        out.append(f"| {row['attack']} | {row['eps']:g} | {NAMES.get(row['approach'], row['approach'])} | "
                   f"{_rate(row['success_rate'])} | {row['kept']} | {rates.text(row['DR'], counts=False)} | "
                   f"{rates.text(row['IAR'], counts=False)} | {_fmt(row['mean_l2'])} | {_fmt(row['mean_linf'])} | "
                   f"{_l0(row['mean_l0'])} |")
    pairs = record["characterization"].get("paired")
    if pairs:
        out += ["", "## Paired comparisons: Luring − each baseline (DR and IAR over the same kept examples)", "",
                "The paper's Figure 2 finding is that Luring has the highest DR and IAR. Per attack and ε, over the "
                "examples kept for every M∘P (the same images for every approach):", ""]
        out += rates.paired_markdown(pairs)
    figure3 = figure3_markdown(record)
    if figure3:
        out += [""] + figure3
    return "\n".join(out) + "\n"


def characterization_csv(record: dict) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    extra = [f"{rate}_{part}" for rate in ("success_rate", "DR", "IAR")
             for part in ("low", "high", "numerator", "denominator")]
    writer.writerow(["dataset", "attack", "eps", "approach", "success_rate", "kept", "DR", "IAR",
                     "mean_l2", "mean_linf", "mean_l0", "mean_l0_pixels", *extra, "interval_method"])
    for row in record["characterization"]["results"]:
        writer.writerow([record["dataset"], row["attack"], row["eps"], row["approach"],
                         row["success_rate"]["value"], row["kept"], row["DR"]["value"], row["IAR"]["value"],
                         row["mean_l2"], row["mean_linf"], row["mean_l0"], row.get("mean_l0_pixels"),
                         *[c for rate in ("success_rate", "DR", "IAR") for c in rates.csv_columns(row[rate])[1:]],
                         "Wilson score, 95 %"])
    return buffer.getvalue()


def figure2(record: dict):
    """Figure 2: DR (solid) and IAR (dashed) against ε, one panel per attack, one colour per approach.

    Error bars: 95 % Wilson score intervals over the kept examples (n = *kept*, shown in each panel's title);
    the approaches are nudged apart along ε so that their bars do not hide each other.
    """
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
            step = _nudge([r["eps"] for r in rows if r["attack"] == attack])
            color = f"C{k}"
            for j, (metric, style, mark) in enumerate((("DR", "-", "o"), ("IAR", "--", "s"))):
                slot = 2 * k + j - (2 * len(approaches) - 1) / 2  # one x offset per (approach, metric)
                eps = [r["eps"] + slot * step for r in mine]
                values = [np.nan if r[metric]["value"] is None else r[metric]["value"] for r in mine]
                axis.errorbar(eps, values, yerr=rates.error_bar([r[metric] for r in mine]), fmt=mark,
                              linestyle=style, color=color, capsize=2.5, markersize=4, linewidth=1.2,
                              label=f"{NAMES.get(approach, approach)} {metric}")
        kept = sorted({r["kept"] for r in rows if r["attack"] == attack})
        axis.set_title(f"{attack.upper()} (n kept: {', '.join(map(str, kept))})", fontsize=9)
        axis.set_xlabel("ε")
        axis.set_ylim(-0.02, 1.02)
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("rate")
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, fontsize=7, loc="lower center", ncol=min(len(labels), 6),
                  bbox_to_anchor=(0.5, 0.0))
    figure.suptitle(f"{record['dataset']}: DR (solid) and IAR (dashed), 95 % Wilson intervals", fontsize=10)
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    return figure


def figure3(record: dict):
    """Figure 3 (left/middle): box plots of the l0 distortion (changed components) per approach.

    One row of panels per attack (MIM first, the paper's choice), one column per ε; boxes = quartiles,
    whiskers = min / max over the kept examples (n under each box), × = mean l0 in pixels. Returns
    None when the record holds no l0 statistics.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in record["characterization"]["results"] if "l0" in r]
    if not rows:
        return None
    attacks = sorted(dict.fromkeys(r["attack"] for r in rows), key=lambda a: (a != "mim", a))
    eps_list = list(dict.fromkeys(r["eps"] for r in rows))
    figure, axes = plt.subplots(len(attacks), len(eps_list), figsize=(3.4 * len(eps_list), 2.9 * len(attacks)),
                                squeeze=False)
    for i, attack in enumerate(attacks):
        for j, eps in enumerate(eps_list):
            axis = axes[i][j]
            mine = [r for r in rows if r["attack"] == attack and r["eps"] == eps]
            stats, labels, pixels, means = [], [], [], []
            for k, row in enumerate(mine):
                c = row["l0"]["components"]
                labels.append(f"{NAMES.get(row['approach'], row['approach'])}\nn={c['n']}")
                if c["n"]:
                    stats.append({"med": c["median"], "q1": c["q1"], "q3": c["q3"], "whislo": c["min"],
                                  "whishi": c["max"], "mean": c["mean"], "label": labels[-1]})
                    pixels.append((k + 1, row["l0"]["pixels"]["mean"]))
                    if c.get("mean_interval") and c["mean_interval"][0] is not None:
                        means.append((k + 1, c["mean"], c["mean"] - c["mean_interval"][0],
                                      c["mean_interval"][1] - c["mean"]))
            if stats:
                axis.bxp(stats, positions=[k + 1 for k, row in enumerate(mine) if row["l0"]["components"]["n"]],
                         showfliers=False, showmeans=True)
                axis.plot([p for p, _ in pixels], [v for _, v in pixels], "x", color="C3", label="mean (pixels)")
                if means:  # 95 % bootstrap interval of the mean l0 (components), beside its triangle
                    axis.errorbar([p + 0.18 for p, *_ in means], [m for _, m, *_ in means],
                                  yerr=[[b for *_, b, _ in means], [a for *_, a in means]], fmt="none",
                                  ecolor="C2", capsize=3, linewidth=1.5)
            axis.set_xticks(range(1, len(mine) + 1))
            axis.set_xticklabels(labels, fontsize=7)
            axis.set_title(f"{attack.upper()} ε={eps:g}", fontsize=9)
            if j == 0:
                axis.set_ylabel("ℓ0 (changed components)", fontsize=8)
            axis.grid(alpha=0.3)
    figure.suptitle(f"{record['dataset']}: ℓ0 of the adversarial examples fooling every M∘P (Figure 3 left/middle)\n"
                    "boxes: quartiles, whiskers: min–max, ▲ mean (green bar: its 95 % bootstrap interval), "
                    "× mean in pixels (any channel)", fontsize=10)
    figure.tight_layout()
    return figure


def write_characterization(record: dict, out_dir) -> list:
    """Write JSON, CSV, markdown, Figure 2 and Figure 3 (l0) PNGs of a characterization record; returns the paths."""
    import matplotlib.pyplot as plt

    if record["characterization"].get("skipped"):  # Table 16 only (ImageNet): no attack results to plot
        return [files.write_json(f"{out_dir}/characterization.json", record),
                files.write_text(f"{out_dir}/characterization.md", characterization_markdown(record))]
    figure = figure2(record)
    paths = [files.write_json(f"{out_dir}/characterization.json", record),
             files.write_text(f"{out_dir}/characterization.csv", characterization_csv(record)),
             files.write_text(f"{out_dir}/characterization.md", characterization_markdown(record)),
             files.write_figure(f"{out_dir}/figure2.png", figure)]
    plt.close(figure)
    l0_figure = figure3(record)
    if l0_figure is not None:
        paths.append(files.write_figure(f"{out_dir}/figure3_l0.png", l0_figure))
        plt.close(l0_figure)
    return paths
