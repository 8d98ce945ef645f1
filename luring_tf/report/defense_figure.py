"""Table 1 / Table 14 as a plot: AC_M∘P, AC_M and DAC against ε per approach, with 95 % Wilson error bars.

Rendered from a defense record alone (``record["table"]``, the rows of :func:`luring_tf.evaluation.defense.table_row`);
the paper's values, where it has them, are drawn as hollow markers beside ours.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from luring_tf.report import rates
from luring_tf.storage import files

METRICS = (("AC_MoP", "AC_M∘P"), ("AC_M", "AC_M"), ("DAC", "DAC"))


def defense_figure(record: dict):
    """One panel per metric; x = ε (approaches nudged apart), y = rate with its interval. None without rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from luring_tf.report.defense import paper_value

    table = record.get("table") or []
    if not table:
        return None
    approaches = list(dict.fromkeys(r["approach"] for r in table))
    eps_values = sorted({float(r["eps"]) for r in table})
    gaps = [b - a for a, b in zip(eps_values, eps_values[1:])]
    step = 0.04 * (min(gaps) if gaps else (eps_values[0] or 1.0))
    figure, axes = plt.subplots(1, len(METRICS), figsize=(3.6 * len(METRICS), 3.2), squeeze=False)
    for axis, (key, label) in zip(axes[0], METRICS):
        for k, approach in enumerate(approaches):
            mine = [r for r in table if r["approach"] == approach]
            shift = (k - (len(approaches) - 1) / 2) * step
            eps = [float(r["eps"]) + shift for r in mine]
            values = [np.nan if r[key].get("value") is None else r[key]["value"] for r in mine]
            axis.errorbar(eps, values, yerr=rates.error_bar([r[key] for r in mine]), fmt="-o", color=f"C{k}",
                          capsize=2.5, markersize=4, linewidth=1.2, label=rates.NAMES.get(approach, approach))
            paper = [paper_value(record["dataset"], record["attack"], r["eps"], approach) for r in mine]
            index = [name for name, _ in METRICS].index(key)
            points = [(e, p[index]) for e, p in zip(eps, paper) if p is not None and p[index] is not None]
            if points:
                axis.plot([e for e, _ in points], [v for _, v in points], "D", mfc="none", color=f"C{k}",
                          markersize=5)
        axis.set_title(label, fontsize=9)
        axis.set_xlabel("ε")
        axis.set_ylim(-0.02, 1.02)
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("rate")
    axes[0][-1].legend(fontsize=7, loc="best")
    figure.suptitle(f"{record['dataset']}: defense against {record['attack']} (n = {record.get('n', '?')}); "
                    "95 % Wilson intervals; ◇ paper", fontsize=10)
    figure.tight_layout()
    return figure


def write_defense_figure(record: dict, path) -> list[Path]:
    """Write the figure to ``path`` (PNG, atomically); ``[]`` when the record has no table rows."""
    import matplotlib.pyplot as plt

    figure = defense_figure(record)
    if figure is None:
        return []
    try:
        return [files.write_figure(Path(path), figure)]
    finally:
        plt.close(figure)
