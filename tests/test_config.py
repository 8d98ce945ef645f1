"""Profiles, overrides and their errors."""

import pytest

from luring_tf.config.profiles import check_eps, load_config, profiles
from luring_tf.errors import UserError


@pytest.mark.parametrize("dataset", ["mnist", "svhn", "cifar10"])
def test_every_dataset_has_paper_and_quick(dataset):
    assert profiles(dataset) == ["paper", "quick"]
    paper = load_config(dataset, "paper")
    assert paper["defense"]["attacks"]["eco"]["max_queries"] == 20000
    assert paper["characterization"]["attacks"]["mim"]["nb_iter"] == 1000


def test_paper_values_per_dataset():
    assert load_config("mnist", "paper")["train"]["luring"]["luring_coefficient"] == 1.0
    assert load_config("cifar10", "paper")["train"]["luring"]["luring_coefficient"] == 0.15
    assert "auto" not in load_config("cifar10", "paper")["train"]
    assert load_config("svhn", "paper")["defense"]["eps"] == [0.03, 0.06, 0.08]
    assert load_config("cifar10", "paper")["defense"]["attacks"]["dim_ti"]["p"] == 0.6


def test_override_parses_yaml_and_rejects_unknown_keys():
    cfg = load_config("mnist", "quick", ["train.luring.steps=7", "characterization.eps=[0.1, 0.2]"])
    assert cfg["train"]["luring"]["steps"] == 7 and cfg["characterization"]["eps"] == [0.1, 0.2]
    with pytest.raises(UserError, match="unknown configuration key"):
        load_config("mnist", "quick", ["train.lurin.steps=7"])
    with pytest.raises(UserError, match="dotted.key=value"):
        load_config("mnist", "quick", ["steps"])


def test_unknown_dataset_profile_and_bad_eps():
    with pytest.raises(UserError, match="unknown dataset"):
        load_config("cifar100")
    with pytest.raises(UserError, match="unknown profile"):
        load_config("mnist", "fast")
    with pytest.raises(UserError, match="outside"):
        check_eps([0.3, 1.5])
    assert check_eps([0, 1]) == [0.0, 1.0]


def test_diff_lists_every_departure_of_quick_from_paper():
    import subprocess
    import sys

    from luring_tf.config.profiles import diff_profiles, format_diff

    rows = {key: (a, b) for key, a, b in diff_profiles("mnist", "quick", "paper")}
    quick, paper = load_config("mnist", "quick"), load_config("mnist", "paper")
    assert rows["train.luring.steps"] == (quick["train"]["luring"]["steps"], 50000)
    assert rows["train.base.lr"] == (quick["train"]["base"]["lr"], [0.01])
    assert rows["defense.attacks.spsa.nb_iter"] == (quick["defense"]["attacks"]["spsa"]["nb_iter"], 100)
    assert rows["train.base.fallback_below"][0] == "(absent)"
    assert "seed" not in rows and "profile" not in rows and "characterization.eps" not in rows
    # every listed key really differs, and every key that differs is listed
    for key, (a, b) in rows.items():
        assert a != b or type(a) is not type(b), key
    assert diff_profiles("mnist", "quick", "quick") == []
    table = format_diff("svhn", "quick", "paper", markdown=True)
    assert table.splitlines()[0] == "| svhn key | quick | paper |" and "`train.luring.steps` | 100 | 50000" in table
    result = subprocess.run([sys.executable, "-m", "luring_tf.config", "--diff", "quick", "paper"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "train.luring.steps" in result.stdout and "->" in result.stdout
