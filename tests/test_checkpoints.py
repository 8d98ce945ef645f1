"""Resumable training (issue 12, item 3): a run interrupted mid-way continues from its last saved epoch and
ends with the weights of an uninterrupted run -- luring P (warm-up, augmentation, an lr boundary after the
interruption) in a subprocess that dies by ``os._exit`` after 2 of 4 evaluations; M (dropout, batch norm,
augmentation, an lr boundary after the interruption) from the checkpoint an uninterrupted run left after
epoch 2, copied aside (what a kill there leaves: the file is replaced atomically). A checkpoint of another
configuration is ignored and replaced; a finished run leaves no checkpoint; streams skip exactly the
consumed images. Tiny models and data; the subprocess runs beside the in-process trainings."""

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from conftest import ROOT
from luring_tf.data import streams
from luring_tf.storage import files
from luring_tf.training import checkpoints, trainers

SHAPE = (8, 8, 1)
M_CFG = {"epochs": 4, "batch_size": 16, "lr": [0.01, 0.003], "lr_boundaries": [3]}
P_CFG = {"steps": 16, "batch_size": 16, "lr": [0.01, 0.003], "lr_boundaries": [10], "eval_every": 4,
         "restarts": 0, "identity_warmup_steps": 3, "augment": True}
AUGMENT = {"rotation_deg": 8, "shift_px": 1}
OTHER_KEY = "0" * 32  # the key of a checkpoint saved by another configuration


def tiny_data(n_train=90, n_val=24):
    """90 training images: 6 batches of 16 an epoch, so batches straddle the passes over the data.
    The class is a faint row under noise: accuracy and agreement still improve after the interruption."""
    rng = np.random.default_rng(0)

    def split(n):
        y = np.arange(n) % 3
        x = rng.random((n, *SHAPE)).astype("float32") * 0.6
        x[np.arange(n), y * 2, :, 0] += 0.3
        return x, y

    (xt, yt), (xv, yv) = split(n_train), split(n_val)
    return SimpleNamespace(x_train=xt, y_train=yt, x_val=xv, y_val=yv)


def _classifier():
    return keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(16, use_bias=False),
                             keras.layers.BatchNormalization(), keras.layers.ReLU(), keras.layers.Dropout(0.3),
                             keras.layers.Dense(3), keras.layers.Activation("softmax")], name="M")


def _component():
    return keras.Sequential([keras.Input(SHAPE), keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
                             keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")], name="P")


def _row_reader():
    """A fixed M that reads the bright row (the luring P trains against it)."""
    m = keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(3),
                          keras.layers.Activation("softmax")], name="M_rows")
    w = np.zeros((64, 3), np.float32)
    for c in range(3):
        w[16 * c:16 * c + 8, c] = 1.0
    m.layers[1].set_weights([w, np.zeros(3, np.float32)])
    return m


def train(kind: str, folder: Path, lr=None):
    """Train M ("M") or a luring P against a fixed M ("luring") with checkpoints under ``folder``;
    returns (weights, summary)."""
    data, augment = tiny_data(), trainers.augmentation(AUGMENT)
    if kind == "M":
        model, summary = trainers.train_classifier(_classifier, data, dict(M_CFG, lr=lr or M_CFG["lr"]),
                                                   augment=augment, seed=5, checkpoint=checkpoints.at(folder, "M"))
    else:
        model = _component()
        summary = trainers.train_component(model, _row_reader(), data, P_CFG, "luring", augment, seed=5,
                                           checkpoint=checkpoints.at(folder, "luring"))
    return [np.asarray(w) for w in model.get_weights()], summary


KILLED = """
import os, sys
from pathlib import Path
import test_checkpoints as t
from luring_tf.training import checkpoints

saved = checkpoints.EpochCheckpoint.on_epoch_end
def on_epoch_end(self, epoch, logs=None):
    saved(self, epoch, logs)
    if epoch + 1 == 2:
        os._exit(9)  # the process dies after its 2nd evaluation, as under SIGKILL: no clean-up runs
checkpoints.EpochCheckpoint.on_epoch_end = on_epoch_end
t.train("luring", Path(sys.argv[1]))
"""


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """A luring training in a subprocess that dies after 2 of 4 evaluations (runs while other tests train)."""
    folder = tmp_path_factory.mktemp("killed")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]), TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(KILLED), str(folder)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 9, out[-2000:] + err[-2000:]
        return folder

    yield wait
    if process.poll() is None:
        process.kill()
        process.communicate()


@pytest.fixture(scope="module")
def m_runs(tmp_path_factory, killed):
    """An uninterrupted M training whose checkpoint after epoch 2 is copied aside: what a run killed there
    leaves on disk (the file is replaced atomically). Its folder starts with a checkpoint of another
    configuration (at epoch 3), to be ignored and replaced. Returns (weights, summary, folder, copy, log)."""
    folder, snapshot = tmp_path_factory.mktemp("m_full"), tmp_path_factory.mktemp("m_snapshot")
    checkpoints.save(checkpoints.at(folder, "M"), checkpoints.State(
        key=OTHER_KEY, run=0, epoch=3, epochs=4, variables=[np.zeros(2)], optimizer=[np.zeros(2)]))
    saved = checkpoints.EpochCheckpoint.on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        saved(self, epoch, logs)
        if epoch + 1 == 2:
            shutil.copytree(self.location.folder, snapshot / "M")

    log = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(log):
        patch.setattr(checkpoints.EpochCheckpoint, "on_epoch_end", on_epoch_end)
        weights, summary = train("M", folder)
    return weights, summary, folder, snapshot, log.getvalue()


def _epochs_run(out: str) -> list[str]:
    return [line.split()[1] for line in out.splitlines() if line.startswith("Epoch ")]


def _resume(kind, name, folder, reference, capsys):
    checkpoint = checkpoints.at(folder, kind).path
    assert checkpoint.is_file()
    capsys.readouterr()
    weights, _ = train(kind, folder)
    out = capsys.readouterr().out
    assert f"resuming {name} from epoch 2/4 ({checkpoint})" in out
    assert _epochs_run(out) == ["3/4", "4/4"]  # only the remaining epochs ran
    assert len(weights) == len(reference) and all(np.array_equal(a, b) for a, b in zip(weights, reference))
    assert not checkpoint.exists() and not (folder / checkpoints.FOLDER).exists()  # deleted when finished


def test_an_interrupted_m_training_resumes_from_epoch_2_with_the_uninterrupted_weights(m_runs, tmp_path, capsys):
    reference, summary, folder, snapshot, _ = m_runs
    assert summary["best_epoch"] >= 3  # the kept weights come from after the interruption
    assert not (folder / checkpoints.FOLDER).exists()  # the uninterrupted run left no checkpoint
    shutil.copytree(snapshot / "M", checkpoints.at(tmp_path, "M").folder)
    _resume("M", "M", tmp_path, reference, capsys)


def test_a_killed_luring_training_resumes_from_evaluation_2_with_the_uninterrupted_weights(killed, tmp_path, capsys):
    reference, summary = train("luring", tmp_path)
    assert summary["best_evaluation"] >= 3 and summary["best_val_agreement"] > summary["initial_val_agreement"]
    assert not (tmp_path / checkpoints.FOLDER).exists()
    _resume("luring", "luring P", killed(), reference, capsys)


def test_a_checkpoint_of_another_configuration_is_ignored_and_replaced(m_runs):
    _, _, folder, snapshot, log = m_runs
    assert f"ignoring the checkpoint {checkpoints.at(folder, 'M').path}: it was saved by another configuration" in log
    assert "resuming" not in log and _epochs_run(log) == ["1/4", "2/4", "3/4", "4/4"]  # trained from the start
    meta = json.loads(str(files.read_npz(snapshot / "M" / checkpoints.FILE)["meta"]))
    assert meta["key"] != OTHER_KEY and meta["epoch"] == 2  # replaced by the new run's own checkpoint


def test_streams_skip_exactly_the_consumed_images():
    x = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    data = SimpleNamespace(x_train=x, y_train=np.arange(10))
    full = [b[1].numpy() for b in streams.stream(data, "train", 4, extras=("labels",), shuffle=True, seed=3,
                                                 repeat=True).take(9)]
    rest = [b[1].numpy() for b in streams.stream(data, "train", 4, extras=("labels",), shuffle=True, seed=3,
                                                 repeat=True, skip=5 * 4).take(4)]
    assert all(np.array_equal(a, b) for a, b in zip(full[5:], rest))
    assert not np.array_equal(full[0], rest[0])
