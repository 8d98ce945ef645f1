"""Analyse the luring effect (paper Section 3.3, Appendices D.2-D.3): Table 9, Fig. 3 right, Fig. 4, Table 10.

    python run_analysis.py --dataset mnist                  # quick CPU profile, after run_characterization.py
    python run_analysis.py --dataset svhn --profile paper --data-dir DIR
    python run_analysis.py --dataset mnist --render-only    # re-render from the stored results

Loads M and T = M∘P of every approach trained by run_characterization.py, draws the evaluation
set (test images correct for every model), runs CW-L2 against M and every M∘P (Table 9; its l0
box plots are a statistic of their own, Fig. 3's l0 is run_characterization.py's), the saliency
maps of M's loss and of P (Fig. 3 right), the logits-variation analysis of Equation 5 (Table 10)
and MIM at the largest ε of the characterization against Luring's M∘P (Fig. 4). Writes
results/<dataset>/analysis/analysis.{json,npz,md}, cwl2_l0.png, fig3_saliency.png and
fig4_adversarial.png. A stored result of the same configuration and models is only re-rendered
(pass --force to recompute); after run_characterization.py --retrain it is recomputed.

--seeds 0 1 2 analyses the models of `run_characterization.py --seeds 0 1 2` (<models-dir>/seed_<s>/) once per
seed into <out>/seed_<s>/ (a finished seed is skipped) and writes aggregate_analysis.{json,md} in <out>: Table 9's
CW-L2 success, mean l2 and l-inf and Table 10's shares, each seed's value, mean, standard deviation, min-max.
"""

from luring_tf.cli import seeds
from luring_tf.cli.parser import (Parser, add_common_arguments, group, quiet_tensorflow, releasing_locks, run,
                                   use_strategy)
from luring_tf.names import ANALYSIS_DATASETS

# the paper's Appendix D analyses MNIST, SVHN and CIFAR10 only
REFUSED = {"imagenet": "is not analysed (the paper's Appendix D has no ImageNet analysis; use run_characterization.py "
                       "and run_defense.py --attack mim-w)"}


def build_parser() -> Parser:
    """The script's argument parser (its --help)."""
    parser = Parser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                    formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    add_common_arguments(parser, datasets=ANALYSIS_DATASETS, refused_datasets=REFUSED, section="analysis")
    execution, evaluation = group(parser, "execution"), group(parser, "evaluation")
    execution.add_argument("--out", default=None, help="results folder (default: results/<dataset>/analysis)")
    execution.add_argument("--render-only", action="store_true",
                           help="re-render analysis.md and the PNGs from the stored analysis.json/.npz "
                                "(takes only --dataset, --profile and --out)")
    evaluation.add_argument("--n-images", type=int, default=5,
                            help="images in the saliency and Fig. 4 grids (default: 5)")
    seeds.add_seeds_argument(parser, "the analysis (on each seed's models)")
    return parser


def parse(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.render_only:
        parser.only_with(args, "--render-only", ("render_only", "dataset", "profile", "out"))
    seeds.check_seeds(parser, args, {})
    return args


def configuration(args) -> dict:
    """The analysis's configuration (:func:`luring_tf.cli.run_folder.resolve_config`; --eps sets the
    characterization's ε, which the analysis reads)."""
    from luring_tf.cli import run_folder

    return run_folder.resolve_config(args, "analysis")


def _render(out_dir, record=None):
    from luring_tf.storage import files
    from luring_tf.report.analysis import analysis_markdown, write_analysis

    record = record or files.read_json(out_dir / "analysis.json")
    paths = write_analysis(record, out_dir)
    print(analysis_markdown(record))
    print("written: " + ", ".join(str(p) for p in paths))
    return 0


def seed_finished(run) -> bool:
    """True when the analysis of one seed of --seeds (:class:`luring_tf.cli.seeds.SeedRun`) is done: its
    analysis.json of the same configuration, approaches and --n-images, with analysis.npz, newer than the models."""
    from luring_tf.cli import run_folder
    from luring_tf.storage import files
    from luring_tf.storage.models_io import model_paths

    stored, arrays = run.out / "analysis.json", run.out / "analysis.npz"
    if not stored.is_file() or not arrays.is_file():
        return False
    approaches = run_folder.approaches(run.args)
    previous = files.read_json(stored).get("fingerprint") or {}
    wanted = {"config": configuration(run.args), "approaches": list(approaches), "n_images": run.args.n_images}
    if any(previous.get(key) != run_folder.as_json(value) for key, value in wanted.items()):
        return False
    models = [model_paths(run.models)["M"], *(model_paths(run.models, a)["T"] for a in approaches)]
    made = min(stored.stat().st_mtime_ns, arrays.stat().st_mtime_ns)
    return all(p.is_file() and p.stat().st_mtime_ns <= made for p in models)


@releasing_locks
def main(argv=None):
    args = parse(argv)
    if args.seeds is not None:
        if args.n_images <= 0:
            from luring_tf.errors import UserError

            raise UserError(f"--n-images must be positive, got {args.n_images}")
        return seeds.run_seeds(args, args.out or f"results/{args.dataset}/analysis", configuration, analyse_run,
                               seed_finished, "analysis", "analysis.json", reads_models=True)
    return analyse_run(args)


def analyse_run(args) -> int:
    """One analysis (one seed) of the parsed ``args``."""
    quiet_tensorflow()
    use_strategy(args)
    from pathlib import Path

    from luring_tf.storage import files
    from luring_tf.cli import run_folder
    from luring_tf.errors import UserError

    out_dir = Path(args.out or f"results/{args.dataset}/analysis")
    stored = out_dir / "analysis.json"
    if args.render_only:
        if not stored.is_file() or not (out_dir / "analysis.npz").is_file():
            raise UserError(f"no stored analysis in {out_dir}: run `python run_analysis.py --dataset {args.dataset} "
                            f"--profile {args.profile}` first")
        run_folder.prepare_output(out_dir)
        return _render(out_dir)
    if args.n_images <= 0:
        raise UserError(f"--n-images must be positive, got {args.n_images}")
    config = configuration(args)
    approaches = run_folder.approaches(args)
    models_dir = run_folder.models_dir(args)
    run_folder.prepare_output(out_dir)  # writable and locked before the stored results are read

    from luring_tf.storage.models_io import load_model, model_paths

    fix = f"train them first: python run_characterization.py --dataset {args.dataset} --profile {args.profile}"
    if args.models_dir:
        fix += f" --models-dir {args.models_dir}"
    needed = [model_paths(models_dir)["M"]] + [model_paths(models_dir, a)["T"] for a in approaches]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise UserError(f"model file{'s' if len(missing) > 1 else ''} {', '.join(missing)} not found: {fix}")

    models = {"M": load_model(needed[0])}
    components = {}
    for approach, path in zip(approaches, needed[1:]):
        models[approach] = load_model(path)
        components[approach] = models[approach].layers[0]
    run_folder.check_models(models, dict(zip(["M", *approaches], needed)), args.dataset, run_folder.retrain_fix(args))

    # Stored results are keyed by the configuration and by the models' weights digests: after a
    # --retrain the same configuration is recomputed (never re-rendered from the old models' results);
    # another configuration is refused without --force. A truncated analysis.json / .npz is a
    # one-line error naming it; --force recomputes it (neither file is read then).
    from luring_tf.evaluation.analysis import model_digests

    # the models are identified by their weights, not by their folder (models_dir is recorded beside)
    fingerprint = {"config": config, "approaches": list(approaches), "n_images": args.n_images,
                   "models": model_digests(models)}
    if stored.is_file() and not args.force:
        previous_record = files.read_json(stored)
        previous = previous_record.get("fingerprint") or {}
        if any(previous.get(key) != fingerprint[key] for key in ("config", "approaches", "n_images")):
            raise UserError(f"{out_dir} holds analysis results of another configuration: "
                            "pass --out elsewhere, or --force to replace them")
        if previous.get("models") != fingerprint["models"]:
            print(f"[luring-tf] {stored} was computed on other models (retrained since): recomputing it", flush=True)
        elif not (out_dir / "analysis.npz").is_file():
            print(f"[luring-tf] {out_dir / 'analysis.npz'} is missing: recomputing the analysis", flush=True)
        else:
            print(f"[luring-tf] {stored} holds this configuration's results: re-rendering (--force recomputes)")
            return _render(out_dir, previous_record)

    data = run_folder.load_data(config, args.data_dir)
    print(f"[luring-tf] data: {data.source}; test {len(data.x_test)}", flush=True)

    import time

    from luring_tf.evaluation.adversarial import select_examples
    from luring_tf.evaluation.analysis import analyze

    start = time.time()
    index = select_examples(models, data.x_test, data.y_test, config["analysis"]["n_examples"], config["seed"])
    print(f"[luring-tf] evaluation set: {len(index)} test images correct for M and {', '.join(approaches)}", flush=True)
    record, arrays = analyze(models, components, data.x_test[index], data.y_test[index], config,
                             verbose=not args.quiet, n_images=args.n_images)
    record = {"dataset": args.dataset, "profile": args.profile, "fingerprint": fingerprint,
              "models_dir": str(models_dir), "data_source": data.source, **record,
              "index": index.tolist(), "total_s": round(time.time() - start, 1)}
    files.write_npz(out_dir / "analysis.npz", **arrays)
    files.write_json(stored, record)
    return _render(out_dir, record)


if __name__ == "__main__":
    run(main)
