"""--seeds: the whole protocol once per seed into seed_<s>/, resumable per seed, then the aggregate over the seeds."""

import gzip
import json
import statistics

import numpy as np
import pytest

from conftest import assert_one_line_error, run_script
from official_files import MNIST_NAMES, idx_bytes
from real_digits import digits

# M and Luring only, FGSM at one ε, tiny budgets: both seeds train and attack in seconds.
TINY = ["--approaches", "luring", "--attacks", "fgsm", "--eps", "0.3", "--n-examples", "8", "--quiet",
        "--set", "train.base.epochs=1", "--set", "train.base.lr=[0.003]", "--set", "train.base.augment=false",
        "--set", "train.luring.steps=20", "--set", "train.luring.eval_every=20", "--set", "train.luring.lr=[0.002]",
        "--set", "train.luring.lr_boundaries=[]", "--set", "train.luring.identity_warmup_steps=10",
        "--set", "train.luring.restarts=0"]
ANALYSIS = ["--approaches", "luring", "--n-examples", "8", "--n-images", "2", "--quiet",
            "--set", "analysis.cwl2.max_iterations=5", "--set", "analysis.cwl2.binary_search_steps=2"]
DEFENSE = ["--attack", "fgsm", "--approaches", "luring", "--eps", "0.3", "--n-examples", "8", "--quiet"]


def write_real_mnist(folder, n_train=300, n_test=60):
    """Official MNIST IDX files holding real digits (the shipped sample), split into train and test."""
    folder.mkdir(parents=True, exist_ok=True)
    x, y = digits(n_train + n_test, seed=5)
    x = np.round(x[..., 0] * 255).astype(np.uint8)
    parts = [idx_bytes(x[:n_train], 2051), idx_bytes(y[:n_train].astype(np.uint8), 2049),
             idx_bytes(x[n_train:], 2051), idx_bytes(y[n_train:].astype(np.uint8), 2049)]
    for name, data in zip(MNIST_NAMES, parts):
        (folder / f"{name}.gz").write_bytes(gzip.compress(data))


@pytest.fixture(scope="module")
def seeds_run(tmp_path_factory):
    """run_characterization.py, run_defense.py and run_analysis.py with --seeds 0 1, each twice (then: a rerun)."""
    work = tmp_path_factory.mktemp("seeds")
    write_real_mnist(work / "data")
    common = ["--dataset", "mnist", "--data-dir", str(work / "data"), "--models-dir", str(work / "models")]
    characterize = [*common, "--out", str(work / "results"), *TINY, "--seeds", "0", "1"]
    defend = [*common, "--out", str(work / "defense"), *DEFENSE, "--seeds", "0", "1"]
    analyse = [*common, "--out", str(work / "analysis"), *ANALYSIS, "--seeds", "0", "1"]
    lacking = ["--dataset", "mnist", "--data-dir", str(work / "data"), "--models-dir", str(work / "none"),
               "--out", str(work / "lacking"), *DEFENSE, "--seeds", "0", "1"]
    cases = [("defend without models", "run_defense.py", lacking),
             ("characterize", "run_characterization.py", characterize), ("defend", "run_defense.py", defend),
             ("analyse", "run_analysis.py", analyse), ("characterize again", "run_characterization.py", characterize),
             ("defend again", "run_defense.py", defend), ("analyse again", "run_analysis.py", analyse)]
    batch = [{"id": name, "script": script, "args": args, "cwd": str(work), "watch": []}
             for name, script, args in cases]
    (work / "cases.json").write_text(json.dumps(batch))
    # one process for all four runs: TensorFlow is imported once (tests/cli_batch.py)
    result = run_script("tests/cli_batch.py", str(work / "cases.json"), str(work / "results.json"), cwd=work)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work, json.loads((work / "results.json").read_text())


def _check(outcome):
    assert outcome["returncode"] == 0, outcome["stdout"][-3000:] + outcome["stderr"][-3000:]


def _recomputed(aggregate: dict, records: dict, rows_of) -> None:
    """Every aggregate row's per-seed values, mean, std, min and max, recomputed from the per-seed records."""
    expected = {}
    for seed, record in records.items():
        for key, rate in rows_of(record):
            expected.setdefault(key, {})[seed] = rate["value"]
    got = {}
    for row in aggregate["rows"]:
        labels = tuple(row[k] for k in ("model", "attack", "eps", "approach", "class") if k in row)
        got[(row["table"], labels, row["metric"])] = row
    assert set(got) == set(expected)
    for key, values in expected.items():
        row, given = got[key], [values[s] for s in records if values.get(s) is not None]
        assert row["per_seed"] == {str(s): values[s] for s in records}
        if not given:
            assert row["mean"] is None
            continue
        assert row["n"] == len(given)
        assert row["mean"] == pytest.approx(statistics.mean(given))
        assert row["min"] == min(given) and row["max"] == max(given)
        assert row["std"] == (pytest.approx(statistics.stdev(given)) if len(given) > 1 else None)


def _characterization_rates(record):
    for model, row in record["table8"].items():
        for metric in ("test_accuracy", "agreement_on_truth", "agreement"):
            if metric in row:
                yield ("table8", (model,), metric), row[metric]
    for row in record["characterization"]["results"]:
        for metric in ("success_rate", "DR", "IAR"):
            yield ("figure2", (row["attack"], row["eps"], row["approach"]), metric), row[metric]


def _defense_rates(record):
    for row in record["table"]:
        for metric in ("AC_MoP", "AC_M", "DAC", "DAC_policy", "clean_flag_rate"):
            if metric in row:
                yield ("defense", (row["eps"], row["approach"]), metric), row[metric]


def test_seeds_write_each_seed_and_the_aggregate(seeds_run):
    work, results = seeds_run
    _check(results["characterize"])
    out = work / "results"
    records = {s: json.loads((out / f"seed_{s}" / "characterization.json").read_text()) for s in (0, 1)}
    for seed, record in records.items():  # each seed trained its own models, in its own folder
        assert record["config"]["seed"] == seed
        assert record["models_dir"] == str(work / "models" / f"seed_{seed}")
        assert (work / "models" / f"seed_{seed}" / "luring_T.h5").is_file()
    assert not (work / "models" / "M.h5").exists()
    m = [(work / "models" / f"seed_{s}" / "M.h5").read_bytes() for s in (0, 1)]
    assert m[0] != m[1]  # two seeds, two trainings
    aggregate = json.loads((out / "aggregate_characterization.json").read_text())
    assert aggregate["seeds"] == [0, 1] and aggregate["records"]["1"] == "seed_1/characterization.json"
    _recomputed(aggregate, records, _characterization_rates)
    paper = {(r["model"], r["metric"]): r["paper"] for r in aggregate["rows"] if r["table"] == "table8"}
    assert paper[("M", "test_accuracy")] == 0.991 and paper[("luring", "agreement_on_truth")] == 0.969
    text = (out / "aggregate_characterization.md").read_text()
    assert "| model | rate | seed 0 | seed 1 | mean | std | min–max | paper |" in text
    assert "| Luring | test acc. |" in text and "| fgsm | 0.3 | Luring | DR |" in text


def test_defense_seeds_use_each_seeds_models(seeds_run):
    work, results = seeds_run
    _check(results["defend"])
    out = work / "defense"
    records = {s: json.loads((out / f"seed_{s}" / "defense_fgsm.json").read_text()) for s in (0, 1)}
    for seed, record in records.items():
        assert record["seed"] == seed and record["models_dir"] == str(work / "models" / f"seed_{seed}")
    aggregate = json.loads((out / "aggregate_defense_fgsm.json").read_text())
    _recomputed(aggregate, records, _defense_rates)
    assert aggregate["n"] == {str(s): records[s]["n"] for s in (0, 1)} and 0 < records[0]["n"] <= 8
    assert "| 0.3 | Luring | DAC |" in (out / "aggregate_defense_fgsm.md").read_text()


def _analysis_rates(record):
    for name, row in record["cwl2"]["table9"].items():
        yield ("table9", (name,), "success_rate"), {"value": row["n"] / row["n_total"] if row["n_total"] else None}
        for metric in ("mean_l2", "mean_linf"):
            yield ("table9", (name,), metric), {"value": row[metric]}
    for c, share in enumerate(record["table10"].get("all", [])):
        yield ("table10", (c,), "luring_highest"), {"value": share}


def test_analysis_seeds_aggregate_tables_9_and_10(seeds_run):
    work, results = seeds_run
    _check(results["analyse"])
    out = work / "analysis"
    records = {s: json.loads((out / f"seed_{s}" / "analysis.json").read_text()) for s in (0, 1)}
    for seed, record in records.items():
        assert record["fingerprint"]["config"]["seed"] == seed
        assert record["models_dir"] == str(work / "models" / f"seed_{seed}")
    aggregate = json.loads((out / "aggregate_analysis.json").read_text())
    _recomputed(aggregate, records, _analysis_rates)
    paper = {(r["model"], r["metric"]): r["paper"] for r in aggregate["rows"] if r["table"] == "table9"}
    assert paper[("luring", "mean_l2")] == 0.94  # Table 9, MNIST
    assert "| Luring | mean ℓ2 |" in (out / "aggregate_analysis.md").read_text()


def test_rerun_skips_finished_seeds(seeds_run):
    work, results = seeds_run
    for name in ("characterize again", "defend again", "analyse again"):
        _check(results[name])
        stdout = results[name]["stdout"]
        assert stdout.count("finished in") == 2 and "skipped" in stdout
        assert "training" not in stdout and " on luring: " not in stdout and "data:" not in stdout
    before = json.loads((work / "results" / "aggregate_characterization.json").read_text())
    assert before["rows"]  # rewritten from the same records: the same aggregate
    assert "| Luring |" in results["characterize again"]["stdout"]


def test_unfinished_seed_resumes(seeds_run, tmp_path):
    """A seed whose result is older than its models (retrained since) is not skipped."""
    from luring_tf.cli.seeds import finished

    work, results = seeds_run
    _check(results["characterize"])
    seed_out, models = work / "results" / "seed_0", work / "models" / "seed_0"
    result = seed_out / "characterization.json"
    stored = json.loads((seed_out / "run-config.json").read_text())["characterization"]
    files = [models / "M.h5", models / "luring_T.h5"]
    assert finished(seed_out, "characterization", stored, result, files)
    assert not finished(seed_out, "characterization", {**stored, "approaches": ["ce"]}, result, files)
    assert not finished(seed_out, "characterization", stored, result, files + [models / "ce_T.h5"])
    copy = tmp_path / "seed_0"
    copy.mkdir()
    for name in ("characterization.json", "run-config.json"):
        (copy / name).write_bytes((seed_out / name).read_bytes())
    newer = tmp_path / "M.h5"
    newer.write_bytes(b"retrained")  # written after the result: the seed has work left
    import os

    os.utime(copy / "characterization.json", ns=(1, 1))
    assert not finished(copy, "characterization", stored, copy / "characterization.json", [newer])


def test_missing_models_of_a_seed_name_the_training_command(seeds_run):
    work, results = seeds_run
    outcome = results["defend without models"]
    assert outcome["returncode"] == 2 and "Traceback" not in outcome["stderr"]
    line, = [text for text in outcome["stderr"].splitlines() if text.strip()]
    assert "models of seeds 0, 1 not found" in line and "run_characterization.py" in line and "--seeds 0 1" in line
    assert not (work / "lacking").exists()  # refused before any seed ran


def test_seed_and_seeds_are_refused_in_one_line(tmp_path):
    result = run_script("run_characterization.py", "--seed", "1", "--seeds", "0", "1", cwd=tmp_path)
    assert_one_line_error(result, "--seed and --seeds do not combine")
    again = run_script("run_defense.py", "--seeds", "2", "2", cwd=tmp_path)
    assert_one_line_error(again, "seed 2 twice")
    trapdoor = run_script("run_defense.py", "--seeds", "0", "1", "--public", "trapdoor", cwd=tmp_path)
    assert_one_line_error(trapdoor, "--seeds does not combine with --public trapdoor")
    assert not any(tmp_path.iterdir())  # refused before anything is written


def test_aggregate_of_identical_records_has_no_spread():
    from luring_tf.report.seeds import aggregate, aggregate_markdown

    rate = {"value": 0.1, "numerator": 1, "denominator": 10}
    record = {"dataset": "mnist", "profile": "quick", "attack": "spsa", "n": 10,
              "table": [{"eps": 0.3, "approach": "luring", "n": 10, "AC_MoP": rate, "AC_M": rate,
                         "DAC": {"value": None, "numerator": 0, "denominator": 0}}]}
    result = aggregate("defense", {0: record, 1: record, 2: record})
    rows = {row["metric"]: row for row in result["rows"]}
    assert rows["AC_M"]["std"] == 0.0 and rows["AC_M"]["mean"] == 0.1 and rows["AC_M"]["n"] == 3
    assert rows["AC_M"]["paper"] == 0.96  # Table 14, SPSA ε = 0.3, Luring
    assert rows["DAC"]["mean"] is None and rows["DAC"]["std"] is None  # undefined in every seed
    one = aggregate("defense", {4: record})["rows"][0]
    assert one["std"] is None and one["min"] == one["max"] == 0.1  # one seed: no standard deviation
    text = aggregate_markdown(result)
    assert "| 0.3 | Luring | AC_M | 0.100 | 0.100 | 0.100 | 0.100 | 0.000 | 0.100–0.100 | 0.960 |" in text


def test_api_seeds_run_the_script_and_return_the_aggregate(tmp_path, monkeypatch):
    """luring_tf.characterize / defend(seeds=...) run the scripts' main with --seeds and return the aggregate."""
    import luring_tf
    from luring_tf.cli import characterize, defend
    from luring_tf.errors import UserError

    with pytest.raises(UserError, match="--seed and --seeds do not combine"):
        luring_tf.characterize(seed=1, seeds=[0, 1], out=tmp_path)
    calls = []

    def fake_main(argv):
        calls.append(argv)
        name = "aggregate_characterization.json" if "--attack" not in argv else "aggregate_defense_mim-w.json"
        (tmp_path / name).write_text(json.dumps({"seeds": [0, 2]}))
        return 0

    monkeypatch.setattr(characterize, "main", fake_main)
    monkeypatch.setattr(defend, "main", fake_main)
    assert luring_tf.characterize("svhn", seeds=[0, 2], out=tmp_path, overrides=["train.base.epochs=1"]) == \
        {"seeds": [0, 2]}
    assert calls[-1][calls[-1].index("--seeds"):][:3] == ["--seeds", "0", "2"]
    assert ["--set", "train.base.epochs=1"] == calls[-1][calls[-1].index("--set"):][:2] and "svhn" in calls[-1]
    assert luring_tf.defend("MIM_W", seeds=[0, 2], out=tmp_path)["seeds"] == [0, 2]
    assert calls[-1][-2:] == ["--attack", "MIM_W"] and "--seed" not in calls[-1]
