"""The aggregate of one protocol run with several seeds: mean, standard deviation and min–max of every rate.

Reads the per-seed JSON records only (``<out>/seed_<s>/characterization.json``, ``defense_<attack>.json`` or
``analysis.json``, as :mod:`luring_tf.cli.seeds` lays them out), never recomputes anything, and
reads every rate through its ``"value"`` key (its denominator and interval stay in the seed's own report).
Writes ``<out>/aggregate_characterization.{json,md}`` / ``aggregate_defense_<attack>.{json,md}`` /
``aggregate_analysis.{json,md}`` atomically.

Per rate: the value of each seed, their mean, their sample standard deviation (n − 1 in the denominator;
none for a single seed), min and max, beside the paper's value where the paper prints one (Table 8 / 16
for test accuracy and agreement, Table 1 / 14 / 17 for AC_M∘P, AC_M and DAC, Tables 9 and 10 for the analysis;
Figure 2's DR and IAR are curves, not numbers). The analysis's mean ℓ2 / ℓ∞ (Table 9) are averaged the same
way. A seed whose rate is undefined (e.g. DR over an empty kept set) is left out of that rate's statistics,
which then say over how many seeds they are.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from luring_tf.report import paper_values
from luring_tf.storage import files

STATISTICS = ("mean, sample standard deviation (n − 1; none for one seed) and min–max over the seeds where the "
              "rate is defined")
NAMES = {"M": "Base (M)", "stack": "Stack", "auto": "Auto", "ce": "C-E", "luring": "Luring"}
DEFENSE_METRICS = (("AC_MoP", "AC_M∘P"), ("AC_M", "AC_M"), ("DAC", "DAC"), ("DAC_policy", "DAC, policy"),
                   ("clean_flag_rate", "clean flag rate"))
TABLE8_METRICS = (("test_accuracy", "test acc."), ("agreement_on_truth", "agree (truth)"),
                  ("agreement", "agreement with M"))
CHARACTERIZATION_METRICS = (("success_rate", "success on M∘P"), ("DR", "DR"), ("IAR", "IAR"))
TABLE9_METRICS = (("success_rate", "CW-L2 success"), ("mean_l2", "mean ℓ2"), ("mean_linf", "mean ℓ∞"))
TABLE10_METRICS = (("luring_highest", "share Ω_c(Luring) highest"),)


def value(rate) -> float | None:
    """A rate's value: its ``"value"`` key (a bare number is taken as it is); None when undefined or absent."""
    if isinstance(rate, dict):
        rate = rate.get("value")
    return None if rate is None or isinstance(rate, bool) else float(rate)


def summarize(values) -> dict:
    """``{"n", "mean", "std", "min", "max"}`` of the values that are not None (None where there are too few)."""
    given = [float(v) for v in values if v is not None]
    if not given:
        return {"n": 0, "mean": None, "std": None, "min": None, "max": None}
    return {"n": len(given), "mean": statistics.mean(given),
            "std": statistics.stdev(given) if len(given) > 1 else None, "min": min(given), "max": max(given)}


def _merge(seeds: list[int], items_by_seed: dict[int, list[tuple]]) -> list[dict]:
    """Rows ``{**labels, "metric", "per_seed", "paper", statistics}`` from each seed's ``(labels, metric, value, paper)``."""
    rows: dict[tuple, dict] = {}
    for seed in seeds:
        for labels, metric, rate, paper in items_by_seed[seed]:
            key = (tuple(labels.items()), metric)
            row = rows.setdefault(key, {**labels, "metric": metric, "per_seed": {str(s): None for s in seeds},
                                        "paper": paper})
            row["per_seed"][str(seed)] = value(rate)
    for row in rows.values():
        row.update(summarize(row["per_seed"].values()))
    return list(rows.values())


def _table8_items(record: dict) -> list[tuple]:
    paper = paper_values.MODEL_TABLES.get(record["dataset"], {})
    items = []
    for model, row in record["table8"].items():
        ref = paper.get(model, (None, None))
        for (metric, _), paper_value in zip(TABLE8_METRICS, (*ref, None)):
            if metric in row:
                items.append(({"table": "table8", "model": model}, metric, row[metric], paper_value))
    return items


def _characterization_items(record: dict) -> list[tuple]:
    items = _table8_items(record)
    for row in record["characterization"].get("results", []):
        labels = {"table": "figure2", "attack": row["attack"], "eps": row["eps"], "approach": row["approach"]}
        items += [(labels, metric, row[metric], None) for metric, _ in CHARACTERIZATION_METRICS if metric in row]
    return items


def _defense_items(record: dict) -> list[tuple]:
    from luring_tf.report.defense import paper_value

    items = []
    for row in record["table"]:
        paper = paper_value(record["dataset"], record["attack"], row["eps"], row["approach"])
        labels = {"table": "defense", "eps": row["eps"], "approach": row["approach"]}
        for i, (metric, _) in enumerate(DEFENSE_METRICS):
            if metric in row:
                items.append((labels, metric, row[metric], paper[i] if paper is not None and i < 3 else None))
    return items


def _analysis_items(record: dict) -> list[tuple]:
    """Table 9 (CW-L2's success share over the evaluation set, mean ℓ2 and ℓ∞) and Table 10's per-class shares."""
    paper9 = paper_values.TABLE_9.get(record["dataset"], {})
    items = []
    for name, row in record["cwl2"]["table9"].items():
        ref = paper9.get(name, (None, None))
        success = row["n"] / row["n_total"] if row.get("n_total") else None
        items += [({"table": "table9", "model": name}, "success_rate", success, None),
                  ({"table": "table9", "model": name}, "mean_l2", row["mean_l2"], ref[0]),
                  ({"table": "table9", "model": name}, "mean_linf", row["mean_linf"], ref[1])]
    paper10 = paper_values.TABLE_10.get(record["dataset"]) or []
    for c, share in enumerate(record["table10"].get("all", [])):
        items.append(({"table": "table10", "class": c}, "luring_highest", share,
                      paper10[c] if c < len(paper10) else None))
    return items


COLLECT = {"characterization": _characterization_items, "defense": _defense_items, "analysis": _analysis_items}


def aggregate(kind: str, records: dict[int, dict], sources: dict[int, str] | None = None) -> dict:
    """The aggregate record of ``records`` (``{seed: the seed's JSON record}``) of ``kind`` ("characterization"
    , "defense" or "analysis"); ``sources``: ``{seed: the record's path, relative to the aggregate}``."""
    seeds = list(records)
    first = records[seeds[0]]
    collect = COLLECT[kind]
    record = {"kind": kind, "dataset": first["dataset"], "profile": first.get("profile"), "seeds": seeds,
              "records": {str(s): (sources or {}).get(s) for s in seeds}, "statistics": STATISTICS,
              "rows": _merge(seeds, {s: collect(records[s]) for s in seeds})}
    if kind == "defense":
        record["attack"] = first["attack"]
        record["n"] = {str(s): records[s].get("n") for s in seeds}
        record["paper_table"] = paper_values.DEFENSE_TABLE.get(first["dataset"])
    elif kind == "analysis":
        record["paper_table"] = "Tables 9 and 10"
        record["n"] = {str(s): records[s].get("n_examples") for s in seeds}
    else:
        record["paper_table"] = paper_values.MODEL_TABLE_NAMES.get(first["dataset"], "Table 8")
        skipped = first["characterization"].get("skipped")
        if skipped:
            record["characterization_skipped"] = skipped
    return record


def _fmt(number) -> str:
    return "n/a" if number is None else f"{number:.3f}"


def _row_cells(row: dict, seeds) -> list[str]:
    spread = "n/a" if row["min"] is None else f"{row['min']:.3f}–{row['max']:.3f}"
    count = "" if row["n"] in (0, len(seeds)) else f" (n = {row['n']})"
    return ([_fmt(row["per_seed"][str(s)]) for s in seeds]
            + [_fmt(row["mean"]) + count, _fmt(row["std"]), spread, "–" if row["paper"] is None else _fmt(row["paper"])])


def _table(rows: list[dict], seeds, label_columns: list[tuple[str, str]], metric_names: dict) -> list[str]:
    header = [title for _, title in label_columns] + ["rate"] + [f"seed {s}" for s in seeds] + \
             ["mean", "std", "min–max", "paper"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        labels = []
        for key, _ in label_columns:
            item = row[key]
            labels.append(f"{item:g}" if key == "eps" else str(NAMES.get(item, item)))
        lines.append("| " + " | ".join(labels + [metric_names.get(row["metric"], row["metric"])]
                                       + _row_cells(row, seeds)) + " |")
    return lines


def aggregate_markdown(record: dict) -> str:
    """The aggregate as Markdown: one row per rate, one column per seed, then mean, std, min–max and the paper's."""
    seeds = record["seeds"]
    seed_text = ", ".join(str(s) for s in seeds)
    if record["kind"] == "analysis":
        title = f"# Analysis over seeds {seed_text} — {record['dataset']} ({record['profile']} profile)"
        n = ", ".join(f"seed {s}: {k}" for s, k in record["n"].items())
        intro = (f"Each seed's models and evaluation set (n = {n}); paper: Table 9 (mean ℓ2, ℓ∞ of CW-L2) and "
                 "Table 10 (SVHN and CIFAR10 only).")
    elif record["kind"] == "defense":
        title = f"# Defense over seeds {seed_text}: {record['attack']} on {record['dataset']} ({record['profile']} profile)"
        n = ", ".join(f"seed {s}: {k}" for s, k in record["n"].items())
        intro = (f"Each seed's own models (run_characterization.py --seeds) and evaluation set (n = {n}); paper: "
                 f"{record.get('paper_table') or 'none'}.")
    else:
        title = f"# Characterization over seeds {seed_text} — {record['dataset']} ({record['profile']} profile)"
        intro = (f"Each seed trained its own models (M and every T) and drew its own evaluation set; the data "
                 f"split is the same for every seed (data.split_seed). Paper: {record['paper_table']}; Figure 2's DR "
                 "and IAR are curves, not numbers (paper –).")
    sources = ", ".join(f"`{p}`" for p in record["records"].values() if p)
    out = [title, "", intro, f"Per-seed records: {sources} (each rate's denominator and interval are there; here, "
           f"their values only). Statistics: {record['statistics']}.", ""]
    rows = record["rows"]
    if record["kind"] == "analysis":
        out += ["## Table 9 — CW-L2", ""]
        out += _table([r for r in rows if r["table"] == "table9"], seeds, [("model", "model attacked")],
                      dict(TABLE9_METRICS))
        table10 = [r for r in rows if r["table"] == "table10"]
        if table10:
            out += ["", "## Table 10 — logits variation (Equation 5)", ""]
            out += _table(table10, seeds, [("class", "class")], dict(TABLE10_METRICS))
    elif record["kind"] == "defense":
        out += _table(rows, seeds, [("eps", "ε"), ("approach", "approach")], dict(DEFENSE_METRICS))
    else:
        out += [f"## {record['paper_table']} — test accuracy and agreement", ""]
        out += _table([r for r in rows if r["table"] == "table8"], seeds, [("model", "model")], dict(TABLE8_METRICS))
        figure2 = [r for r in rows if r["table"] == "figure2"]
        if figure2:
            out += ["", "## DR and IAR (Figure 2)", ""]
            out += _table(figure2, seeds, [("attack", "attack"), ("eps", "ε"), ("approach", "approach")],
                          dict(CHARACTERIZATION_METRICS))
        elif record.get("characterization_skipped"):
            out += ["", f"DR and IAR: not computed -- {record['characterization_skipped']}."]
    return "\n".join(out) + "\n"


def aggregate_stem(kind: str, attack: str | None = None) -> str:
    """``aggregate_characterization``, ``aggregate_analysis`` or ``aggregate_defense_<attack>``."""
    return f"aggregate_defense_{attack}" if kind == "defense" else f"aggregate_{kind}"


def write_aggregate(kind: str, out_dir, record_paths: dict[int, Path], attack: str | None = None) -> list[Path]:
    """Read each seed's record (``{seed: path}``), write ``<out_dir>/<stem>.{json,md}``; returns the two paths."""
    out_dir = Path(out_dir)
    records = {seed: files.read_json(path) for seed, path in record_paths.items()}
    sources = {seed: Path(path).relative_to(out_dir).as_posix() if Path(path).is_relative_to(out_dir) else str(path)
               for seed, path in record_paths.items()}
    record = aggregate(kind, records, sources)
    stem = aggregate_stem(kind, attack or record.get("attack"))
    return [files.write_json(out_dir / f"{stem}.json", record),
            files.write_text(out_dir / f"{stem}.md", aggregate_markdown(record))]
