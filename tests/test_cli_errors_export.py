"""``python -m luring_tf.export`` on a broken protection: one line naming the file that is missing or corrupt.

Issue 28, in the table style of test_cli_errors.py: each row runs the export's ``main`` as ``python -m
luring_tf.export`` does (in one batch process, tests/cli_batch.py: TensorFlow imported once) and asserts
exit status 2, one line on stderr naming the very file at fault (the classifier, its T or its record),
a hint that names a command and flags that do what they say (``--force`` only replaces the export
folder, so it never fixes a record), and no file created or changed. The models are tiny hand-built
.h5 files (a dense M, a 1x1-conv P, T = [P, M]), never trained.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pytest

from cli_table import changed, run_batches, selected_ids
from conftest import assert_one_line_error

EXPORT = "luring_tf/export/__main__.py"


@dataclass
class Case:
    id: str
    broken: str  # what _layout breaks in the case's folder
    words: list[str]
    absent: list[str] = field(default_factory=list)  # words the line must not hold (wrong files, wrong flags)
    target: str = "mine.h5"


RETRAIN = "python run_characterization.py --target-model {case}/mine.h5 --data-dir DIR --retrain"

CASES = [
    Case("target-missing", "nothing", ["--target-model {case}/none.h5 not found", "your trained Keras classifier"],
         ["luring_T", "protect it first"], target="none.h5"),
    Case("target-not-a-model", "text-target", ["cannot load model file {case}/mine.h5", "model.save"],
         ["luring_T", "--retrain"]),
    Case("target-not-h5", "nothing", ["--target-model {case}/notes.txt", "ending in .h5 or .keras"],
         target="notes.txt"),
    Case("T-missing", "no-T", ["{case}/mine_luring_T.h5 not found", "protect it first",
                               "python run_characterization.py --target-model {case}/mine.h5"], ["--force"]),
    Case("T-corrupt", "text-T", ["cannot load model file {case}/mine_luring_T.h5", RETRAIN], ["--force"]),
    Case("record-missing", "no-record", ["{case}/mine_luring.json not found", RETRAIN], ["--force"]),
    Case("record-corrupt", "truncated-record", ["{case}/mine_luring.json is corrupt", RETRAIN], ["--force"]),
    Case("record-not-a-record", "list-record", ["{case}/mine_luring.json is not a protection record", RETRAIN]),
    Case("T-of-another-model", "other-T", ["{case}/mine_luring_T.h5 was not built on {case}/mine.h5", RETRAIN]),
]


def _models():
    import keras

    from luring_tf.storage.models_io import compose

    def classifier(seed):
        keras.utils.set_random_seed(seed)
        return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10),
                                 keras.layers.Activation("softmax")], name="M")

    p = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(1, 1, use_bias=False)], name="P")
    p.layers[0].set_weights([np.ones((1, 1, 1, 1), np.float32)])
    m, other = classifier(0), classifier(1)
    return m, compose(p, m), compose(p, other)


def _layout(case: Case, folder, models) -> None:
    """A protected mine.h5 (M, T, record as protect writes them), then the case's damage."""
    from luring_tf.storage.models_io import save_model

    m, t, t_other = models
    folder.mkdir(parents=True)
    if case.broken == "nothing":
        return
    save_model(m, folder / "mine.h5")
    save_model(t_other if case.broken == "other-T" else t, folder / "mine_luring_T.h5")
    record = {"target_model": str(folder / "mine.h5"), "dataset": "mnist", "profile": "quick",
              "input_range": {"text": "0,1", "scale": [1.0], "offset": [0.0]}, "data": {"source": "sample"}}
    (folder / "mine_luring.json").write_text(json.dumps(record))
    if case.broken == "text-target":
        (folder / "mine.h5").write_text("my notes, saved with the wrong name\n")
        (folder / "mine_luring_T.h5").unlink()  # the old message named this one
    elif case.broken == "no-T":
        (folder / "mine_luring_T.h5").unlink()
    elif case.broken == "text-T":
        (folder / "mine_luring_T.h5").write_text("not a model\n")
    elif case.broken == "no-record":
        (folder / "mine_luring.json").unlink()
    elif case.broken == "truncated-record":
        (folder / "mine_luring.json").write_text(json.dumps(record)[:40])
    elif case.broken == "list-record":
        (folder / "mine_luring.json").write_text("[]\n")


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, request):
    """Run the selected cases in one batch process: id -> (result, files before, files after)."""
    work = tmp_path_factory.mktemp("cli-errors-export")
    selected = selected_ids(request, Case)
    models = _models()
    specs = []
    for case in CASES:
        if case.id not in selected:
            continue
        folder = work / case.id
        _layout(case, folder, models)
        args = ["--target-model", str(folder / case.target), "--out", str(folder / "out")]
        specs.append({"id": case.id, "script": EXPORT, "args": args, "cwd": folder, "watch": [folder]})
    return {**run_batches(specs, tmp_path_factory.mktemp("batches"), workers=1), "work": work}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_protection_names_the_file_at_fault_and_a_fix_that_works(outcomes, case):
    result, before, after = outcomes[case.id]
    print(result.stderr)  # shown by pytest on a failure (and with -rP)
    folder = outcomes["work"] / case.id
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert_one_line_error(result, *[w.format(case=folder) for w in case.words])
    for word in case.absent:
        assert word.format(case=folder) not in result.stderr, result.stderr
    assert not changed(before, after), f"files created or changed: {changed(before, after)}"
    assert not (folder / "out").exists()


def test_every_case_id_is_unique():
    assert len({c.id for c in CASES}) == len(CASES)
