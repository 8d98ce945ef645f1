"""Rendering of the analysis record (run_analysis.py): markdown tables, CW-L2 l0, Fig. 3 right and Fig. 4 PNGs.

Reads only ``analysis.json`` and ``analysis.npz`` (never recomputes), so results can be re-rendered;
a truncated ``analysis.npz`` is a one-line error naming it (``--force`` recomputes it). Figure 3's
l0 panels are the characterization's (``figure3_l0.png`` beside ``characterization.md``, spec §6);
here CW-L2's l0 is a separate statistic (``cwl2_l0.png``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from luring_tf.storage import files
from luring_tf.report import paper_values
from luring_tf.report.characterization import NAMES


def _f(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _paper(value) -> str:
    return "—" if value is None else f"{value:.2f}"


def analysis_markdown(record: dict) -> str:
    dataset = record["dataset"]
    cw = record["cwl2"]
    lines = [f"# Analysis of the luring effect — {dataset} (profile {record.get('profile')})", "",
             f"Evaluation set: {record['n_examples']} test images classified correctly by M and every M∘P "
             f"(data: {record.get('data_source')}).", "",
             "## Table 9 — CW-L2 (Appendix D.2)", "",
             "Parameters: " + ", ".join(f"{k}={v}" for k, v in cw["params"].items()) +
             ". Means over the successful examples (count n); paper values beside ours.", "",
             "| Model attacked | n | mean l2 | paper l2 | mean l∞ | paper l∞ | mean l0 (components) | mean l0 (pixels) | mean l0 (> ½ grey level) |",
             "|---|---|---|---|---|---|---|---|---|"]
    paper9 = paper_values.TABLE_9.get(dataset, {})
    for name, s in cw["table9"].items():
        p = paper9.get(name, (None, None))
        lines.append(f"| {NAMES.get(name, name)} | {s['n']}/{s['n_total']} | {_f(s['mean_l2'])} | {_paper(p[0])} | "
                     f"{_f(s['mean_linf'])} | {_paper(p[1])} | {_f(s['mean_l0'], 1)} | {_f(s['mean_l0_pixels'], 1)} | "
                     f"{_f(s.get('mean_l0_visible'), 1)} |")
    lines += ["", "## CW-L2 l0 (a statistic of Appendix D.2's attack, not Fig. 3)", "",
              "l0 of the successful CW-L2 examples. The paper's Fig. 3 (left/middle) takes l0 from the "
              "characterization attacks (MIM shown; spec §6): see characterization.md and figure3_l0.png of "
              "run_characterization.py. Exact count of changed components (the spec's l0), and in brackets the count "
              "of components changed by more than half a grey level (CW-L2 works in tanh space, so the exact count "
              "includes float round-off).",
              "", "| Model attacked | n | mean | median | q1 | q3 |", "|---|---|---|---|---|---|"]
    for name, q in cw["l0"].items():
        v = q.get("visible", {})
        lines.append(f"| {NAMES.get(name, name)} | {q['n']} | {_f(q['mean'], 1)} ({_f(v.get('mean'), 1)}) | "
                     f"{_f(q['median'], 1)} ({_f(v.get('median'), 1)}) | {_f(q['q1'], 1)} ({_f(v.get('q1'), 1)}) | "
                     f"{_f(q['q3'], 1)} ({_f(v.get('q3'), 1)}) |")
    highest = cw.get("luring_l0_highest")
    verdict = {True: "yes", False: "no", None: "n/a"}[highest]
    visible = {True: "yes", False: "no", None: "n/a"}[cw.get("luring_l0_visible_highest")]
    lines += ["", f"Under CW-L2, Luring's mean l0 is the highest of the M∘P: **{verdict}** (exact count); "
              f"**{visible}** (changes > ½ grey level). (The paper's Fig. 3 finding is about the characterization "
              "attacks' l0.)"]
    t10 = record["table10"]
    if "all" in t10:
        classes = range(len(t10["all"]))
        header = "| | " + " | ".join(str(c) for c in classes) + " |"
        sep = "|---|" + "---|" * len(t10["all"])
        paper10 = paper_values.TABLE_10.get(dataset)
        lines += ["", "## Table 10 — logits variation (Equation 5)", "",
                  f"Per class c (0-based), share of the {t10['n']} examples where Ω_c(Luring) is higher than for "
                  "every other approach (row 'ours: all'); 'pairwise' averages over the other approaches the "
                  "share where it is higher than for that approach.", "", header, sep,
                  "| ours: all | " + " | ".join(_f(v, 2) for v in t10["all"]) + " |",
                  "| ours: pairwise | " + " | ".join(_f(v, 2) for v in t10["pairwise"]) + " |"]
        for name, row in t10.get("versus", {}).items():
            lines.append(f"| vs {NAMES.get(name, name)} | " + " | ".join(_f(v, 2) for v in row) + " |")
        lines.append("| paper | " + (" | ".join(_paper(v) for v in paper10) if paper10 else
                                     " | ".join("—" for _ in classes)) + " |")
        if not paper10:
            lines.append("")
            lines.append(f"The paper reports Table 10 for SVHN and CIFAR10 only (no {dataset} row).")
    lines += ["", "Mean Ω_c per approach:", "", "| Approach | " + " | ".join(
        str(c) for c in range(len(next(iter(t10["mean_omega"].values()), [])))) + " |",
        "|---|" + "---|" * len(next(iter(t10["mean_omega"].values()), []))]
    for name, row in t10["mean_omega"].items():
        lines.append(f"| {NAMES.get(name, name)} | " + " | ".join(_f(v, 1) for v in row) + " |")
    f4 = record["fig4"]
    lines += ["", "## Fig. 4 — adversarial images", "",
              f"{f4['attack'].upper()} at ε={f4['eps']:g} against {NAMES.get(f4['target'], f4['target'])}'s M∘P on "
              f"{f4['n_images']} images: {f4['fooled_T']} fool M∘P, {f4['fooled_M']} fool M.", "",
              "Figures: cwl2_l0.png (CW-L2 l0), fig3_saliency.png, fig4_adversarial.png.", ""]
    if record.get("timings_s"):
        lines += ["Timings (s): " + ", ".join(f"{k} {v}" for k, v in record["timings_s"].items()), ""]
    return "\n".join(lines)


def _image(ax, img, cmap="gray", **kwargs):
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    ax.imshow(img, cmap=cmap if img.ndim == 2 else None, **kwargs)
    ax.set_xticks([])
    ax.set_yticks([])


def _magnitude(grad):
    g = np.abs(np.asarray(grad)).sum(axis=-1) if np.asarray(grad).ndim == 3 else np.abs(grad)
    top = g.max()
    return g / top if top > 0 else g


def figure_cwl2_l0(record: dict, arrays):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(record["cwl2"]["table9"])
    keys = [("cw_l0", "l0 (changed components)")]
    if all(f"cw_l0_visible_{n}" in arrays for n in names):
        keys.append(("cw_l0_visible", "l0 (changes > 1/2 grey level)"))
    fig, axes = plt.subplots(1, len(keys), figsize=(len(keys) * (1.4 * len(names) + 2), 4), squeeze=False)
    for ax, (key, label) in zip(axes[0], keys):
        data = [np.asarray(arrays[f"{key}_{n}"])[np.asarray(arrays[f"cw_success_{n}"], dtype=bool)] for n in names]
        ax.boxplot([d if len(d) else [np.nan] for d in data], showfliers=True)
        ax.set_xticks(range(1, len(names) + 1))
        ax.set_xticklabels([f"{NAMES.get(n, n)}\n(n={len(d)})" for n, d in zip(names, data)])
        ax.set_ylabel(label)
    fig.suptitle(f"CW-L2 l0 distortion, {record['dataset']} (Appendix D.2 statistic; Fig. 3's l0 is the "
                 "characterization's)", fontsize=9)
    return fig


def figure_saliency(record: dict, arrays):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [a for a in ("auto", "ce", "luring") if a in record["saliency"]["approaches"]]
    columns = [("clean", arrays["saliency_x"]), ("|∇ CE(M)|", arrays["saliency_M"])]
    columns += [(f"|∇P| {NAMES.get(a, a)}", arrays[f"saliency_{a}"]) for a in shown]
    k = len(arrays["saliency_x"])
    fig, axes = plt.subplots(k, len(columns), figsize=(1.7 * len(columns), 1.7 * k), squeeze=False)
    for i in range(k):
        for j, (title, values) in enumerate(columns):
            if j == 0:
                _image(axes[i, j], values[i], vmin=0, vmax=1)
            else:
                _image(axes[i, j], _magnitude(values[i]), cmap="hot")
            if i == 0:
                axes[i, j].set_title(title, fontsize=8)
    fig.suptitle(f"Saliency, {record['dataset']} (Fig. 3 right)", fontsize=9)
    return fig


def figure_adversarial(record: dict, arrays):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(arrays["fig4_x"])
    fig, axes = plt.subplots(2, k, figsize=(1.8 * k, 4), squeeze=False)
    for i in range(k):
        _image(axes[0, i], np.clip(arrays["fig4_x"][i], 0, 1), vmin=0, vmax=1)
        axes[0, i].set_title(f"clean y={int(arrays['fig4_y'][i])}", fontsize=8)
        _image(axes[1, i], np.clip(arrays["fig4_x_adv"][i], 0, 1), vmin=0, vmax=1)
        axes[1, i].set_title(f"T:{int(arrays['fig4_t'][i])} M:{int(arrays['fig4_m'][i])}", fontsize=8)
    f4 = record["fig4"]
    fig.suptitle(f"{f4['attack'].upper()} ε={f4['eps']:g} on {NAMES.get(f4['target'], f4['target'])} M∘P, "
                 f"{record['dataset']} (Fig. 4)", fontsize=9)
    return fig


def write_analysis(record: dict, out_dir) -> list[Path]:
    """Render analysis.md and the three PNGs (cwl2_l0, fig3_saliency, fig4_adversarial) from ``analysis.json`` + ``analysis.npz`` in ``out_dir``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    paths = [files.write_text(out_dir / "analysis.md", analysis_markdown(record))]
    arrays = files.read_npz(out_dir / "analysis.npz")  # truncated: one-line error, --force recomputes it
    for name, build in (("cwl2_l0.png", figure_cwl2_l0), ("fig3_saliency.png", figure_saliency),
                        ("fig4_adversarial.png", figure_adversarial)):
        fig = build(record, arrays)
        paths.append(files.write_figure(out_dir / name, fig))
        plt.close(fig)
    return paths
