"""The ``luring-tf`` command (luring_tf/cli/entry.py) and the top-level scripts it stands beside."""

import subprocess
import sys

import pytest

from conftest import ROOT, assert_one_line_error, run_script
from luring_tf.cli import entry


def _entry(argv, capsys, monkeypatch):
    """Run ``luring-tf argv`` in this process: (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["luring-tf", *argv])  # the scripts read sys.argv; restored afterwards
    with pytest.raises(SystemExit) as info:
        entry.main(argv)
    out, err = capsys.readouterr()
    return info.value.code, out, err


@pytest.mark.parametrize("command, script", [("characterize", "run_characterization.py"),
                                             ("defend", "run_defense.py"), ("analyse", "run_analysis.py")])
def test_each_command_is_its_script(command, script, capsys, monkeypatch):
    """Same flags, same help (but the name): the script is a thin wrapper over the command's module."""
    code, out, _ = _entry([command, "--help"], capsys, monkeypatch)
    assert code == 0 and out.startswith(f"usage: luring-tf {command} ")
    result = subprocess.run([sys.executable, str(ROOT / script), "--help"], capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    assert result.returncode == 0
    name = f"luring-tf {command}"
    assert out.replace(name, script).split() == result.stdout.split()  # argparse re-wraps around the name
    assert "--config FILE" in out
    wrapper = (ROOT / script).read_text()
    assert len(wrapper.splitlines()) < 20 and f"from luring_tf.cli.{entry.COMMANDS[command][0].split('.')[-1]}" \
        in wrapper


def test_the_command_lists_and_refuses(capsys, monkeypatch):
    code, out, _ = _entry(["--help"], capsys, monkeypatch)
    assert code == 0 and all(name in out for name in entry.COMMANDS)
    code, _, err = _entry([], capsys, monkeypatch)
    assert code == 2
    code, _, err = _entry(["characterise-all"], capsys, monkeypatch)
    assert code == 2 and err.count("\n") == 1 and "unknown command 'characterise-all'" in err
    assert "characterize, protect, defend, analyse, export, config" in err
    code, _, err = _entry(["protect"], capsys, monkeypatch)
    assert code == 2 and err.count("\n") == 1 and "luring-tf protect MODEL.h5" in err
    code, out, _ = _entry(["--version"], capsys, monkeypatch)
    assert code == 0 and out.startswith("luring-tf ")


def test_protect_is_the_target_model_path(tmp_path, capsys, monkeypatch):
    """``protect PATH`` = ``characterize --target-model PATH``: the same one-line answer (before TensorFlow)."""
    monkeypatch.chdir(tmp_path)
    code, _, err = _entry(["protect", "none.h5", "--input-range", "0,255"], capsys, monkeypatch)
    script = run_script("run_characterization.py", "--target-model", "none.h5", "--input-range", "0,255",
                        cwd=tmp_path, timeout=120)
    assert_one_line_error(script, "--target-model none.h5 not found")
    assert code == 2 and err == script.stderr
    # flags of the characterization that mean nothing with a target model are refused as the script refuses them
    code, _, err = _entry(["protect", "--target-model", "none.h5", "--attacks", "fgsm"], capsys, monkeypatch)
    assert code == 2 and "--target-model ignores --attacks" in err


def test_config_and_export_take_their_prog_name(capsys, monkeypatch):
    code, out, _ = _entry(["config", "--diff", "quick", "paper"], capsys, monkeypatch)
    from luring_tf.config.profiles import format_diff

    assert code == 0 and out == format_diff("mnist", "quick", "paper") + "\n"
    code, _, err = _entry(["config"], capsys, monkeypatch)
    assert code == 2 and "luring-tf config" in err and ("--diff" in err and "--shipped" in err)
    code, _, err = _entry(["export", "--out", "x"], capsys, monkeypatch)
    assert code == 2 and err.startswith("luring-tf export: error:") and "--target-model" in err
