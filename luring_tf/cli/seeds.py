"""Several seeds in one command (``--seeds 0 1 2``): the whole protocol once per seed, then the aggregate table.

Seed ``s`` runs exactly as ``--seed s --out <out>/seed_<s> --models-dir <models-dir>/seed_<s>`` would: each seed
trains (run_characterization.py) or reads (run_defense.py) its own models and draws its own evaluation set; the
data split (``data.split_seed``) is the same for every seed. A seed whose result is already there -- made with
the same configuration (``run-config.json``) and newer than its model files -- is skipped; an unfinished one
resumes as any rerun does (finished models and attack cells are reused). Then
:func:`luring_tf.report.seeds.write_aggregate` writes ``<out>/aggregate_<...>.{json,md}`` from the per-seed
JSON records. ``--seeds 3`` alone is ``--seed 3`` into ``seed_3/`` (and an aggregate of one seed).
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from luring_tf.cli.parser import group


def add_seeds_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """``--seeds S [S ...]`` in the execution group; ``what``: what each seed runs, for the help."""
    group(parser, "execution").add_argument(
        "--seeds", type=int, nargs="+", default=None, metavar="S",
        help=f"run {what} once per seed into <out>/seed_<S>/ (models in <models-dir>/seed_<S>/), resumable per seed, "
             "then write the aggregate table over the seeds (mean, standard deviation, min-max beside the paper's) "
             "in <out>; not with --seed")


def check_seeds(parser, args, refused: dict[str, bool]) -> None:
    """One-line argparse errors: --seeds with --seed, a seed given twice, or a mode of ``refused`` ({flag: given})."""
    if args.seeds is None:
        return
    if args.seed is not None:
        parser.error("--seed and --seeds do not combine: pass one seed with --seed S, or several with --seeds S1 S2 ...")
    twice = sorted({s for s in args.seeds if args.seeds.count(s) > 1})
    if twice:
        parser.error(f"--seeds names seed {', '.join(map(str, twice))} twice: give each seed once")
    for flag, given in refused.items():
        if given:
            parser.error(f"--seeds does not combine with {flag}: run one seed at a time with --seed S "
                         "(and its own --out and --models-dir)")


@dataclass
class SeedRun:
    """One seed's run: its seed, the script's arguments for it, its results and models folders."""

    seed: int
    args: argparse.Namespace
    out: Path
    models: Path


def seed_runs(args, out_root: Path) -> list[SeedRun]:
    """Each seed's arguments: ``args`` with ``--seed s``, ``--out <out_root>/seed_<s>``, ``--models-dir .../seed_<s>``."""
    from luring_tf.cli import run_folder

    models_root = run_folder.models_dir(args)
    runs = []
    for seed in args.seeds:
        one = copy.copy(args)
        out, models = Path(out_root) / f"seed_{seed}", models_root / f"seed_{seed}"
        one.seed, one.seeds, one.out, one.models_dir = seed, None, str(out), str(models)
        runs.append(SeedRun(seed, one, out, models))
    return runs


def check_seed_models(args, runs: list[SeedRun]) -> None:
    """Every seed's M and T files exist (checked before the first seed runs), else one line naming the command
    that trains them (run_defense.py and run_analysis.py read the models of ``run_characterization.py --seeds``)."""
    from luring_tf.cli import run_folder
    from luring_tf.errors import UserError
    from luring_tf.storage.models_io import model_paths

    approaches = run_folder.approaches(args)
    lacking = [run.seed for run in runs
               if not all(p.is_file() for p in [model_paths(run.models)["M"],
                                                *(model_paths(run.models, a)["T"] for a in approaches)])]
    if lacking:
        command = (f"python run_characterization.py --dataset {args.dataset} --profile {args.profile} --seeds "
                   + " ".join(map(str, args.seeds)) + (f" --models-dir {args.models_dir}" if args.models_dir else ""))
        raise UserError(f"models of seed{'s' if len(lacking) > 1 else ''} {', '.join(map(str, lacking))} not found in "
                        f"{run_folder.models_dir(args)}/seed_<s>: train them with `{command}`")


def finished(out_dir: Path, record_name: str, fingerprint: dict, result: Path, model_files) -> bool:
    """True when ``result`` exists, ``out_dir/run-config.json`` says ``record_name`` was made with ``fingerprint``,
    and ``result`` is newer than every one of ``model_files`` (all present): nothing of the seed is left to do."""
    from luring_tf.cli import run_folder

    model_files = [Path(p) for p in model_files]
    if not result.is_file() or not all(p.is_file() for p in model_files):
        return False
    if not run_folder.holds(out_dir, record_name, fingerprint):
        return False
    made = result.stat().st_mtime_ns
    return all(p.stat().st_mtime_ns <= made for p in model_files)


def run_seeds(args, out_root, configuration: Callable, run_one: Callable, is_finished: Callable, kind: str,
              result_name: str, attack: str | None = None, reads_models: bool = False) -> int:
    """Run ``run_one(seed_args)`` for each seed not ``is_finished(seed_run)``, then write the aggregate.

    Every seed's ``configuration(seed_args)`` is resolved first (bad values fail before TensorFlow loads);
    ``reads_models``: the script reads the models of ``run_characterization.py --seeds`` (all checked present
    before the first seed runs). ``kind``: "characterization", "defense" or "analysis"
    (:mod:`luring_tf.report.seeds`); ``result_name``: each seed's JSON record in its folder
    (``characterization.json``, ``defense_<attack>.json``, ``analysis.json``). Returns the exit status.
    """
    from luring_tf.cli import run_folder
    from luring_tf.cli.parser import quiet_tensorflow

    out_root = Path(out_root)
    runs = seed_runs(args, out_root)
    for run in runs:
        configuration(run.args)
    quiet_tensorflow()
    if reads_models:
        check_seed_models(args, runs)
    from luring_tf.report.seeds import write_aggregate
    from luring_tf.training import distribute

    chief = distribute.is_chief()
    if chief:  # the aggregate's folder: writable and locked before any seed runs
        run_folder.prepare_output(out_root)
    for k, run in enumerate(runs, 1):
        head = f"[luring-tf] seed {run.seed} ({k}/{len(runs)})"
        if not (args.force or getattr(args, "retrain", False)) and is_finished(run):
            print(f"{head}: finished in {run.out} (same configuration, newer than its models): skipped", flush=True)
            continue
        print(f"{head}: results in {run.out}, models in {run.models}", flush=True)
        code = run_one(run.args)
        if code:
            return code
    if not chief:
        return 0
    paths = write_aggregate(kind, out_root, {run.seed: run.out / result_name for run in runs}, attack)
    print(paths[1].read_text(encoding="utf-8"))
    print("written: " + ", ".join(str(p) for p in paths))
    return 0
