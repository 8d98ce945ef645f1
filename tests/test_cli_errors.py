"""Hostile input to the run scripts, one table: each case exits 2 with one line on stderr, and changes no file.

Every row runs a script as a user would (a subprocess) and asserts: exit status 2, one line on
stderr naming the problem, no traceback, and no file created or changed in its output folder or
in the model folders. The models are tiny hand-built .h5 files (a dense M, 1x1-conv components).
Cases that fail before TensorFlow loads take about a second; the others about as long as its import,
so the rows run two at a time. (NaN inputs, --data-dir fallback and the tfds path: test_cli_errors_data.py.)
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np
import pytest

from cli_table import changed, make_readonly, run_two_at_a_time, selected_ids, snapshot, undo_readonly
from conftest import assert_one_line_error, run_script
from official_files import MNIST_NAMES, write_mnist

C, D, A = "run_characterization.py", "run_defense.py", "run_analysis.py"
LURING = ["--approaches", "luring"]


@dataclass
class Case:
    id: str
    script: str
    args: list[str]
    words: list[str]
    out: str = "absent"  # state of the output folder before the run (see _prepare)
    with_out: bool = True  # pass --out <case>/out
    readonly: bool = False  # needs a folder the run cannot write to


CASES = [
    # flags a script does not honour (issue 10, defect 8)
    Case("defense-retrain", D, ["--retrain"], ["--retrain only retrains the trapdoored model", "--public trapdoor"]),
    Case("defense-public-unknown", D, ["--public", "honeypot"], ["unknown public model 'honeypot'", "trapdoor"]),
    Case("analysis-retrain", A, ["--retrain"], ["unrecognized arguments: --retrain"]),
    Case("render-only-eps", A, ["--render-only", "--eps", "0.5"], ["--render-only ignores --eps"]),
    Case("render-only-force", A, ["--render-only", "--n-examples", "5", "--force"],
         ["--render-only ignores", "--n-examples", "--force"]),
    Case("target-model-attacks", C, ["--target-model", "{good}/M.h5", "--attacks", "fgsm"],
         ["--target-model ignores", "--attacks", "--out"]),
    # configuration values: one schema, every script (defect 3)
    Case("set-batch-size-0", D, ["--set", "defense.batch_size=0"], ["defense.batch_size=0", "a positive integer"]),
    Case("set-batch-size-abc", D, ["--set", "defense.batch_size=abc"], ["defense.batch_size=abc", "a positive integer"]),
    Case("set-seed-abc", D, ["--set", "seed=abc"], ["seed=abc", "an integer >= 0"]),
    Case("set-eps-abc", D, ["--set", "defense.eps=abc"], ["defense.eps=abc", "[0, 1]"]),
    Case("set-n-examples-abc", D, ["--set", "defense.n_examples=abc"], ["defense.n_examples=abc", "positive integer"]),
    Case("set-steps-negative", C, ["--set", "train.luring.steps=-5"], ["train.luring.steps=-5", "a positive integer"]),
    Case("set-cwl2-iterations", A, ["--set", "analysis.cwl2.max_iterations=0"], ["analysis.cwl2.max_iterations=0"]),
    Case("set-augment", C, ["--set", "train.base.augment=maybe"], ["train.base.augment=maybe", "rotation_deg"]),
    Case("set-lr-boundaries", C, ["--set", "train.base.lr=[0.1, 0.01]"], ["lr_boundaries"]),
    Case("set-unknown-key", C, ["--set", "nokey=1"], ["unknown configuration key"]),
    Case("seed-negative-c", C, ["--seed", "-1"], ["--seed -1", "an integer >= 0"]),
    Case("seed-negative-d", D, ["--seed", "-1"], ["--seed -1", "an integer >= 0"]),
    Case("seed-not-int", C, ["--seed", "abc"], ["invalid int value"]),
    Case("n-examples-0", A, ["--n-examples", "0"], ["--n-examples 0", "positive"]),
    Case("eps-c", C, ["--eps", "1.5"], ["outside [0, 1]"]),
    Case("eps-d", D, ["--eps", "0.3", "1.5"], ["outside [0, 1]"]),
    # unknown names
    Case("dataset-c", C, ["--dataset", "cifar100"], ["unknown dataset", "mnist"]),
    Case("dataset-d", D, ["--dataset", "cifar100"], ["unknown dataset"]),
    Case("profile", C, ["--profile", "huge"], ["unknown profile"]),
    Case("attack-d", D, ["--attack", "cw"], ["unknown attack", "mim-w"]),
    Case("attack-c", C, ["--attacks", "spsa"], ["unknown attack"]),
    Case("approach-cifar-auto", C, ["--approaches", "auto", "--dataset", "cifar10"], ["unknown approach"]),
    Case("target-missing", C, ["--target-model", "{case}/none.h5"], ["not found"], with_out=False),
    # missing or hostile models (defect 4)
    Case("models-missing-d", D, ["--models-dir", "{case}/none"],
         ["not found", "M.h5", "python run_characterization.py --dataset mnist --profile quick"]),
    Case("models-missing-a", A, ["--models-dir", "{case}/none"], ["not found", "run_characterization.py"]),
    Case("shape-d", D, ["--models-dir", "{shape}", *LURING], ["M.h5", "shape (32, 32, 3)", "(28, 28, 1)"]),
    Case("classes-d", D, ["--models-dir", "{five}", *LURING], ["M.h5", "outputs 5 classes"]),
    Case("classes-a", A, ["--data-source", "files", "--data-dir", "{data}", "--models-dir", "{five}", *LURING],
         ["M.h5", "outputs 5 classes"]),
    Case("other-m-d", D, ["--models-dir", "{other_m}", *LURING], ["luring_T.h5", "was not built on", "M.h5"]),
    Case("other-m-c", C, ["--models-dir", "{other_m}", *LURING], ["luring_T.h5", "was not built on"]),
    Case("orphan-t-c", C, ["--models-dir", "{orphan}", *LURING], ["luring_T.h5", "M.h5 is missing"]),
    Case("corrupt-m-c", C, ["--models-dir", "{corrupt}", *LURING], ["M.h5", "--retrain"]),
    Case("corrupt-m-d", D, ["--models-dir", "{corrupt}", *LURING], ["cannot load model file", "M.h5",
                                                                     "run_characterization.py --retrain"]),
    # output locations (defect 2)
    Case("out-is-file-d", D, ["--models-dir", "{good}", *LURING], ["is a file"], out="file"),
    Case("out-is-file-c", C, ["--models-dir", "{good}", *LURING], ["is a file"], out="file"),
    Case("out-under-file-d", D, ["--models-dir", "{good}", *LURING, "--out", "{case}/afile/out"],
         ["not writable"], with_out=False, out="afile"),
    Case("out-readonly-d", D, ["--models-dir", "{good}", *LURING, "--out", "{readonly}/out"], ["--out", "not writable"],
         with_out=False, readonly=True),
    Case("models-dir-readonly-c", C, ["--models-dir", "{readonly}"], ["--models-dir", "not writable"],
         readonly=True),
    Case("target-readonly-c", C, ["--target-model", "{readonly}/M.h5"], ["--target-model", "not writable"],
         with_out=False, readonly=True),
    # corrupt result files, results of another configuration, a second run (defects 6, 7, 9)
    Case("run-config-corrupt-d", D, ["--models-dir", "{good}", *LURING], ["run-config.json", "corrupt", "--force"],
         out="corrupt"),
    Case("defense-other-seed", D, ["--models-dir", "{good}", *LURING], ["defense_spsa", "another configuration",
                                                                        "--force"], out="other_defense"),
    Case("locked-d", D, ["--models-dir", "{good}", *LURING], ["another run (pid {pid})", "--out"], out="locked"),
    Case("svhn-no-data-dir", C, ["--dataset", "svhn", "--models-dir", "{case}/m"], ["--data-dir", "train_32x32.mat"]),
    Case("files-no-data-dir", C, ["--data-source", "files", "--models-dir", "{good}", *LURING], ["--data-dir"]),
    Case("damaged-idx-d", D, ["--data-source", "files", "--data-dir", "{damaged}", "--models-dir", "{good}", *LURING],
         [MNIST_NAMES[2], "truncated"], out="results"),
]


def _tiny_models(root):
    """Model folders: good, another input shape, 5 classes, T over another M, T without M, corrupt M."""
    import keras

    from luring_tf.storage.models_io import compose, save_model

    def classifier(shape=(28, 28, 1), classes=10, seed=0):
        keras.utils.set_random_seed(seed)
        return keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(classes),
                                 keras.layers.Activation("softmax")], name="M")

    def component(shape=(28, 28, 1)):
        p = keras.Sequential([keras.Input(shape), keras.layers.Conv2D(shape[-1], 1, use_bias=False)], name="P")
        p.layers[0].set_weights([np.eye(shape[-1], dtype=np.float32).reshape(1, 1, shape[-1], shape[-1])])
        return p

    def folder(name, m, t_over=None, write_m=True):
        path = root / name
        p = component(m.input_shape[1:])
        if write_m:
            save_model(m, path / "M.h5")
        save_model(p, path / "luring_P.h5")
        save_model(compose(p, t_over or m), path / "luring_T.h5")
        return path

    m = classifier()
    paths = {"good": folder("good", m), "shape": folder("shape", classifier((32, 32, 3))),
             "five": folder("five", classifier(classes=5)),
             "other_m": folder("other_m", m, t_over=classifier(seed=1)),
             "orphan": folder("orphan", m, write_m=False), "corrupt": folder("corrupt", m)}
    (paths["corrupt"] / "M.h5").write_bytes(b"garbage")
    return paths


def _prepare(case: Case, case_dir):
    """Lay out the case's output folder; returns a release function (the held lock of 'locked')."""
    out = case_dir / "out"
    if case.out == "file":
        out.write_text("not a folder\n")
    elif case.out == "afile":
        (case_dir / "afile").write_text("a file where a folder is expected\n")
    elif case.out == "corrupt":
        out.mkdir()
        (out / "run-config.json").write_text('{"characterization": {"config": ')
    elif case.out == "other_defense":  # a finished spsa run with seed 7
        out.mkdir()
        (out / "run-config.json").write_text('{"defense_spsa": {"seed": 7}}\n')
        (out / "defense_spsa.json").write_text('{"attack": "spsa", "seed": 7}\n')
    elif case.out == "results":
        out.mkdir()
        (out / "defense_fgsm.json").write_text('{"attack": "fgsm"}\n')
    elif case.out == "locked":
        out.mkdir()
        fd = os.open(out / ".luring-tf.lock", os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, f"{os.getpid()}\n".encode())
        return lambda: os.close(fd)
    return lambda: None


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, request):
    """Run the selected cases, two at a time: id -> (result, files before, files after, or a skip reason)."""
    work = tmp_path_factory.mktemp("cli-errors")
    selected = selected_ids(request, Case)
    models = _tiny_models(work / "models")
    x_train, _, _, _ = write_mnist(work / "data", n_train=60, n_test=20, pattern=True)
    write_mnist(work / "damaged", n_train=60, n_test=20, gz=False, pattern=True)
    name = work / "damaged" / MNIST_NAMES[2]
    name.write_bytes(name.read_bytes()[:16 + 28 * 28 * 3 + 5])
    readonly = work / "readonly"
    readonly.mkdir()
    shutil.copy(models["good"] / "M.h5", readonly / "M.h5")
    readonly_ok = make_readonly(readonly)
    places = {"work": work, "data": work / "data", "damaged": work / "damaged", "readonly": readonly, **models}

    def one(case: Case):
        if case.readonly and not readonly_ok:
            return "no way to make a folder read-only here (root without chattr)"
        case_dir = work / "cases" / case.id
        case_dir.mkdir(parents=True)
        release = _prepare(case, case_dir)
        args = [a.format(case=case_dir, **places) for a in case.args]
        if case.with_out:
            args += ["--out", str(case_dir / "out")]
        watched = [case_dir, readonly, *models.values()]
        before = snapshot(*watched)
        try:
            result = run_script(case.script, *args, cwd=case_dir, timeout=300)
        finally:
            release()
        return result, before, snapshot(*watched)

    try:
        return run_two_at_a_time(one, [c for c in CASES if c.id in selected])
    finally:
        if readonly_ok:
            undo_readonly(readonly)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2_and_touches_nothing(outcomes, case):
    outcome = outcomes[case.id]
    if isinstance(outcome, str):
        pytest.skip(outcome)
    result, before, after = outcome
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert_one_line_error(result, *[w.format(pid=os.getpid()) for w in case.words])
    assert not changed(before, after), f"files created or changed: {changed(before, after)}"


def test_every_case_id_is_unique():
    assert len({c.id for c in CASES}) == len(CASES)



def test_lock_refuses_a_second_holder_and_is_removed_on_release(tmp_path):
    import sys

    from luring_tf.storage import lock

    lock.lock_folder(tmp_path)
    assert (tmp_path / lock.LOCK_NAME).read_text().strip() == str(os.getpid())
    lock.lock_folder(tmp_path)  # the same process again: fine
    code = ("import sys; from luring_tf.storage import lock\n"
            "try:\n    lock.lock_folder(sys.argv[1])\n    print('locked')\nexcept Exception as exc:\n    print(exc)\n")
    other = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert f"another run (pid {os.getpid()}) is writing to --out {tmp_path}" in other.stdout
    lock.release(tmp_path)
    assert not (tmp_path / lock.LOCK_NAME).exists()
    other = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert other.stdout.strip() == "locked"
    assert not (tmp_path / lock.LOCK_NAME).exists()  # released and removed when that process exited


def test_claim_refuses_another_configuration_and_force_replaces_a_corrupt_record(tmp_path):
    import json

    from luring_tf.cli import run_folder
    from luring_tf.errors import UserError

    run_folder.claim_output(tmp_path, "defense_spsa", {"seed": 0, "eps": (0.3,)}, force=False)()
    run_folder.claim_output(tmp_path, "defense_spsa", {"seed": 0, "eps": (0.3,)}, force=False)  # same: fine
    run_folder.claim_output(tmp_path, "defense_eco", {"seed": 1}, force=False)  # another result: fine
    with pytest.raises(UserError, match="defense_spsa results of another configuration"):
        run_folder.claim_output(tmp_path, "defense_spsa", {"seed": 1, "eps": (0.3,)}, force=False)
    record = tmp_path / "run-config.json"
    before = record.read_text()
    claim = run_folder.claim_output(tmp_path, "defense_spsa", {"seed": 1}, force=True)
    assert record.read_text() == before  # nothing is written before claim()
    claim()
    assert json.loads(record.read_text()) == {"defense_spsa": {"seed": 1}}
    record.write_text('{"defense_spsa": ')
    with pytest.raises(UserError, match=r"run-config.json is corrupt .*--force"):
        run_folder.claim_output(tmp_path, "defense_spsa", {"seed": 1}, force=False)
    run_folder.claim_output(tmp_path, "defense_spsa", {"seed": 2}, force=True)()
    assert json.loads(record.read_text()) == {"defense_spsa": {"seed": 2}}
