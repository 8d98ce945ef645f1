"""A user's profile file (``--config FILE`` / ``$LURING_TF_CONFIG``) over the shipped profiles: precedence and errors."""

import subprocess
import sys

import pytest
import yaml

from luring_tf.config import custom
from luring_tf.config import profiles as config_module
from luring_tf.config.profiles import load_config, profiles, shipped_text
from luring_tf.errors import UserError
from conftest import ROOT, assert_one_line_error, run_script


def _write(path, text):
    path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def no_user_file(monkeypatch):
    monkeypatch.delenv(custom.ENV, raising=False)


def test_the_profiles_are_package_data():
    """One copy, inside the package (an installed luring-tf reads them), and none left at the top level."""
    assert config_module.CONFIG_DIR == ROOT / "luring_tf" / "configs"
    assert sorted(p.stem for p in config_module.CONFIG_DIR.glob("*.yaml")) == sorted(config_module.DATASETS)
    assert not list((ROOT / "configs").glob("*.yaml"))  # no second copy to drift
    setup = (ROOT / "setup.py").read_text()
    assert '"configs/*.yaml"' in setup and "luring-tf = luring_tf.cli.entry:main" in setup


def test_a_file_changes_only_what_it_names_and_set_still_wins(tmp_path, monkeypatch):
    mine = _write(tmp_path / "mine.yaml", "common: {seed: 7}\n"
                                         "profiles:\n  quick: {train: {luring: {steps: 77, batch_size: 16}}}\n")
    shipped = load_config("mnist", "quick")
    changed = load_config("mnist", "quick", config_file=mine)
    assert changed["seed"] == 7 and changed["train"]["luring"]["steps"] == 77
    assert changed["train"]["luring"]["batch_size"] == 16
    # everything else is the shipped profile's
    for section in (changed, shipped):
        section.pop("seed"), section["train"]["luring"].pop("steps"), section["train"]["luring"].pop("batch_size")
    assert changed == shipped
    # profile < file < --set; the paper profile is untouched by a file that changes only quick
    assert load_config("mnist", "quick", ["train.luring.steps=5"], mine)["train"]["luring"]["steps"] == 5
    assert load_config("mnist", "paper", config_file=mine)["train"]["luring"]["steps"] == 50000
    assert load_config("mnist", "paper", config_file=mine)["seed"] == 7  # common: every profile
    # the environment variable names the file when --config does not; --config wins over it
    other = _write(tmp_path / "other.yaml", "profiles:\n  quick: {train: {luring: {steps: 33}}}\n")
    monkeypatch.setenv(custom.ENV, str(mine))
    assert load_config("mnist", "quick")["train"]["luring"]["steps"] == 77
    assert load_config("mnist", "quick", config_file=other)["train"]["luring"]["steps"] == 33


def test_a_new_profile_extends_a_shipped_one_as_the_file_changes_it(tmp_path):
    mine = _write(tmp_path / "mine.yaml", "dataset: mnist\nprofiles:\n"
                                         "  quick: {train: {luring: {steps: 77}}}\n"
                                         "  fast: {extends: quick, train: {base: {augment: {rotation_deg: 3}}}}\n")
    assert profiles("mnist", mine) == ["fast", "paper", "quick"]
    fast = load_config("mnist", "fast", config_file=mine)
    assert fast["profile"] == "fast" and fast["train"]["luring"]["steps"] == 77
    assert fast["train"]["base"]["augment"]["rotation_deg"] == 3
    assert "extends" not in fast
    # an attack the shipped quick profile has no parameters for may be added (the schema checks its values)
    imagenet = _write(tmp_path / "imagenet.yaml", "profiles:\n  quick: {defense: {attacks: {spsa: {nb_iter: 3}}}}\n")
    assert "spsa" not in load_config("imagenet", "quick")["defense"]["attacks"]
    assert load_config("imagenet", "quick", config_file=imagenet)["defense"]["attacks"]["spsa"] == {"nb_iter": 3}
    bad = _write(tmp_path / "bad.yaml", "profiles:\n  quick: {defense: {attacks: {spsa: {nb_iter: 0}}}}\n")
    with pytest.raises(UserError, match="defense.attacks.spsa.nb_iter=0"):
        load_config("imagenet", "quick", config_file=bad)
    rows = {key for key, _, _ in config_module.diff_profiles("mnist", "quick", "fast", mine)}
    assert rows == {"train.base.augment.rotation_deg"}


def test_a_copy_of_the_shipped_file_changes_nothing(tmp_path):
    copy = _write(tmp_path / "svhn.yaml", shipped_text("svhn"))
    for profile in ("quick", "paper"):
        assert load_config("svhn", profile, config_file=copy) == load_config("svhn", profile)


@pytest.mark.parametrize("text, fragments", [
    ("profiles:\n  quick: {train: {luring: {stpes: 3}}}\n", ["unknown configuration key 'train.luring.stpes'",
                                                             "luring_tf/configs/mnist.yaml"]),
    ("common: {sed: 3}\nprofiles: {}\n", ["unknown configuration key 'sed'", "common"]),
    ("profiles:\n  quick: {train: {luring: {steps: -3}}}\n", ["train.luring.steps=-3", "a positive integer",
                                                              "--config"]),
    ("profiles:\n  quick: {train: {luring: {steps: abc}}}\n", ["train.luring.steps=abc", "--config"]),
    ("profiles:\n  quick: {train: {base: {augment: {spin: 3}}}}\n", ["train.base.augment", "rotation_deg"]),
    ("profiles:\n  quick: [1\n", ["not valid YAML at line"]),
    ("- 1\n- 2\n", ["expected a YAML mapping"]),
    ("train: {luring: {steps: 3}}\n", ["unknown top-level key 'train'", "profiles"]),
    ("dataset: svhn\nprofiles: {}\n", ["profile file for 'svhn'", "--dataset svhn"]),
    ("profiles:\n  new: {seed: 1}\n", ["profile 'new' is not a shipped mnist profile", "extends: quick"]),
    ("profiles:\n  new: {extends: fast}\n", ["extends 'fast'", "paper, quick"]),
    ("profiles:\n  quick: {extends: paper}\n", ["cannot extend 'paper'"]),
    ("profiles: 3\n", ["`profiles:` must be a mapping"]),
])
def test_a_bad_file_is_one_line_naming_the_problem(tmp_path, text, fragments):
    bad = _write(tmp_path / "bad.yaml", text)
    with pytest.raises(UserError) as info:
        load_config("mnist", "quick", config_file=bad)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_a_missing_file_names_where_it_was_named(tmp_path, monkeypatch):
    with pytest.raises(UserError, match=r"^--config .*none.yaml: no such file"):
        load_config("mnist", "quick", config_file=tmp_path / "none.yaml")
    monkeypatch.setenv(custom.ENV, str(tmp_path / "gone.yaml"))
    with pytest.raises(UserError, match=r"^\$LURING_TF_CONFIG .*gone.yaml: no such file"):
        load_config("mnist", "quick")


def test_the_scripts_and_the_config_command_take_the_file(tmp_path):
    """--config on a run script (refused in one line before TensorFlow loads) and on python -m luring_tf.config."""
    bad = _write(tmp_path / "bad.yaml", "profiles:\n  quick: {train: {luring: {stpes: 3}}}\n")
    result = run_script("run_defense.py", "--config", str(bad), cwd=tmp_path, timeout=120)
    assert_one_line_error(result, "--config", "train.luring.stpes")
    mine = _write(tmp_path / "mine.yaml", "profiles:\n  quick: {train: {luring: {steps: 77}}}\n")
    diff = subprocess.run([sys.executable, "-m", "luring_tf.config", "--diff", "quick", "paper", "--config",
                           str(mine)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert diff.returncode == 0, diff.stderr
    assert "train.luring.steps" in diff.stdout and "77 -> 50000" in diff.stdout
    shipped = subprocess.run([sys.executable, "-m", "luring_tf.config", "--shipped", "--dataset", "cifar10"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert shipped.returncode == 0 and shipped.stdout == shipped_text("cifar10")
    assert yaml.safe_load(shipped.stdout)["profiles"]["paper"]["train"]["luring"]["luring_coefficient"] == 0.15
