"""Characterize the luring effect (paper Section 3): Table 8, DR and IAR under FGSM, PGD, MIM, MIM-L2.

    python run_characterization.py --dataset mnist                 # quick CPU profile, real digits
    python run_characterization.py --dataset svhn --profile paper --data-dir DIR
    python run_characterization.py --dataset mnist --target-model my_model.h5   # protect your model
    python run_characterization.py --target-model mine.h5 --data-dir my_images --input-range 0,255
    python run_characterization.py --dataset mnist --base advtrain   # M trained adversarially (App. H.2)

Trains (or loads) M and T = M∘P of Stack, Auto, C-E and Luring, attacks every T, and writes
results/<dataset>/characterization.{json,csv,md} and figure2.png. Re-running resumes: models and
finished attack cells are reused. The independent trainings and the attack cells run side by side in 2
threads on a CPU machine (--jobs auto, the default; same results as --jobs 1), their output in
<models-dir>/logs/ and <out>/logs/.

--dataset imagenet (Section 4.4, App. H.1; --data-dir DIR with train/<wnid>/ and val/<wnid>/ or a prepared
tfds imagenet2012): M = a pretrained MobileNetV2 (model.weights: imagenet, a file, or random for pipeline
checks), C-E and Luring only; writes Table 16 (test accuracy, agreement) -- the paper has no DR / IAR there.

--seeds 0 1 2 runs all of this once per seed into <out>/seed_<s>/ (models in <models-dir>/seed_<s>/, resumable
per seed) and writes aggregate_characterization.{json,md} in <out>: every rate's mean, standard deviation and
min-max over the seeds beside the per-seed values and the paper's (luring_tf/cli/seeds.py).

--base advtrain trains (or loads) an adversarially trained M and the components against it in
<models-dir>/advtrain/ (default approaches: luring), writes the results to results/<dataset>/advtrain/
and adds Table 18 (table18.{json,md}: Base rows from the standard models when they exist).
"""

from luring_tf.cli import advtrain_table, imagenet_run, seeds
from luring_tf.cli import target_model
from luring_tf.cli.parser import (Parser, add_choice, add_common_arguments, add_jobs_argument, group, quiet_tensorflow,
                                   releasing_locks, run, use_strategy)


TARGET_FLAGS = ("target_model", "dataset", "profile", "overrides", "config", "data_source", "data_dir", "tfds",
                "seed", "retrain", "input_range", "component", "luring_coefficient", "strategy")


def build_parser() -> Parser:
    """The script's argument parser (its --help)."""
    from luring_tf.names import CHARACTERIZATION_ATTACKS

    parser = Parser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                    formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    add_common_arguments(parser, trains=True,
                         approaches_default="default: all of the dataset's; with --base advtrain: luring")
    add_choice(group(parser, "evaluation"), "--attacks", CHARACTERIZATION_ATTACKS, "attack",
               nargs="+", default=None, help="subset of the attacks, characterization.attacks (default: all four)")
    group(parser, "execution").add_argument("--out", default=None,
                                            help="results folder (default: results/<dataset>)")
    group(parser, "your model").add_argument(
        "--target-model", default=None, metavar="PATH",
        help="protect this Keras classifier (.h5/.keras, any image shape and class count): train a luring component "
             "for it without labels and save <name>_luring_T.h5 beside it, then stop (takes only --dataset, "
             "--profile, --set, --config, --data-source, --data-dir, --tfds, --seed, --retrain, --input-range, --component, "
             "--luring-coefficient, --strategy; without --dataset the profile follows the images: mnist for grey, "
             "svhn for colour)")
    add_jobs_argument(parser)
    seeds.add_seeds_argument(parser, "the whole characterization")
    target_model.add_protect_arguments(parser)
    advtrain_table.add_base_argument(parser)
    return parser


def parse(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    target_model.refuse_without_target(parser, args)
    if args.target_model:
        parser.only_with(args, "--target-model", TARGET_FLAGS)
    seeds.check_seeds(parser, args, {"--target-model": bool(args.target_model),
                                     "--base advtrain": args.base == "advtrain"})
    return args


def configuration(args) -> dict:
    """The configuration of a run without --target-model (:func:`luring_tf.cli.run_folder.resolve_config`);
    with it, :func:`luring_tf.cli.target_model.protect_config` once the model's input shape is known."""
    from luring_tf.cli import run_folder

    return run_folder.resolve_config(args, "characterization")


def fingerprint(config: dict, approaches, models_dir) -> dict:
    """What ``run-config.json`` records for a characterization: another one into the same --out is refused."""
    return {"config": config, "approaches": list(approaches), "models_dir": str(models_dir)}


def seed_finished(run) -> bool:
    """True when the characterization of one seed of --seeds (:class:`luring_tf.cli.seeds.SeedRun`) is done."""
    from luring_tf.cli import run_folder
    from luring_tf.storage.models_io import model_paths

    approaches = run_folder.approaches(run.args)
    models = [model_paths(run.models)["M"], *(model_paths(run.models, a)["T"] for a in approaches)]
    return seeds.finished(run.out, "characterization", fingerprint(configuration(run.args), approaches, run.models),
                          run.out / "characterization.json", models)


@releasing_locks
def main(argv=None):
    args = parse(argv)
    if args.seeds is not None:
        return seeds.run_seeds(args, default_out(args), configuration, lambda one: characterize_run(one, argv),
                               seed_finished, "characterization", "characterization.json")
    return characterize_run(args, argv)


def default_out(args) -> str:
    """--out, else results/<dataset> (results/<dataset>/advtrain with --base advtrain)."""
    return args.out or f"results/{args.dataset}" + ("/advtrain" if args.base == "advtrain" else "")


def characterize_run(args, argv=None) -> int:
    """One characterization (one seed) of the parsed ``args``; ``argv``: the command line, for --target-model."""
    from pathlib import Path

    from luring_tf.storage import files
    from luring_tf.cli import run_folder
    from luring_tf.errors import UserError

    advtrain = advtrain_table.check_base(args.base)
    if args.dataset == "imagenet" and advtrain:
        imagenet_run.refuse("--base advtrain")
    if not args.target_model:  # with --target-model, the profile may follow the model's images (resolved later)
        config = configuration(args)  # bad values fail before TensorFlow loads
    if args.target_model and not Path(args.target_model).is_file():
        raise UserError(f"--target-model {args.target_model} not found: give the path of a Keras .h5 file")
    if args.target_model:
        from luring_tf.input_range import parse_input_range

        parse_input_range(args.input_range)  # a bad range fails before TensorFlow loads
    quiet_tensorflow()
    use_strategy(args)
    from luring_tf import workers
    from luring_tf.training import distribute, paper_models
    from luring_tf.report.characterization import characterization_markdown, write_characterization

    if args.target_model:
        return target_model.protect_command(args, target_model.dataset_given(argv))
    approaches = run_folder.approaches(args)
    # multi-worker: worker 0 writes; the others work in private copies (luring_tf.training.distribute.worker_path)
    out_dir = distribute.worker_path(Path(default_out(args)))
    standard_dir = distribute.worker_path(run_folder.models_dir(args))
    models_dir = advtrain_table.models_dir(standard_dir) if advtrain else standard_dir
    # Models reused from --models-dir must fit the data set and each other (before any training or attack).
    fix = "pass --retrain to train every model again, or the right --models-dir"
    trains = args.retrain or run_folder.check_existing_models(models_dir, approaches, args.dataset, fix,
                                                              **imagenet_run.model_expectations(config))
    if trains:  # both folders proven writable before either is created or locked
        files.check_writable(models_dir, "--models-dir")
    run_folder.prepare_output(out_dir)
    if trains:
        run_folder.prepare_output(models_dir, "--models-dir")
    claim = run_folder.claim_output(out_dir, "characterization", fingerprint(config, approaches, models_dir),
                                    args.force)
    data = run_folder.load_data(config, args.data_dir)
    claim()
    print(f"[luring-tf] data: {data.source}; {data.sizes()}", flush=True)
    with workers.for_run(args.jobs, data, not distribute.distributed()) as pool:
        models = paper_models.obtain_models(data, config, models_dir, approaches, args.retrain,
                                            "advtrain" if advtrain else "base", workers=pool)
        record = characterization_record(args, config, models, data, models_dir, out_dir, pool)
    paths = write_characterization(record, out_dir)
    print(characterization_markdown(record))
    if advtrain:
        paths += advtrain_table.characterization_table18(args, config, models, data, out_dir, standard_dir)
    print("written: " + ", ".join(str(p) for p in paths))
    return 0


def characterization_record(args, config, models, data, models_dir, out_dir, pool) -> dict:
    """Table 8 and the characterization's DR / IAR / l0 (attack cells in ``pool``'s threads when given)."""
    from luring_tf.evaluation.characterization import characterize, model_table

    record = {"dataset": args.dataset, "profile": args.profile, "config": config,
              "models_dir": str(models_dir), "data_source": data.source,
              "table8": model_table(models, data)}
    if imagenet_run.is_imagenet(config):  # Table 16 only: the paper has no ImageNet DR / IAR
        record["characterization"] = dict(imagenet_run.NO_CHARACTERIZATION)
        print(f"[luring-tf] {args.dataset}: {record['characterization']['skipped']}", flush=True)
    else:
        record["characterization"] = characterize(models, data, config, out_dir, args.force, not args.quiet,
                                                  workers=pool)
    return record


if __name__ == "__main__":
    run(main)
