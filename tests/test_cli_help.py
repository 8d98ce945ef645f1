"""Help = behaviour (issue 26): every choice a script's --help lists is accepted, anything else is refused.

Each script's ``--help`` is parsed for its ``--flag {a,b,...}`` lists; every listed name is taken by
the parser and by the checks the script runs before any work (its configuration, the attack's grid,
the modes that do not combine), an unlisted one is a one-line error naming every valid choice.
Attack names have one spelling (hyphens), the underscore one an alias. No TensorFlow, no training.
"""

from __future__ import annotations

import re

import pytest

from luring_tf.cli import analyse as run_analysis
from luring_tf.cli import characterize as run_characterization
from luring_tf.cli import defend as run_defense
from luring_tf import names
from luring_tf.cli import run_folder
from luring_tf.config import profiles

SCRIPTS = {"run_characterization.py": run_characterization, "run_defense.py": run_defense,
           "run_analysis.py": run_analysis}
GROUPS = ("data:", "models:", "evaluation:", "execution:")


def help_text(capsys, parse) -> str:
    with pytest.raises(SystemExit) as done:
        parse(["--help"])
    assert done.value.code in (0, None)
    return capsys.readouterr().out


def listed_choices(text: str) -> dict[str, list[str]]:
    """``{flag: [choices]}`` as the help lists them (``--flag {a,b,c}``)."""
    found = {}
    for flag, choices in re.findall(r"(--[a-z][\w-]*) \{([^}]*)\}", text):
        found.setdefault(flag, choices.split(","))
    return found


def accepted(module, flag: str, value: str):
    """Parse ``flag value`` and run the script's checks that precede any work; returns the parsed value."""
    args = module.parse([flag, value])
    if module is run_defense:
        run_defense.check_modes(args)
    config = module.configuration(args)
    if flag == "--attack":
        from luring_tf.evaluation.defense import expand_configs

        assert expand_configs(args.attack, config["defense"])
    if flag == "--approaches":
        assert run_folder.approaches(args) == (value,)
    return getattr(args, flag.lstrip("-").replace("-", "_"))


def refused(capsys, parse, argv) -> str:
    with pytest.raises(SystemExit) as done:
        parse(argv)
    assert done.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err, err
    return err


# --profile is not among them: a --config file may define profiles of its own (test_unknown_profile_...)
EXPECTED = {  # the enumerated options of each script: all have their choices in --help
    "run_characterization.py": {"--dataset", "--data-source", "--approaches", "--strategy", "--attacks",
                                "--base"},
    "run_defense.py": {"--dataset", "--data-source", "--approaches", "--strategy", "--attack", "--public",
                       "--base"},
    "run_analysis.py": {"--dataset", "--data-source", "--approaches", "--strategy"},
}


@pytest.mark.parametrize("script", SCRIPTS)
def test_listed_choices_are_accepted_and_others_refused(script, capsys):
    module = SCRIPTS[script]
    text = help_text(capsys, module.parse)
    listed = listed_choices(text)
    assert set(listed) == EXPECTED[script]
    for flag, choices in listed.items():
        for value in choices:
            parsed = accepted(module, flag, value)
            assert parsed == value or parsed == [value], (flag, value, parsed)
        err = refused(capsys, module.parse, [flag, "bogus"])
        assert flag in err and "'bogus'" in err
        for value in choices:  # the error names every valid choice
            assert re.search(rf"(?<![\w-]){re.escape(value)}(?![\w-])", err), (flag, value, err)


def test_option_groups_and_help_defaults(capsys):
    for script, module in SCRIPTS.items():
        text = help_text(capsys, module.parse)
        for title in GROUPS + (("your model (--target-model):",) if module is not run_analysis else ()):
            assert f"\n{title}\n" in text, (script, title)
        options = text.split("\noptions:\n", 1)[1].split("\n\n", 1)[0]
        assert options.split() == ["-h,", "--help", "show", "this", "help", "message", "and", "exit"]
    defense = help_text(capsys, run_defense.parse)
    flat = " ".join(defense.split())
    assert "with --public trapdoor: none" in flat and "with --base advtrain: luring" in flat
    assert "default: all" not in flat.replace("default: all of the dataset's", "")
    # ... and the behaviour the help states
    assert run_folder.approaches(run_defense.parse([])) == names.APPROACHES  # all of mnist's
    assert run_folder.approaches(run_defense.parse(["--public", "trapdoor"])) == ()
    assert run_folder.approaches(run_defense.parse(["--base", "advtrain"])) == ("luring",)
    assert run_folder.approaches(run_characterization.parse(["--base", "advtrain"])) == ("luring",)
    assert run_folder.approaches(run_defense.parse(["--dataset", "cifar10"])) == ("stack", "ce", "luring")


def test_attack_names_one_spelling_underscores_as_aliases(capsys):
    text = help_text(capsys, run_defense.parse)
    listed = listed_choices(text)["--attack"]
    assert listed == list(names.DEFENSE_ATTACKS) and all("_" not in a for a in listed)
    for alias, canonical in (("mim_w", "mim-w"), ("mim_ti", "mim-ti"), ("dim_ti", "dim-ti"), ("MIM-W", "mim-w")):
        assert run_defense.parse(["--attack", alias]).attack == canonical
    err = refused(capsys, run_defense.parse, ["--attack", "mim_x"])
    assert "mim-ti" in err and "mim-w" in err


def test_analysis_lists_no_imagenet_and_refuses_it_in_one_line(capsys):
    text = help_text(capsys, run_analysis.parse)
    assert listed_choices(text)["--dataset"] == ["mnist", "svhn", "cifar10"]
    assert "imagenet" not in text
    err = refused(capsys, run_analysis.parse, ["--dataset", "imagenet"])
    assert "imagenet" in err and "mnist, svhn, cifar10" in err
    for script in ("run_characterization.py", "run_defense.py"):  # the others take it
        assert listed_choices(help_text(capsys, SCRIPTS[script].parse))["--dataset"] == list(profiles.DATASETS)


def test_export_and_config_help(capsys):
    from luring_tf.export.__main__ import parse as export_parse

    text = help_text(capsys, export_parse)
    assert "example:" in text and "python -m luring_tf.export --target-model" in text
    assert "export.json" in text and "saved_model/" in text
    text = help_text(capsys, profiles.main)
    assert listed_choices(text)["--dataset"] == list(profiles.DATASETS)
    for dataset in profiles.DATASETS:
        assert profiles.main(["--diff", "quick", "paper", "--dataset", dataset]) == 0
    capsys.readouterr()
    err = refused(capsys, profiles.main, ["--diff", "quick", "paper", "--dataset", "bogus"])
    assert all(d in err for d in profiles.DATASETS)


def test_strategy_is_taken_by_the_three_run_scripts_only(capsys):
    """README: the run scripts take --strategy; ``python -m luring_tf.export`` and ``luring_tf.config`` do not."""
    from luring_tf.export.__main__ import parse as export_parse

    for module in SCRIPTS.values():
        assert "--strategy {auto,one,mirrored,multiworker}" in help_text(capsys, module.parse)
    assert "--strategy" not in help_text(capsys, profiles.main)
    export = help_text(capsys, export_parse)
    assert "--strategy " not in export.split("example:")[0]


@pytest.mark.parametrize("script", SCRIPTS)
def test_unknown_profile_is_refused_in_one_line_naming_the_profiles(script):
    from luring_tf.errors import UserError

    module = SCRIPTS[script]
    assert module.configuration(module.parse(["--profile", "paper"]))["profile"] == "paper"
    with pytest.raises(UserError) as refusal:
        module.configuration(module.parse(["--profile", "bogus"]))
    message = str(refusal.value)
    assert "\n" not in message and "'bogus'" in message and "paper" in message and "quick" in message
