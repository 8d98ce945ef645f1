"""Non-finite models and unusable --data-dir folders: each run exits 2 with one line, and changes no file.

Issue 10, defects 1, 2 (--target-model) and 5, in the table style of test_cli_errors.py: every row runs a
script as a user would (its main, in a batch process) and asserts exit status 2, one line on stderr naming
the problem, no traceback, and no file created or changed in its output folder, its models or its data. The models are tiny
hand-built .h5 files (a dense M, a 1x1-conv P, T = Sequential([P, M])), never trained. The rows run in two
batch processes (tests/cli_batch.py), TensorFlow imported once in each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from cli_table import make_readonly, run_batches, selected_ids, undo_readonly
from conftest import assert_one_line_error
from official_files import write_mnist

C, D = "run_characterization.py", "run_defense.py"
LURING = ["--approaches", "luring"]
FGSM = ["--attack", "fgsm", "--eps", "0.3", "--n-examples", "10"]
FILES = ["--data-source", "files", "--data-dir", "{data}"]
MNIST_FILES = "train-images-idx3-ubyte.gz"


@dataclass
class Case:
    id: str
    script: str
    args: list[str]
    words: list[str]
    with_out: bool = True  # pass --out <case>/out (--target-model takes no --out)
    readonly: bool = False  # needs a folder the run cannot write to
    may_write: tuple = ()  # file names the run may write before it stops (see the T cases)


DATA_DIRS = [  # (id, --data-dir, words): the MNIST sample must never stand in for a folder the user named
    ("missing", "{case}/no-such-folder", ["does not exist"]),
    ("empty", "{empty}", ["holds no MNIST data"]),
    ("file", "{afile}", ["is a file, not a folder"]),
]

# Weights are checked when the models load, before anything is written; outputs that overflow are found
# when the evaluation set is drawn, after run_defense.py has recorded its configuration (run-config.json):
# that record may appear then; no adversarial set, cell or result may.
AFTER_CLAIM = ("run-config.json",)

CASES = [
    # non-finite outputs of T (defect 1): a NaN bias in P, and finite weights whose activations overflow to Inf
    Case("nan-T-d", D, ["--models-dir", "{nan_t}", *LURING, *FGSM, *FILES], ["non-finite", "luring_T", "NaN"]),
    Case("overflow-T-d", D, ["--models-dir", "{overflow_t}", *LURING, *FGSM, *FILES], ["non-finite", "luring_T"],
         may_write=AFTER_CLAIM),
    # --target-model with non-finite weights (defect 1) or in a folder the run cannot write to (defect 2)
    Case("target-nan-c", C, ["--target-model", "{nan_m}/mine.h5", *FILES], ["non-finite", "mine.h5", "NaN"],
         with_out=False),
    Case("target-inf-c", C, ["--target-model", "{inf_m}/mine.h5", *FILES], ["non-finite", "mine.h5", "Inf"],
         with_out=False),
    Case("target-readonly-folder-c", C, ["--target-model", "{readonly}/mine.h5", *FILES],
         ["--target-model", "not writable"], with_out=False, readonly=True),
    # --data-dir that holds no usable data (defect 5), for both scripts
    *[Case(f"data-dir-{kind}-{script[4]}", script, ["--models-dir", "{good}", *LURING, "--data-dir", data_dir],
           ["--data-dir", *words, MNIST_FILES])
      for kind, data_dir, words in DATA_DIRS for script in (C, D)],
]


def _tiny_models(root):
    """Folders of .h5 files: good; T with a NaN in P; T whose P overflows M's logits; M with NaN / Inf weights."""
    import keras

    from luring_tf.storage.models_io import compose, save_model

    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10),
                          keras.layers.Activation("softmax")], name="M")

    def component(kernel=1.0, bias=0.0, layers=1):
        p = keras.Sequential([keras.Input((28, 28, 1)), *[keras.layers.Conv2D(1, 1) for _ in range(layers)]],
                             name="P")
        for layer in p.layers:
            layer.set_weights([np.full((1, 1, 1, 1), kernel, np.float32), np.full(1, bias, np.float32)])
        return p

    def folder(name, p):
        path = root / name
        save_model(m, path / "M.h5")
        save_model(p, path / "luring_P.h5")
        save_model(compose(p, m), path / "luring_T.h5")
        return path

    def target(name, value):
        model = keras.models.clone_model(m)
        kernel, bias = m.layers[1].get_weights()
        bias[3] = value
        model.layers[1].set_weights([kernel, bias])
        save_model(model, root / name / "mine.h5")
        return root / name

    return {"good": folder("good", component()), "nan_t": folder("nan_t", component(bias=np.nan)),
            "overflow_t": folder("overflow_t", component(kernel=1e38, layers=2)),  # pixel * 1e76 = Inf
            "nan_m": target("nan_m", np.nan), "inf_m": target("inf_m", np.inf), "readonly": target("readonly", 0.0)}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, request):
    """Run the selected cases in two batch processes: id -> (result, files before, files after) or a skip reason."""
    work = tmp_path_factory.mktemp("cli-errors-data")
    selected = selected_ids(request, Case)
    places = {"work": work, **_tiny_models(work / "models")}
    write_mnist(work / "data", n_train=60, n_test=20, pattern=True)
    (work / "empty").mkdir()
    (work / "afile").write_text("not a folder\n")
    places.update(data=work / "data", empty=work / "empty", afile=work / "afile")
    readonly_ok = make_readonly(places["readonly"])

    specs, skipped = [], {}
    for case in CASES:
        if case.id not in selected:
            continue
        if case.readonly and not readonly_ok:
            skipped[case.id] = "no way to make a folder read-only here (root without chattr)"
            continue
        case_dir = work / "cases" / case.id
        case_dir.mkdir(parents=True)
        args = [a.format(case=case_dir, **places) for a in case.args]
        if case.with_out:
            args += ["--out", str(case_dir / "out")]
        specs.append({"id": case.id, "script": case.script, "args": args, "cwd": case_dir, "watch": [work]})
    try:
        return {**run_batches(specs, tmp_path_factory.mktemp("batches")), **skipped}
    finally:
        if readonly_ok:
            undo_readonly(places["readonly"])


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_unusable_model_or_data_is_one_line_exit_2_and_touches_nothing(outcomes, case):
    outcome = outcomes[case.id]
    if isinstance(outcome, str):
        pytest.skip(outcome)
    result, before, after = outcome
    print(result.stderr)  # shown by pytest on a failure (and with -rP)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert_one_line_error(result, *case.words)
    assert "mlxtend" not in result.stderr and "1.000" not in result.stdout  # no sample, no perfect score
    # the two batches run concurrently: only this case's folder and the shared inputs count
    mine = [path for path in set(before) | set(after) if "/cases/" not in path or f"/cases/{case.id}/" in path]
    changed = sorted(path for path in mine if before.get(path) != after.get(path)
                     and path.rsplit("/", 1)[-1] not in case.may_write)
    assert not changed, f"files created or changed: {changed}"


def test_every_case_id_is_unique():
    assert len({c.id for c in CASES}) == len(CASES)
