"""The ``luring-tf`` console command: one sub-command per script, the same flags, the same behaviour.

    luring-tf characterize --dataset mnist            # = python run_characterization.py --dataset mnist
    luring-tf protect mine.h5 --data-dir my_images    # = python run_characterization.py --target-model mine.h5 ...
    luring-tf defend --attack mim-w                   # = python run_defense.py --attack mim-w
    luring-tf analyse --dataset mnist                 # = python run_analysis.py --dataset mnist
    luring-tf export --target-model mine.h5 --out exported/mine --tflite   # = python -m luring_tf.export ...
    luring-tf config --diff quick paper --dataset mnist                    # = python -m luring_tf.config ...

``luring-tf COMMAND --help`` lists each command's flags. Installed by ``pip install`` (setup.py's
``console_scripts``); ``python -m luring_tf COMMAND`` is the same without the script on PATH.
"""

from __future__ import annotations

import sys

# command -> (module whose main(argv) it runs, what it does)
COMMANDS = {
    "characterize": ("luring_tf.cli.characterize",
                     "Section 3: train M and the T's, DR / IAR (run_characterization.py)"),
    "protect": ("luring_tf.cli.characterize", "protect your Keras classifier: train its luring component "
                                              "(run_characterization.py --target-model)"),
    "defend": ("luring_tf.cli.defend", "Section 4: AC_M∘P, AC_M, DAC under one attack (run_defense.py)"),
    "analyse": ("luring_tf.cli.analyse", "Section 3.3: CW-L2, saliency, logits variation (run_analysis.py)"),
    "export": ("luring_tf.export.__main__", "SavedModel (predict, detect) and TFLite T of a protected model"),
    "config": ("luring_tf.config.profiles", "compare profiles (--diff), print a shipped profile file (--shipped)"),
}
ALIASES = {"analyze": "analyse", "characterise": "characterize", "defense": "defend"}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: luring-tf COMMAND [flags]   (luring-tf COMMAND --help: the command's flags)", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def _protect_argv(argv: list[str]) -> list[str]:
    """``protect [PATH] [flags]``: the characterization's ``--target-model`` path (PATH = ``--target-model PATH``)."""
    given = any(a == "--target-model" or a.startswith("--target-model=") for a in argv)
    if argv and not argv[0].startswith("-") and not given:
        return ["--target-model", argv[0], *argv[1:]]
    if not given and not any(a in ("-h", "--help") for a in argv):
        sys.stderr.write("luring-tf protect: error: name your model: luring-tf protect MODEL.h5 [flags] "
                         "(see --help)\n")
        raise SystemExit(2)
    return argv


def main(argv: list[str] | None = None) -> None:
    """Run ``luring-tf COMMAND [flags]``; exits with the command's status (2 on a user error, one line)."""
    import importlib

    from luring_tf.cli.parser import run

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        raise SystemExit(0 if argv else 2)
    if argv[0] == "--version":
        from luring_tf import __version__

        print(f"luring-tf {__version__}")
        raise SystemExit(0)
    command, rest = ALIASES.get(argv[0], argv[0]), argv[1:]
    if command not in COMMANDS:
        sys.stderr.write(f"luring-tf: error: unknown command {argv[0]!r}: choose one of "
                         f"{', '.join(COMMANDS)} (see luring-tf --help)\n")
        raise SystemExit(2)
    prog = f"luring-tf {command}"
    module = importlib.import_module(COMMANDS[command][0])
    if command == "config":
        raise SystemExit(module.main(rest, prog=prog))
    if command == "export":
        run(lambda: module.main(rest, prog=prog))
    if command == "protect":
        rest = _protect_argv(rest)
    # the scripts read sys.argv as they do when run as files (their prog name, --dataset given or not)
    sys.argv = [prog, *rest]
    run(module.main)
