"""run_characterization.py as a user runs it: end to end on tiny official files, and bad input."""

import json

import pytest

from conftest import assert_one_line_error, run_script
from official_files import write_mnist

# Tiny sizes: every stage runs, in seconds.
TINY = ["--set", "train.base.epochs=3", "--set", "train.base.lr=[0.003]", "--set", "train.stack.epochs=12",
        "--set", "train.stack.lr=[0.001]",
        "--set", "train.ce.steps=150", "--set", "train.ce.eval_every=50", "--set", "train.ce.lr=[0.002]",
        "--set", "train.ce.lr_boundaries=[]", "--set", "train.ce.identity_warmup_steps=60",
        "--set", "train.luring.steps=150", "--set", "train.luring.eval_every=50", "--set", "train.luring.lr=[0.002]",
        "--set", "train.luring.lr_boundaries=[]", "--set", "train.luring.identity_warmup_steps=60",
        "--set", "characterization.attacks.pgd.nb_iter=2", "--set", "characterization.attacks.mim.nb_iter=2",
        "--set", "characterization.attacks.miml2.nb_iter=2", "--n-examples", "6", "--eps", "0.2", "0.4", "--quiet"]


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("mnist")
    write_mnist(work / "data", n_train=300, n_test=60, pattern=True)
    # M without the quick profile's random augmentation: not repeatable across tf.data threads
    args = ["--dataset", "mnist", "--data-dir", str(work / "data"), "--set", "train.auto.epochs=40", "--set", "train.auto.lr=[0.005]",
            "--set", "train.base.augment=false",
            "--models-dir", str(work / "models"), "--out", str(work / "results"), *TINY]
    # Two task threads (luring_tf.workers): the trainings and the attack cells run side by side.
    result = run_script("run_characterization.py", *args, "--jobs", "2", cwd=work)
    return work, args + ["--jobs", "2"], result


def test_mnist_end_to_end_writes_every_result(mnist_run):
    work, _, result = mnist_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = work / "results"
    for name in ("characterization.json", "characterization.csv", "characterization.md", "figure2.png"):
        assert (out / name).stat().st_size > 0
    record = json.loads((out / "characterization.json").read_text())
    assert set(record["table8"]) == {"M", "stack", "auto", "ce", "luring"}
    rows = record["characterization"]["results"]
    assert {(r["attack"], r["approach"]) for r in rows} >= {("fgsm", "luring"), ("miml2", "stack")}
    assert len(rows) == 4 * 2 * 4  # attacks x eps x approaches
    for row in rows:  # the stated denominator is the kept set
        assert row["DR"]["denominator"] == row["kept"] == row["IAR"]["denominator"]
    for name in ("M.h5", "stack_P.h5", "stack_T.h5", "auto_T.h5", "ce_T.h5", "luring_P.h5", "luring_T.h5"):
        assert (work / "models" / name).is_file()
    assert "denominator" in (out / "characterization.md").read_text() or "kept" in (out / "characterization.md").read_text()


def _weights(path):
    import keras

    return keras.models.load_model(path, compile=False).get_weights()


def test_two_jobs_give_the_same_models_and_tables_as_one(mnist_run, tmp_path):
    work, args, first = mnist_run
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "in 2 threads" in first.stdout and "luring trained in" in first.stdout
    for name in ("M", "stack", "auto", "ce", "luring"):  # each training's output in its log
        assert "training" in (work / "models" / "logs" / f"{name}.log").read_text()
    assert "on luring: " in (work / "results" / "logs" / "attacks_luring.log").read_text()
    flags = args[:args.index("--models-dir")] + args[args.index("--out") + 2:-2]  # without folders and --jobs
    # M and Luring trained in this process: the same weights as trained in the workers
    alone = run_script("run_characterization.py", *flags, "--approaches", "luring", "--models-dir",
                       str(tmp_path / "models"), "--out", str(tmp_path / "luring"), "--jobs", "1", cwd=work)
    assert alone.returncode == 0, alone.stdout[-3000:] + alone.stderr[-3000:]
    assert "threads" not in alone.stdout
    for name in ("M.h5", "luring_T.h5"):
        two, single = _weights(work / "models" / name), _weights(tmp_path / "models" / name)
        assert len(two) == len(single) > 0
        for i, (a, b) in enumerate(zip(two, single)):
            assert a.shape == b.shape and (a == b).all(), (name, i)
    # the attack cells of the same models computed in this process: the same tables
    cells = run_script("run_characterization.py", *flags, "--models-dir", str(work / "models"),
                       "--out", str(tmp_path / "results"), "--jobs", "1", cwd=work)
    assert cells.returncode == 0, cells.stdout[-3000:] + cells.stderr[-3000:]
    assert "training" not in cells.stdout and " on luring: " in cells.stdout
    records = [json.loads((folder / "results" / "characterization.json").read_text()) for folder in (work, tmp_path)]
    assert records[0]["table8"] == records[1]["table8"]
    assert records[0]["characterization"] == records[1]["characterization"]


def test_rerun_reuses_models_and_cells(mnist_run):
    work, args, first = mnist_run
    assert first.returncode == 0
    stamp = (work / "models" / "luring_T.h5").stat().st_mtime_ns
    result = run_script("run_characterization.py", *args, cwd=work)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "training" not in result.stdout and "loading luring T" in result.stdout
    assert (work / "models" / "luring_T.h5").stat().st_mtime_ns == stamp
    assert " on luring: " not in result.stdout  # every attack cell came from disk


def test_protect_a_user_model_and_reject_wrong_shape(mnist_run, tmp_path):
    work, _, first = mnist_run
    assert first.returncode == 0
    target = tmp_path / "mine.h5"
    target.write_bytes((work / "models" / "M.h5").read_bytes())
    args = ["--dataset", "mnist", "--data-dir", str(work / "data"), "--set", "train.luring.steps=20",
            "--set", "train.luring.eval_every=10", "--set", "train.luring.identity_warmup_steps=300",
            "--set", "train.luring.restarts=0", "--set", "train.luring.min_agreement=0.0"]
    result = run_script("run_characterization.py", "--target-model", str(target), *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "mine_luring_T.h5").is_file() and (tmp_path / "mine_luring.json").is_file()
    again = run_script("run_characterization.py", "--target-model", str(target), *args, cwd=tmp_path)
    assert_one_line_error(again, "already exists", "--retrain")
    fresh = tmp_path / "fresh" / "mine.h5"  # no protected model beside it: the shape check itself answers
    fresh.parent.mkdir()
    fresh.write_bytes(target.read_bytes())
    wrong = run_script("run_characterization.py", "--target-model", str(fresh), "--dataset", "svhn",
                       "--data-dir", str(work / "data"), cwd=tmp_path)
    assert_one_line_error(wrong, "shape")


# Bad input (unknown names, bad values, corrupt or missing model files...): tests/test_cli_errors.py
