"""The reproduction page (luring_tf.report.reproduction) renders from records written by the real writers.

The records come from a tiny real run on the shipped MNIST digits: a small M, a blur P, Table 8 by
``model_table`` and the characterization by ``characterize``, MIM-W by ``run_defense``, all written by
``write_characterization`` / ``write_defense``. Every number on the page must be the stored record's.
"""

import json
import os
import platform
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import ROOT, assert_one_line_error
from luring_tf.config import profiles
from luring_tf.errors import UserError
from luring_tf.report import reproduction

OVERRIDES = ["seed=3", "characterization.n_examples=20", "characterization.eps=[0.3]",
             "defense.n_examples=20", "defense.eps=[0.3]",
             "defense.attacks.mim={nb_iter: 2, eps_iter: 0.1, decay: 1.0}",
             "defense.attacks.dim={nb_iter: 2, eps_iter: 0.1, decay: 1.0, p: [1.0]}",
             "defense.attacks.mim_ti={nb_iter: 2, eps_iter: 0.1, decay: 1.0, kernel_size: [5]}",
             "defense.attacks.dim_ti={nb_iter: 2, eps_iter: 0.1, decay: 1.0, p: 1.0, kernel_size: [5]}"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    from luring_tf.data import load_dataset
    from luring_tf.evaluation.characterization import characterize, model_table
    from luring_tf.evaluation.defense import run_defense
    from luring_tf.report.characterization import write_characterization
    from luring_tf.report.defense import write_defense
    from luring_tf.storage.models_io import compose

    root = tmp_path_factory.mktemp("results")
    data = load_dataset("mnist", "sample")  # 3,320 / 680 / 1,000 real digits in [0,1]
    config = profiles.load_config("mnist", "quick", OVERRIDES)
    config["characterization"]["attacks"] = {"fgsm": config["characterization"]["attacks"]["fgsm"]}
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.AveragePooling2D(2), keras.layers.Flatten(),
                          keras.layers.Dense(10), keras.layers.Activation("softmax")], name="M")
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(data.x_train, data.y_train, epochs=2, batch_size=64, verbose=0)
    p = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(1, 3, padding="same", use_bias=False)],
                         name="P")
    p.layers[0].set_weights([np.full((3, 3, 1, 1), 1.0 / 9, np.float32)])
    models = {"M": m, "luring": compose(p, m)}
    out = root / "mnist"
    record = {"dataset": "mnist", "profile": "quick", "config": config, "models_dir": "models/test",
              "data_source": data.source, "table8": model_table(models, data),
              "characterization": characterize(models, data, config, out, verbose=False)}
    write_characterization(record, out)
    defense = run_defense(models, data, config, "mim-w", out / "defense", verbose=False, false_alarm=None)
    defense.update(dataset="mnist", profile="quick", models_dir="models/test", data_source=data.source,
                   eps=config["defense"]["eps"], seed=config["seed"], defense_config=config["defense"])  # as defend.py
    write_defense(defense, out / "defense")
    return root


def test_the_page_states_machine_versions_commit_and_the_stored_numbers_beside_the_papers(results):
    page = reproduction.render(results)
    stored = json.loads((results / "mnist" / "characterization.json").read_text())
    assert platform.platform() in page and f"{os.cpu_count()} CPUs" in page
    assert f"TensorFlow {reproduction._version('tensorflow')}" in page and f"Keras {keras.__version__}" in page
    commit = reproduction.git_commit()
    assert commit is None or commit in page
    # Table 8: our rates (read from the record) with the paper's beside them
    m_row = next(line for line in page.splitlines() if line.startswith("| Base (M) |"))
    assert reproduction.rate_text(stored["table8"]["M"]["test_accuracy"]) in m_row and "| 0.991 |" in m_row
    luring = next(line for line in page.splitlines() if line.startswith("| Luring |") and "0.974" in line)
    assert reproduction.rate_text(stored["table8"]["luring"]["agreement_on_truth"]) in luring
    # the command rebuilt from the stored configuration: the profile and every value changed from it
    command = next(line for line in page.splitlines() if line.startswith("Command: `python run_characterization.py"))
    assert command.startswith("Command: `python run_characterization.py --dataset mnist --profile quick --set ")
    assert "--set seed=3" in command and "--set characterization.n_examples=20" in command
    fgsm = json.dumps(stored["config"]["characterization"]["attacks"], separators=(",", ":"))
    assert f"--set characterization.attacks={fgsm}" in command  # the test kept fgsm only: the command says so
    assert "pgd" not in command and "--set train." not in command  # only what differs from the profile
    command = next(line for line in page.splitlines() if line.startswith("Command: `python run_defense.py"))
    assert command.startswith("Command: `python run_defense.py --dataset mnist --profile quick --attack mim-w --set ")
    assert "--set defense.n_examples=20" in command and "--seed 3" in command and "train" not in command
    # the departures from the paper profile, from the stored configuration
    assert "| `train.luring.steps` | 1000 | 50000 |" in page and "| `seed` | 3 | 0 |" in page
    # Table 14: MIM-W at ε = 0.3, Luring's paper cells 0.13 / 0.69 / 0.75 beside our stored rates
    defense = json.loads((results / "mnist" / "defense" / "defense_mim-w.json").read_text())
    row = next(r for r in defense["table"] if r["approach"] == "luring")
    line = next(line for line in page.splitlines() if line.startswith("| 0.3 | Luring |"))
    assert line == (f"| 0.3 | Luring | {reproduction.rate_text(row['AC_MoP'])} | 0.13 | "
                    f"{reproduction.rate_text(row['AC_M'])} | 0.69 | {reproduction.rate_text(row['DAC'])} | 0.75 |")
    assert "### Table 14 — MIM-W (mnist)" in page and "n = 20 test images" in page


def test_the_numbers_are_the_records_not_typed(results, tmp_path):
    import shutil

    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    path = copy / "mnist" / "characterization.json"
    record = json.loads(path.read_text())
    record["table8"]["M"]["test_accuracy"] = {"value": 0.5, "numerator": 500, "denominator": 1000}
    path.write_text(json.dumps(record))
    m_row = next(line for line in reproduction.render(copy).splitlines() if line.startswith("| Base (M) |"))
    assert "0.500 [0.469, 0.531] (500/1000)" in m_row


def test_the_command_writes_markdown_and_refuses_a_folder_without_records(results, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "luring_tf.report.reproduction", str(results)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# Reproduction: our numbers beside the paper's") and "## mnist" in done.stdout
    empty = subprocess.run([sys.executable, "-m", "luring_tf.report.reproduction", str(tmp_path)], cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=120)
    assert_one_line_error(empty, "holds no result record", "run run_characterization.py first")
    with pytest.raises(UserError, match="no such folder"):
        reproduction.render(tmp_path / "missing")
