"""Paired comparisons and error bars on real MNIST digits (issue 23, items 2-3).

M: a dense softmax classifier trained in a second on the shipped real MNIST sample; Stack's P is the identity
(T = M exactly: DR = 0 on every image) and Luring's P a 1x1 convolution x -> 0.8 x + 0.1 (M and T disagree
on some adversarial examples). The characterization's and the defense's paired verdicts are recomputed from
the stored per-image cells; Figure 2's error bars are the Wilson intervals of the record. Seconds.
"""

import json

import keras
import numpy as np
import pytest

from luring_tf.data.load import load_dataset
from luring_tf.evaluation import characterization, defense, intervals
from luring_tf.report.characterization import figure2, write_characterization
from luring_tf.report.defense import write_defense
from luring_tf.storage.models_io import compose

CONFIG = {"seed": 0, "dataset": "mnist",
          "characterization": {"n_examples": 80, "batch_size": 200, "eps": [0.1, 0.2], "attacks": {"fgsm": {}}},
          "defense": {"n_examples": 80, "batch_size": 80, "eps": [0.1, 0.2],
                      "attacks": {"fgsm": {}, "mim": {"nb_iter": 2, "eps_iter": 0.05, "decay": 1.0},
                                  "dim": {"nb_iter": 2, "eps_iter": 0.05, "decay": 1.0, "p": [0.5, 1.0]},
                                  "mim_ti": {"nb_iter": 2, "eps_iter": 0.05, "decay": 1.0, "kernel_size": [3]},
                                  "dim_ti": {"nb_iter": 2, "eps_iter": 0.05, "decay": 1.0, "p": 1.0,
                                             "kernel_size": [3]}}}}


@pytest.fixture(scope="module")
def real():
    data = load_dataset("mnist", "sample")
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10),
                          keras.layers.Activation("softmax")], name="M")
    m.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    m.fit(data.x_train[:2000], data.y_train[:2000], epochs=3, batch_size=100, verbose=0)

    def protected(scale, shift):
        p = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(1, 1)], name="P")
        p.layers[0].set_weights([np.full((1, 1, 1, 1), scale, np.float32), np.full(1, shift, np.float32)])
        return compose(p, m)

    return data, {"M": m, "stack": protected(1.0, 0.0), "luring": protected(0.8, 0.1)}


def test_characterization_pairs_dr_and_iar_over_the_kept_examples(real, tmp_path):
    data, models = real
    record = characterization.characterize(models, data, CONFIG, tmp_path, verbose=False)
    y = data.y_test[record["index"]]
    pairs = {(p["eps"], p["metric"]): p for p in record["paired"]}
    assert sorted(pairs) == [(0.1, "DR"), (0.1, "IAR"), (0.2, "DR"), (0.2, "IAR")]
    for (eps, metric), pair in pairs.items():
        cells = {a: np.load(tmp_path / "cells" / f"fgsm_eps{eps:g}_{a}.npz") for a in ("stack", "luring")}
        kept = np.logical_and.reduce([c["t_adv"] != y for c in cells.values()])
        rows = {r["approach"]: r for r in record["results"] if r["eps"] == eps}
        assert pair["baseline"] == "stack" and pair["n"] == kept.sum() == rows["luring"]["kept"]
        assert pair["luring_value"] == pytest.approx(rows["luring"][metric]["value"])
        assert pair["baseline_value"] == pytest.approx(rows["stack"][metric]["value"])
        outcome = {a: (c["m_adv"] != c["t_adv"]) if metric == "DR" else (c["m_adv"] == y)
                   for a, c in cells.items()}
        expected = intervals.compare(outcome["luring"][kept], outcome["stack"][kept], seed=0)
        assert pair["interval"] == expected["interval"] and pair["verdict"] == expected["verdict"]
        assert pair["p_value"] == expected["p_value"]
    # Stack's T is M: it never disagrees, Luring does on several kept examples -> DR ordering supported
    assert pairs[0.1, "DR"]["baseline_value"] == 0.0 and pairs[0.1, "DR"]["luring_only"] >= 6
    assert pairs[0.1, "DR"]["verdict"] == "supported" and pairs[0.1, "DR"]["interval"][0] > 0
    assert any(p["verdict"] == "not resolved" for p in record["paired"])  # IAR: at most a few images differ

    full = {"dataset": "mnist", "profile": "test", "models_dir": "memory", "data_source": data.source,
            "table8": characterization.model_table(models, data), "characterization": record}
    write_characterization(full, tmp_path)
    text = (tmp_path / "characterization.md").read_text()
    assert "Paired comparisons" in text and "**supported**" in text and "not resolved at n =" in text
    assert "Wilson score" in text and "[0.000, " in text  # Stack's DR 0/n with its interval
    header = (tmp_path / "characterization.csv").read_text().splitlines()[0]
    assert "DR_low" in header and "IAR_denominator" in header
    stored = json.loads((tmp_path / "characterization.json").read_text())
    assert stored["table8"]["luring"]["agreement"]["interval_method"] == "Wilson score, 95 %"

    # Figure 2's error bars are the rows' Wilson intervals
    axis = figure2(full).axes[0]
    bars = axis.containers  # one ErrorbarContainer per (approach, metric)
    assert len(bars) == 4
    luring_dr = bars[2]  # stack DR, stack IAR, luring DR, luring IAR
    segments = luring_dr.lines[2][0].get_segments()
    rows = [r for r in record["results"] if r["approach"] == "luring"]
    for segment, row in zip(segments, rows):
        assert [segment[0][1], segment[1][1]] == pytest.approx(row["DR"]["interval"])


def test_defense_pairs_ac_m_and_dac_of_the_reported_runs(real, tmp_path):
    data, models = real
    record = defense.run_defense(models, data, CONFIG, "mim-w", tmp_path, verbose=False)
    rows = {(r["eps"], r["approach"]): r for r in record["table"]}
    assert len(record["paired"]) == 4  # 2 eps x (AC_M, DAC) x one baseline
    for pair in record["paired"]:
        for approach, value in (("luring", pair["luring_value"]), ("stack", pair["baseline_value"])):
            row = rows[pair["eps"], approach]
            assert value == pytest.approx(row[pair["metric"]]["value"])  # the MIM-W minimum the table reports
            assert pair["runs"][approach] == row["argmin"][pair["metric"]]["attack"]
        assert pair["n"] == record["n"] and pair["verdict"] in ("supported", "not resolved", "contradicted")
    dac = [p for p in record["paired"] if p["metric"] == "DAC"]
    assert all(p["verdict"] == "supported" for p in dac)  # detection flags what Stack (T = M) never can
    record.update(dataset="mnist", profile="test")
    written = write_defense(record, tmp_path)
    assert (tmp_path / "defense_mim-w.png").is_file() and len(written) == 3
    text = (tmp_path / "defense_mim-w.md").read_text()
    assert "Paired comparisons" in text and "**supported**" in text and "Wilson score" in text
    summary = json.loads((tmp_path / "defense_mim-w.json").read_text())
    assert summary["paired"][0]["method"].startswith("paired bootstrap over images")
    assert summary["table"][0]["DAC"]["interval"][0] <= summary["table"][0]["DAC"]["value"]
