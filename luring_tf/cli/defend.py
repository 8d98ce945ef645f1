"""Black-box defense evaluation (paper Section 4): AC_M∘P, AC_M and DAC beside the paper's Table 1 / 14.

    python run_defense.py --attack spsa                     # quick MNIST profile, models of run_characterization.py
    python run_defense.py --attack eco --eps 0.3
    python run_defense.py --attack mim-w                    # worst case over MIM, DIM, MIM-TI, DIM-TI grids
    python run_defense.py --dataset svhn --profile paper --data-dir DIR --attack spsa
    python run_defense.py --target-model mine.h5 --data-dir my_images --attack mim-w   # your protected model
    python run_defense.py --attack mim-w --public trapdoor   # Table 20: a trapdoored model as the public model
    python run_defense.py --attack mim-w --base advtrain     # Tables 18-19: luring on an adversarially trained M

Attacks T = M∘P of each approach on N test images correct for M and every T, transfers the
adversarial sets to M, and writes results/<dataset>/defense/: adversarial/<approach>/*.npz (lossless
sets), cells/<approach>/*.json (one per cell), defense_<attack>.{json,md}. Re-running resumes: a
finished cell is never recomputed unless --force. The models must exist: train them with
run_characterization.py.

--public trapdoor (Table 20, App. I) attacks a trapdoored model trained from M instead of M∘P
(add --approaches luring for the M∘P rows beside it); MIM-W then includes FGSM, as Table 20 does.
The trapdoored model is trained here when missing, into <models-dir>/trapdoor/ (reused after,
--retrain trains it again): it is part of this table only, M must exist. Writes
trapdoor_<attack>.{json,md} beside the cells, with the signature detector's DAC as a second DAC.

--dataset imagenet --attack mim-w (Table 17, App. H.1): C-E and Luring at ε = 4/255, 5/255, 6/255 on
defense.n_examples validation images correct for M and both T, drawn from the first defense.candidates.

--seeds 0 1 2 evaluates the models of `run_characterization.py --seeds 0 1 2` (<models-dir>/seed_<s>/) once
per seed into <out>/seed_<s>/ (resumable per seed) and writes aggregate_defense_<attack>.{json,md} in <out>:
every rate's mean, standard deviation and min-max over the seeds beside the per-seed values and the paper's.

--base advtrain (Tables 18-19, App. H.2) evaluates AdvTrain-Luring (models of `run_characterization.py
--base advtrain`) and Base-Luring side by side at train.advtrain.eps, MIM-W with FGSM, with AC_M,wb;
writes results/<dataset>/advtrain/defense/{tables_18_19.json,table18.md,table19.md} (Base cells in
results/<dataset>/defense, shared with the standard runs); see luring_tf/cli/advtrain_table.py.
"""

from luring_tf.cli import advtrain_table, imagenet_run, seeds, target_model
from luring_tf.cli.parser import (Parser, add_choice, add_common_arguments, group, quiet_tensorflow, releasing_locks,
                                   run, use_strategy)

from luring_tf.names import DEFENSE_ATTACKS as ATTACK_CHOICES, PUBLIC_MODELS as PUBLIC_CHOICES, canonical_attack

TARGET_FLAGS = ("target_model", "attack", "out", "dataset", "profile", "overrides", "config", "data_source", "data_dir", "tfds",
                "n_examples", "eps", "seed", "force", "quiet", "strategy")


def build_parser() -> Parser:
    """The script's argument parser (its --help)."""
    parser = Parser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                    formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    add_common_arguments(parser, section="defense",
                         eps_default="the profile's; with --base advtrain: train.advtrain.eps",
                         approaches_default="default: all of the dataset's; with --public trapdoor: none (the "
                                            "trapdoored model alone); with --base advtrain: luring")
    evaluation = group(parser, "evaluation")
    add_choice(evaluation, "--attack", ATTACK_CHOICES, "attack", default="spsa",
               normalize=canonical_attack,
               help="the attack; mim-w = the worst case over MIM, DIM, MIM-TI and DIM-TI (underscores, e.g. mim_ti, "
                    "are accepted too) (default: %(default)s)")
    group(parser, "execution").add_argument("--out", default=None,
                                            help="results folder (default: results/<dataset>/defense)")
    group(parser, "your model").add_argument(
        "--target-model", default=None, metavar="PATH",
        help="evaluate your classifier and its T (<name>_luring_T.h5, from run_characterization.py --target-model) "
             "instead of the paper's models; ε are fractions of its input range, which is read from "
             "<name>_luring.json (the --input-range it was protected with; no --input-range here); results in "
             "results/<name>/defense (default)")
    add_choice(group(parser, "models"), "--public", PUBLIC_CHOICES, "public model", default="mop",
               help="the public model the adversary attacks: mop = T = M∘P of each approach, trapdoor = a trapdoored "
                    "model trained from M (Table 20) (default: %(default)s)")
    group(parser, "models").add_argument(
        "--retrain", action="store_true",
        help="with --public trapdoor: train the trapdoored model again even if its .h5 exists")
    advtrain_table.add_base_argument(parser)
    seeds.add_seeds_argument(parser, "the defense evaluation (on each seed's models)")
    return parser


def parse(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.target_model:
        parser.only_with(args, "--target-model", TARGET_FLAGS)
    seeds.check_seeds(parser, args, {"--target-model": bool(args.target_model),
                                     "--base advtrain": args.base == "advtrain",
                                     "--public trapdoor": args.public == "trapdoor"})
    return args


def check_modes(args) -> bool:
    """The flags that do not combine (one-line errors); True for ``--public trapdoor``."""
    from luring_tf.errors import UserError

    trapdoor = args.public == "trapdoor"
    if advtrain_table.check_base(args.base) and trapdoor:
        raise UserError("--base advtrain and --public trapdoor do not combine: run them separately")
    if args.retrain and not trapdoor:
        raise UserError("--retrain only retrains the trapdoored model (--public trapdoor): retrain M and the "
                        "components with `python run_characterization.py --retrain`")
    if args.dataset == "imagenet" and (trapdoor or args.base == "advtrain"):
        imagenet_run.refuse("--public trapdoor" if trapdoor else "--base advtrain")
    return trapdoor


def configuration(args) -> dict:
    """The configuration of a run without --target-model (:func:`luring_tf.cli.run_folder.resolve_config`:
    --public trapdoor / --base advtrain add their defaults below --set); with it,
    :func:`luring_tf.cli.target_model.defense_config` once the protection record is read."""
    from luring_tf.cli import run_folder

    return run_folder.resolve_config(args, "defense")


def fingerprint(args, config: dict, approaches, models_dir, trapdoor: bool = False) -> dict:
    """What ``run-config.json`` records for a defense result: another one into the same --out is refused."""
    printed = {key: config[key] for key in ("dataset", "profile", "seed", "data", "defense")}
    printed.update(attack=args.attack, approaches=list(approaches), models_dir=str(models_dir))
    if trapdoor:
        printed.update(public="trapdoor", trapdoor=config["train"]["trapdoor"])
    return printed


def model_files(models_dir, approaches) -> dict:
    """``{"M": M.h5, approach: <approach>_T.h5}`` in ``models_dir``."""
    from luring_tf.storage.models_io import model_paths

    return {"M": model_paths(models_dir)["M"], **{a: model_paths(models_dir, a)["T"] for a in approaches}}


def seed_finished(run) -> bool:
    """True when the defense of one seed of --seeds (:class:`luring_tf.cli.seeds.SeedRun`) is done."""
    from luring_tf.cli import run_folder

    approaches = run_folder.approaches(run.args)
    stored = fingerprint(run.args, configuration(run.args), approaches, run.models)
    return seeds.finished(run.out, f"defense_{run.args.attack}", stored, run.out / f"defense_{run.args.attack}.json",
                          model_files(run.models, approaches).values())


@releasing_locks
def main(argv=None):
    args = parse(argv)
    if args.seeds is not None:
        return seeds.run_seeds(args, args.out or f"results/{args.dataset}/defense", configuration,
                               lambda one: defend_run(one, argv), seed_finished, "defense",
                               f"defense_{args.attack}.json", args.attack, reads_models=True)
    return defend_run(args, argv)


def defend_run(args, argv=None) -> int:
    """One defense evaluation (one seed) of the parsed ``args``; ``argv``: the command line, for --target-model."""
    from pathlib import Path

    from luring_tf.cli import run_folder
    from luring_tf.errors import UserError

    trapdoor = check_modes(args)
    if not args.target_model:  # with --target-model, the profile may follow the model's images (resolved later)
        config = configuration(args)  # bad values fail before TensorFlow loads
    if args.target_model and not Path(args.target_model).is_file():
        raise UserError(f"--target-model {args.target_model} not found: give the path of your Keras model file")
    if args.base == "advtrain":  # Tables 18-19
        quiet_tensorflow()
        use_strategy(args)
        return advtrain_table.defense(args, config)
    quiet_tensorflow()
    use_strategy(args)
    if args.target_model:
        return target_model.defense_command(args, target_model.dataset_given(argv))
    from luring_tf.training import distribute
    from luring_tf.evaluation.defense import expand_configs, run_defense
    from luring_tf.report.defense import defense_markdown, write_defense
    from luring_tf.storage.models_io import load_model

    approaches = run_folder.approaches(args)
    expand_configs(args.attack, config["defense"])  # bad grids fail before any work
    # multi-worker: worker 0 writes; the others work in private copies (luring_tf.training.distribute.worker_path)
    models_dir = distribute.worker_path(run_folder.models_dir(args))
    paths = model_files(models_dir, approaches)
    missing = [p.name for p in paths.values() if not p.is_file()]
    if missing:
        raise UserError(f"models for {args.dataset} ({args.profile} profile) not found in {models_dir} "
                        f"(missing {', '.join(missing)}): train them with `python run_characterization.py "
                        f"--dataset {args.dataset} --profile {args.profile}"
                        + (f" --models-dir {args.models_dir}" if args.models_dir else "") + "`")
    models = {name: load_model(path) for name, path in paths.items()}
    run_folder.check_models(models, paths, args.dataset, run_folder.retrain_fix(args),
                            **imagenet_run.model_expectations(config))
    out_dir = run_folder.prepare_output(distribute.worker_path(Path(args.out or f"results/{args.dataset}/defense")))
    # defense_<attack>.json of another seed or configuration is never silently replaced
    if trapdoor:
        run_folder.prepare_output(models_dir / "trapdoor", "--models-dir")
    claim = run_folder.claim_output(out_dir, f"defense_{args.attack}" + ("_trapdoor" if trapdoor else ""),
                                    fingerprint(args, config, approaches, models_dir, trapdoor), args.force)
    data = run_folder.load_data(config, args.data_dir)
    claim()
    if imagenet_run.is_imagenet(config):  # Table 17: well-classified images drawn from a pool held in memory
        data = imagenet_run.attack_pool(data, config)
    print(f"[luring-tf] data: {data.source}; test {data.size('test')}", flush=True)
    if trapdoor:
        from luring_tf.cli.trapdoor_table import table20

        return table20(models, data, config, args, out_dir, models_dir)
    record = run_defense(models, data, config, args.attack, out_dir, args.force, not args.quiet)
    record.update(dataset=args.dataset, profile=args.profile, models_dir=str(models_dir),
                  data_source=data.source, eps=config["defense"]["eps"], seed=config["seed"],
                  defense_config=config["defense"])
    print(defense_markdown(record))
    paths = write_defense(record, out_dir)
    print("written: " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    run(main)
