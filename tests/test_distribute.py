"""tf.distribute: 1 vs 2 replicas (two logical CPUs) give the same P and the same adversarial set; two local
workers (TF_CONFIG on localhost ports) train the same P as one device; strategy names and TF_CONFIG errors.

The two-device checks need TensorFlow configured before it starts: they run in subprocesses
(tests/distribute_checks.py), all three started at once and bounded by a timeout (they stop by themselves).
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from luring_tf.errors import UserError

CHECKS = Path(__file__).with_name("distribute_checks.py")
ROOT = CHECKS.parent.parent
TIMEOUT = 150  # seconds per subprocess: 20-35 s of CPU each (12 s of it importing TensorFlow); shared machines are slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _start(mode: str, out: Path, tf_config: dict | None = None) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen([sys.executable, str(CHECKS), mode, str(out)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(process: subprocess.Popen, what: str) -> None:
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"{what} did not finish in {TIMEOUT} s:\n{output[-3000:]}")
    assert process.returncode == 0, f"{what} exited {process.returncode}:\n{output[-3000:]}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The mirrored checks and two workers, run concurrently; their .npz results."""
    folder = tmp_path_factory.mktemp("distribute")
    workers = [f"localhost:{_free_port()}" for _ in range(2)]
    processes = {"mirrored": _start("mirrored", folder / "mirrored.npz")}
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        processes[f"worker{index}"] = _start("worker", folder / f"worker{index}.npz", config)
    try:
        for name, process in processes.items():
            _finish(process, name)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
    return {name: dict(np.load(folder / f"{name}.npz")) for name in processes}


def test_luring_and_ce_training_on_two_replicas_give_the_weights_of_one_device(runs):
    r = runs["mirrored"]
    assert int(r["replicas_one"]) == 1 and int(r["replicas_mirrored"]) == 2
    # luring steps with Adam (as train_component) from the same initial weights and batches
    np.testing.assert_allclose(r["luring_mirrored"], r["luring_one"], rtol=1e-5, atol=1e-6)
    # C-E with plain SGD: the gradient's scale shows in the weights
    np.testing.assert_allclose(r["ce_mirrored"], r["ce_one"], rtol=1e-5, atol=1e-6)
    assert not np.allclose(r["luring_one"][:10], r["ce_one"][:10])  # two different trainings were compared


def test_without_the_global_batch_average_the_two_replicas_would_differ(runs):
    r = runs["mirrored"]
    # each replica's own batch mean, summed by the optimizer: twice the step -- far from one device's weights
    assert np.abs(r["ce_unscaled"] - r["ce_one"]).max() > 100 * np.abs(r["ce_mirrored"] - r["ce_one"]).max() + 1e-3


def test_a_distributed_mim_returns_the_single_device_set_in_order(runs):
    r = runs["mirrored"]
    assert r["mim_one"].shape == r["mim_mirrored"].shape == (7, 8, 8, 1)  # 7 images: the second shard is padded
    np.testing.assert_array_equal(r["mim_mirrored"], r["mim_one"])
    assert int(r["mim_queries_mirrored"]) == int(r["mim_queries_one"]) == 7 * 5  # padding rows not counted
    assert np.abs(r["mim_one"][0] - r["mim_one"][1]).max() > 0  # distinct images: a reordering would show


def test_two_workers_train_the_same_weights_as_one_device(runs):
    chief, other = runs["worker0"], runs["worker1"]
    assert int(chief["replicas"]) == 2 and bool(chief["chief"]) and not bool(other["chief"])
    np.testing.assert_array_equal(chief["weights"], other["weights"])
    # train_component (evaluation, best-agreement selection) on 2 workers = on one device
    np.testing.assert_allclose(chief["weights"], runs["mirrored"]["train_component_one"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("text, message", [
    (None, "needs the TF_CONFIG environment variable"),
    ("not json", "is not a cluster description"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}', "names no valid task"),
])
def test_a_missing_or_invalid_tf_config_is_one_line_with_an_example(text, message):
    from luring_tf.training import distribute

    with pytest.raises(UserError, match=message) as error:
        distribute.check_tf_config(text)
    assert "\n" not in str(error.value) and '"cluster"' in str(error.value)


def test_unknown_strategy_and_the_default_one():
    import tensorflow as tf

    from luring_tf.training import distribute

    with pytest.raises(UserError, match="unknown strategy 'two'.*auto, one, mirrored, multiworker"):
        distribute.make_strategy("two")
    assert distribute.make_strategy("one") is tf.distribute.get_strategy()
    assert distribute.replicas() == 1 and not distribute.distributed() and distribute.is_chief()
    assert distribute.steps_per_execution(7) == 7


def test_an_unknown_strategy_on_the_command_line_is_one_line():
    from conftest import assert_one_line_error, run_script

    result = run_script("run_characterization.py", "--strategy", "two", timeout=60)
    assert_one_line_error(result, "--strategy", "invalid choice: 'two'", "multiworker")
