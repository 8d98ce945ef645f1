"""The configuration schema: every shipped value passes, hostile values fail in one line naming key, value and range."""

import pytest
import yaml

from luring_tf.config import profiles as config_module
from luring_tf.config.profiles import load_config
from luring_tf.config.schema import RULES, check_value, validate
from luring_tf.errors import UserError


@pytest.mark.parametrize("dataset", ["mnist", "svhn", "cifar10"])
@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_every_shipped_value_is_allowed(dataset, profile):
    validate(load_config(dataset, profile))


@pytest.mark.parametrize("override,words", [
    ("defense.batch_size=0", ["defense.batch_size=0", "a positive integer"]),
    ("defense.batch_size=abc", ["defense.batch_size=abc"]),
    ("seed=abc", ["seed=abc", "an integer >= 0"]),
    ("seed=-1", ["seed=-1"]),
    ("seed=true", ["seed=true"]),
    ("deterministic=1", ["deterministic=1", "true or false"]),
    ("defense.eps=abc", ["defense.eps=abc", "[0, 1]"]),
    ("defense.eps=[]", ["non-empty"]),
    ("characterization.eps=[0.3, 2]", ["2 is outside [0, 1]"]),
    ("defense.n_examples=abc", ["defense.n_examples=abc"]),
    ("train.luring.steps=-5", ["train.luring.steps=-5", "a positive integer"]),
    ("train.luring.steps=2.5", ["train.luring.steps=2.5"]),
    ("train.luring.lr=[-0.1]", ["train.luring.lr=[-0.1]", "> 0"]),
    ("train.luring.lr_boundaries=[1000, 500]", ["increasing"]),
    ("train.luring.dropout=1.5", ["[0, 1)"]),
    ("train.base.augment=maybe", ["augment=maybe", "rotation_deg"]),
    ("train.base.augment={zoom: 2}", ["augment"]),
    ("train.base.lr=[0.1, 0.01]", ["2 values for 0 train.base.lr_boundaries"]),
    ("train.luring=5", ["train.luring=5", "a mapping"]),
    ("data.source=web", ["one of auto, tfds, files, sample"]),
    ("data.n_train=0", ["data.n_train=0", "or null"]),
    ("data.val_fraction=1", ["[0, 1)"]),
    ("defense.attacks.dim.p=[0.5, 2]", ["defense.attacks.dim.p"]),
    ("defense.attacks.mim_ti.kernel_size=0", ["kernel_size=0"]),
    ("defense.attacks.eco.early_stop=3", ["true or false"]),
    ("defense.mim_w.include_fgsm=yes please", ["include_fgsm"]),
    ("analysis.cwl2.max_iterations=0", ["analysis.cwl2.max_iterations=0"]),
    ("characterization.attacks.pgd.eps_iter=0", ["eps_iter=0", "> 0"]),
])
def test_hostile_values_are_one_line_errors(override, words):
    with pytest.raises(UserError) as caught:
        load_config("mnist", "quick", [override])
    message = str(caught.value)
    assert "\n" not in message
    assert "configs/mnist.yaml" in message or "lr_boundaries" in message  # the fix is named
    for word in words:
        assert word in message, message


@pytest.mark.parametrize("overrides", [
    ["train.base.augment=true"], ["train.base.augment=false"], ["train.base.augment={rotation_deg: 5}"],
    ["data.n_train=null"], ["data.n_train=500"], ["defense.attacks.dim.p=0.5"],
    ["defense.attacks.mim_ti.kernel_size=3"], ["characterization.attacks.fgsm=null"], ["seed=0"],
    ["defense.eps=[0, 1]"], ["deterministic=true"], ["train.ce.lr=0.001", "train.ce.lr_boundaries=[]"],
    ["train.ce.lr=[0.01, 0.001]", "train.ce.lr_boundaries=[10]"],
])
def test_valid_overrides_pass(overrides):
    load_config("mnist", "quick", overrides)


def test_flags_are_named_in_their_own_words():
    with pytest.raises(UserError, match=r"^--seed -1 is not allowed: expected an integer >= 0$"):
        check_value("seed", -1, "--seed")
    with pytest.raises(UserError, match=r"^--eps 0.3 1.5 is not allowed: .*1.5 is outside \[0, 1\]"):
        check_value("defense.eps", [0.3, 1.5], "--eps")
    check_value("defense.n_examples", 3, "--n-examples")


def test_a_key_no_rule_names_keeps_the_type_of_its_default(tmp_path, monkeypatch):
    """A setting added to the YAML later is accepted as shipped and checked against its default's type."""
    document = yaml.safe_load((config_module.CONFIG_DIR / "mnist.yaml").read_text())
    luring = document["profiles"]["quick"]["train"]["luring"]
    luring.update(new_count=3, new_rate=0.5, new_flag=True, new_list=[1, 2], new_name="x", new_any=None)
    (tmp_path / "mnist.yaml").write_text(yaml.safe_dump(document))
    monkeypatch.setattr(config_module, "CONFIG_DIR", tmp_path)
    load_config("mnist", "quick")
    load_config("mnist", "quick", ["train.luring.new_count=9", "train.luring.new_rate=2", "train.luring.new_any=abc",
                                   "train.luring.new_list=[]", "train.luring.new_name=y"])
    for override, expected in [("new_count=abc", "an integer"), ("new_count=1.5", "an integer"),
                               ("new_rate=abc", "a number"), ("new_flag=3", "true or false"),
                               ("new_list=3", "a list"), ("new_name=[1]", "a string")]:
        with pytest.raises(UserError, match=expected):
            load_config("mnist", "quick", [f"train.luring.{override}"])


def test_rules_name_real_keys():
    """Every rule but the wildcard ones matches a key of some shipped profile (no typo in the table)."""
    keys = set()
    for dataset in ("mnist", "svhn", "cifar10", "imagenet"):
        for profile in ("quick", "paper"):
            keys |= _dotted(load_config(dataset, profile))
    import fnmatch

    for pattern, _ in RULES:
        if pattern.endswith(("classifier_training",)):
            continue  # optional training switch, read with a default
        depth = pattern.count(".")
        assert any(k.count(".") == depth and fnmatch.fnmatchcase(k, pattern) for k in keys), pattern


def _dotted(node, prefix=""):
    keys = set()
    for key, value in node.items():
        keys.add(prefix + key)
        if isinstance(value, dict):
            keys |= _dotted(value, f"{prefix}{key}.")
    return keys
