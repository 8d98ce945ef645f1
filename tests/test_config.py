"""Profiles, overrides and their errors."""

import pytest

from luring_tf.config import check_eps, load_config, profiles
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
        load_config("imagenet")
    with pytest.raises(UserError, match="unknown profile"):
        load_config("mnist", "fast")
    with pytest.raises(UserError, match="outside"):
        check_eps([0.3, 1.5])
    assert check_eps([0, 1]) == [0.0, 1.0]
