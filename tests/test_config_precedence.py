"""One precedence rule for every run (issue 26): profile < mode defaults < ``--set`` < explicit flag.

A table over every flag that names a configuration key (``run_folder.FLAG_KEYS``) and every mode
that implies one (``--data-dir``, ``--public trapdoor``, ``--base advtrain``, ``--attacks``), in the
three scripts and both ``--target-model`` commands: each resolved through the function the script
itself calls (``<script>.configuration``, ``target_model.protect_config`` / ``defense_config``),
with neither, ``--set`` only, the flag only, and both in either order. No TensorFlow, no training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from luring_tf.cli import analyse as run_analysis
from luring_tf.cli import characterize as run_characterization
from luring_tf.cli import defend as run_defense
from luring_tf import api
from luring_tf.cli import run_folder, target_model
from luring_tf.config.profiles import load_config

SCRIPTS = {"C": run_characterization, "D": run_defense, "A": run_analysis}
COLOUR, GREY = (32, 32, 3), (28, 28, 1)


def configure(script: str, argv: list[str], shape=None, record=None) -> dict:
    """The configuration the script's run would use for ``argv`` (same functions as its ``main``)."""
    module = SCRIPTS[script]
    args = module.parse(argv)
    if getattr(args, "target_model", None) and script == "C":
        return target_model.protect_config(args, shape, target_model.dataset_given(argv))
    if getattr(args, "target_model", None):
        return target_model.defense_config(args, record or {}, shape, target_model.dataset_given(argv))
    return module.configuration(args)


def lookup(config: dict, key: str):
    node = config
    for part in key.split("."):
        node = node[part]
    return node


@dataclass
class Row:
    id: str
    script: str
    key: str
    flag: list[str]  # the flag with its value
    flag_value: object
    set_value: object  # what --set key=<set_value> writes
    base: list[str] = field(default_factory=list)  # the rest of the command line
    shape: tuple | None = None
    record: dict | None = None
    profile: object = None  # the expected value with neither (default: the profile's, resolved here)
    set_key: str | None = None  # the key --set writes (default: key)


TARGET = ["--target-model", "mine.h5"]
ROWS = [
    *[Row(f"seed-{s}", s, "seed", ["--seed", "7"], 7, 5) for s in "CDA"],
    Row("n-examples-C", "C", "characterization.n_examples", ["--n-examples", "9"], 9, 11),
    Row("n-examples-D", "D", "defense.n_examples", ["--n-examples", "9"], 9, 11),
    Row("n-examples-A", "A", "analysis.n_examples", ["--n-examples", "9"], 9, 11),
    Row("eps-C", "C", "characterization.eps", ["--eps", "0.1", "0.2"], [0.1, 0.2], [0.05]),
    Row("eps-D", "D", "defense.eps", ["--eps", "0.1"], [0.1], [0.05, 0.25]),
    Row("eps-A", "A", "characterization.eps", ["--eps", "0.1"], [0.1], [0.05]),  # the analysis reads this list
    *[Row(f"tfds-{s}", s, "data.tfds_name", ["--tfds", "cifar100"], "cifar100", "svhn_cropped") for s in "CDA"],
    *[Row(f"data-source-{s}", s, "data.source", ["--data-source", "files"], "files", "tfds") for s in "CDA"],
    # a mode default: --data-dir reads `auto`, unless --set or --data-source say otherwise
    Row("data-dir-source", "D", "data.source", ["--data-source", "sample"], "sample", "files",
        base=["--data-dir", "somewhere"], profile="auto"),
    # --target-model: λ is the profile's (0.15 for cifar10), --set and --luring-coefficient honoured
    Row("lambda-cifar10", "C", "train.luring.luring_coefficient", ["--luring-coefficient", "0.5"], 0.5, 0.3,
        base=[*TARGET, "--dataset", "cifar10"], shape=COLOUR, profile=0.15),
    Row("lambda-colour", "C", "train.luring.luring_coefficient", ["--luring-coefficient", "0.5"], 0.5, 0.3,
        base=TARGET, shape=COLOUR, profile=load_config("svhn")["train"]["luring"]["luring_coefficient"]),
    Row("seed-target-C", "C", "seed", ["--seed", "7"], 7, 5, base=TARGET, shape=GREY),
    Row("eps-target-D", "D", "defense.eps", ["--eps", "0.1"], [0.1], [0.05], base=TARGET, shape=GREY,
        record={"dataset": "mnist", "profile": "quick"}),
    Row("n-examples-target-D", "D", "defense.n_examples", ["--n-examples", "9"], 9, 11, base=TARGET, shape=GREY,
        record={"dataset": "mnist", "profile": "quick"}),
    # run_defense.py --target-model: the protection's seed is a default, --set and --seed win
    Row("seed-target-D", "D", "seed", ["--seed", "7"], 7, 5, base=TARGET, shape=GREY,
        record={"dataset": "mnist", "profile": "quick", "seed": 3}, profile=3),
    # modes: --public trapdoor / --base advtrain include FGSM in MIM-W; advtrain evaluates at its training ε
    Row("trapdoor-fgsm", "D", "defense.mim_w.include_fgsm", [], None, False, base=["--public", "trapdoor"],
        profile=True),
    Row("advtrain-fgsm", "D", "defense.mim_w.include_fgsm", [], None, False, base=["--base", "advtrain"],
        profile=True),
    Row("advtrain-eps", "D", "defense.eps", ["--eps", "0.2"], [0.2], [0.1], base=["--base", "advtrain"],
        profile=[load_config("mnist")["train"]["advtrain"]["eps"]]),
    Row("advtrain-eps-follows-training", "D", "defense.eps", ["--eps", "0.2"], [0.2], 0.25,
        base=["--base", "advtrain"], set_key="train.advtrain.eps",
        profile=[load_config("mnist")["train"]["advtrain"]["eps"]]),
]


def _set(row: Row) -> list[str]:
    import json

    return ["--set", f"{row.set_key or row.key}={json.dumps(row.set_value)}"]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.id)
def test_precedence_profile_set_flag(row):
    profile = row.profile
    if profile is None:
        profile = lookup(configure(row.script, row.base, row.shape, row.record), row.key)
        dataset = "mnist" if "--dataset" not in row.base else row.base[row.base.index("--dataset") + 1]
        assert profile == lookup(load_config(dataset), row.key)  # neither: the profile's
    got = lambda argv: lookup(configure(row.script, row.base + argv, row.shape, row.record), row.key)  # noqa: E731
    assert got([]) == profile
    expect_set = [row.set_value] if row.set_key else row.set_value  # advtrain's ε follows train.advtrain.eps
    assert got(_set(row)) == expect_set != profile  # --set wins over the profile and the mode's default
    if row.flag:
        assert got(row.flag) == row.flag_value != profile  # the flag wins over the profile
        assert got(_set(row) + row.flag) == row.flag_value  # ... and over --set, in either order
        assert got(row.flag + _set(row)) == row.flag_value


def test_table_covers_every_flag_naming_a_key():
    flags = {flag for _, _, flag in run_folder.FLAG_KEYS}
    covered = {row.flag[0] for row in ROWS if row.flag}
    assert flags <= covered, f"flags without a precedence row: {flags - covered}"
    modes = {flag for row in ROWS for flag in row.base if flag.startswith("--") and flag not in ("--target-model",
                                                                                               "--dataset")}
    assert modes == {"--data-dir", "--public", "--base"}
    for script, module in SCRIPTS.items():  # each script's flags that name a key: all in FLAG_KEYS, all tested
        options = {a.option_strings[0] for a in module.build_parser()._actions if a.option_strings}
        assert {"--seed", "--n-examples", "--eps", "--tfds", "--data-source"} <= options & flags
        assert ("--luring-coefficient" in options) == (script == "C")


def test_characterization_attacks_keep_set_values():
    config = configure("C", ["--attacks", "mim", "pgd", "--set", "characterization.attacks.mim.nb_iter=3"])
    assert list(config["characterization"]["attacks"]) == ["mim", "pgd"]
    assert config["characterization"]["attacks"]["mim"]["nb_iter"] == 3


def test_cifar10_target_model_trains_at_the_profiles_lambda():
    """The issue's case: `--dataset cifar10 --target-model` trained at λ = 1 instead of 0.15."""
    assert load_config("cifar10")["train"]["luring"]["luring_coefficient"] == 0.15
    assert configure("C", [*TARGET, "--dataset", "cifar10"], COLOUR)["train"]["luring"]["luring_coefficient"] == 0.15
    # the Python API resolves the same way
    assert api.resolve_config(COLOUR, "cifar10")["train"]["luring"]["luring_coefficient"] == 0.15
    assert api.resolve_config(COLOUR, "cifar10", overrides=["train.luring.luring_coefficient=0.4"])[
        "train"]["luring"]["luring_coefficient"] == 0.4
    assert api.resolve_config(COLOUR, "cifar10", overrides=["train.luring.luring_coefficient=0.4"],
                              luring_coefficient=0.6)["train"]["luring"]["luring_coefficient"] == 0.6
    config = api.resolve_config(GREY, overrides=["seed=4"], defaults=[("seed", 9), ("defense.n_examples", 12)])
    assert config["seed"] == 4 and config["defense"]["n_examples"] == 12  # defaults < overrides
    assert api.resolve_config(GREY, overrides=["seed=4"], seed=8)["seed"] == 8


def test_user_defaults_sit_between_profile_and_set():
    """The slot for a user model's defaults (``resolve(args, shape, section, defaults)``)."""
    args = run_characterization.parse([*TARGET])
    config = target_model.resolve(args, COLOUR, "characterization", [("train.luring.steps", 77)])
    assert config["train"]["luring"]["steps"] == 77
    args = run_characterization.parse([*TARGET, "--set", "train.luring.steps=88"])
    assert target_model.resolve(args, COLOUR, "characterization", [("train.luring.steps", 77)])[
        "train"]["luring"]["steps"] == 88


def test_flag_values_are_checked_by_their_flag():
    from luring_tf.errors import UserError

    with pytest.raises(UserError, match="--luring-coefficient -1"):
        configure("C", [*TARGET, "--luring-coefficient", "-1"], GREY)
    with pytest.raises(UserError, match="--n-examples 0"):
        configure("D", ["--n-examples", "0", "--set", "defense.n_examples=5"])
