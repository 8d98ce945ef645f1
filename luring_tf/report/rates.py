"""How a rate and a paired comparison are written in the Markdown reports and drawn as error bars.

A rate is the JSON of :meth:`luring_tf.evaluation.metrics.Rate.as_dict` (``value``, ``numerator``,
``denominator``, ``interval``, ``interval_method``). Records written before intervals existed lack
``interval``: it is computed here from the numerator and denominator (the same Wilson score interval),
so old records re-render with intervals too.
"""

from __future__ import annotations

from luring_tf.evaluation import intervals

NAMES = {"M": "Base (M)", "stack": "Stack", "auto": "Auto", "ce": "C-E", "luring": "Luring"}
METHOD_NOTE = ("Intervals: 95 % Wilson score intervals of each rate, *value [low, high]* over the *n* images "
               "named beside it.")


interval = intervals.rate_interval  # how a stored rate's interval is read (old records: from its counts)
text = intervals.rate_text  # how a rate is written: 0.930 [0.913, 0.944] (930/1000)


def error_bar(rates: list[dict | None]) -> list[list[float]]:
    """matplotlib ``yerr`` (2 x N: below, above) for the rates' intervals; 0 where a rate is undefined."""
    below, above = [], []
    for rate in rates:
        low, high = interval(rate)
        value = None if not rate else rate.get("value")
        below.append(0.0 if low is None or value is None else max(0.0, value - low))
        above.append(0.0 if high is None or value is None else max(0.0, high - value))
    return [below, above]


def csv_columns(rate: dict | None) -> list:
    """``[value, low, high, numerator, denominator]`` of a rate, for CSV rows (empty strings when absent)."""
    if not rate:
        return ["", "", "", "", ""]
    low, high = interval(rate)
    return [rate.get("value"), low, high, rate.get("numerator"), rate.get("denominator")]


def _signed(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:+.{digits}f}"


def paired_markdown(pairs: list[dict], digits: int = 3) -> list[str]:
    """A table of paired comparisons (``record["paired"]``): Luring − baseline with its interval and verdict.

    Each pair: ``attack``, ``eps``, ``metric``, ``baseline`` (approach) and the fields of
    :func:`luring_tf.evaluation.intervals.compare`.
    """
    if not pairs:
        return []
    lines = ["| attack | ε | metric | baseline | n | Luring | baseline value | Luring − baseline [95 % interval] | "
             "discordant (L only / B only) | McNemar p | paper's ordering (Luring higher) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for pair in pairs:
        low, high = pair["interval"]
        diff = _signed(pair["difference"], digits)
        if low is not None:
            diff += f" [{_signed(low, digits)}, {_signed(high, digits)}]"
        word = pair["verdict"] if pair["verdict"] != intervals.NOT_RESOLVED else f"not resolved at n = {pair['n']}"
        lines.append(f"| {pair.get('attack', '')} | {pair['eps']:g} | {pair['metric']} | "
                     f"{NAMES.get(pair['baseline'], pair['baseline'])} | {pair['n']} | "
                     f"{'n/a' if pair['luring_value'] is None else format(pair['luring_value'], f'.{digits}f')} | "
                     f"{'n/a' if pair['baseline_value'] is None else format(pair['baseline_value'], f'.{digits}f')} | "
                     f"{diff} | {pair['luring_only']} / {pair['baseline_only']} | {pair['p_value']:.3g} | "
                     f"**{word}** |")
    method = pairs[0]["method"]
    lines += ["", f"Paired over the same images ({method}). *supported*: the interval of Luring − baseline lies "
              "above 0 **and** the exact McNemar test rejects equal rates at 5 %; *contradicted*: both in the other "
              "direction; *not resolved*: neither, at this n (the point estimates alone do not order the approaches)."]
    return lines
