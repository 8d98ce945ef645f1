"""``--target-model``: the scripts' path for a user's own classifier (protect it, evaluate the protection).

``run_characterization.py --target-model M.h5 [--input-range ...] [--component module:function]
[--luring-coefficient λ]`` trains P (:func:`luring_tf.api.protect`); ``run_defense.py --target-model
M.h5 --attack ...`` evaluates M and its T (:func:`luring_tf.api.evaluate`). The configuration profile
is ``--dataset``'s when given, else picked from the image's channels (:func:`luring_tf.api.profile_dataset`:
mnist for grey, svhn for colour).
"""

from __future__ import annotations

import sys
from pathlib import Path

PROTECT_FLAGS = ("input_range", "component", "luring_coefficient")


def add_protect_arguments(parser) -> None:
    """Flags of ``run_characterization.py`` that apply only with ``--target-model``."""
    from luring_tf.cli.parser import group
    from luring_tf.input_range import SYNTAX

    mine = group(parser, "your model")
    mine.add_argument("--input-range", default="0,1", metavar="RANGE",
                        help=f"with --target-model: the inputs your model expects, {SYNTAX} (default: %(default)s); "
                             "folded into the saved T, which takes the same inputs as your model")
    mine.add_argument("--component", default=None, metavar="MODULE:FUNCTION",
                        help="with --target-model: build P with FUNCTION(input_shape) -> keras.Model from MODULE "
                             "(importable from the current folder; P maps [0,1] images to [0,1] images), or "
                             "'compact'; default: the compact P without --dataset (luring_tf/training/"
                             "user_defaults.py), the paper's component by image size with --dataset "
                             "(architectures/by_shape.py)")
    mine.add_argument("--luring-coefficient", type=float, default=None, metavar="LAMBDA",
                        help="with --target-model: λ of the luring loss, train.luring.luring_coefficient (default: "
                             "the profile's: 0.15 for --dataset cifar10, else 1.0, the paper's values)")


def dataset_given(argv) -> bool:
    """Whether ``--dataset`` is on the command line (else the profile follows the model's images)."""
    argv = sys.argv[1:] if argv is None else argv
    return any(a == "--dataset" or a.startswith("--dataset=") for a in argv)


def refuse_without_target(parser, args) -> None:
    """``--input-range`` / ``--component`` / ``--luring-coefficient`` mean nothing without ``--target-model``."""
    given = [flag for flag in parser.given(args) if flag.lstrip("-").replace("-", "_") in PROTECT_FLAGS]
    if given and not args.target_model:
        parser.error(f"{', '.join(given)} only apply with --target-model: add --target-model PATH or drop them")


def resolve(args, shape, section: str, defaults=()) -> dict:
    """The ``--target-model`` run's configuration (the path both commands and the tests take).

    ``args.dataset`` None (no ``--dataset``) follows the model's images (:func:`luring_tf.api.profile_dataset`).
    Precedence as for every run (:mod:`luring_tf.config.precedence`): the profile < ``defaults`` (e.g. a
    user model's) < ``--set`` < ``--seed`` / ``--n-examples`` / ``--eps`` / ``--luring-coefficient`` / ...:
    λ is the profile's (0.15 for cifar10, else 1.0) unless ``--set train.luring.luring_coefficient=`` or
    ``--luring-coefficient`` says otherwise.
    """
    from luring_tf import api
    from luring_tf.cli import run_folder

    if args.dataset is None:
        args.dataset = api.profile_dataset(shape)
    return run_folder.resolve_config(args, section, defaults)


def protect_config(args, shape, dataset_explicit: bool, classes: int | None = None) -> dict:
    """``run_characterization.py --target-model``'s configuration for a model taking images of ``shape`` with
    ``classes`` classes: without ``--dataset``, the user-model defaults (:mod:`luring_tf.training.user_defaults`)
    sit between the profile and ``--set``, and the configuration says so (``user_defaults``)."""
    from luring_tf.training import user_defaults

    user = {} if dataset_explicit or classes is None else user_defaults.user_model_defaults(shape, classes)
    if not dataset_explicit:
        args.dataset = None
    config = resolve(args, shape, "characterization", user_defaults.as_overrides(user))
    if user:
        config["user_defaults"] = {"values": user, "reason": user_defaults.reason(shape, classes)}
    return config


def defense_config(args, record: dict, shape, dataset_explicit: bool) -> dict:
    """``run_defense.py --target-model``'s configuration: the profile, folder, seed and test hold-out the model was
    protected with (seed and split as defaults: ``--set`` and ``--seed`` win, as in :func:`luring_tf.api.evaluate`)."""
    if not dataset_explicit:
        args.dataset = record.get("dataset")  # the profile the model was protected with
    if args.data_dir is None and not args.data_source and not getattr(args, "tfds", None):
        args.data_dir = record.get("data_dir")  # the folder it was protected with (its same test hold-out)
    from luring_tf.training.protect import recorded_defaults

    return resolve(args, shape, "defense", recorded_defaults(record))


def check_paper_shape(args, config: dict, shape: tuple) -> None:
    """A model protected on a paper data set (no image folder, no --tfds) must take that set's images."""
    from luring_tf.data.dataset import IMAGE_SHAPES
    from luring_tf.data.load import is_image_folder
    from luring_tf.errors import UserError

    d = config["data"]
    own_images = d.get("tfds_name") or d["source"] == "folder" or (
        d["source"] == "auto" and args.data_dir and is_image_folder(config["dataset"], args.data_dir))
    expected = tuple(IMAGE_SHAPES[config["dataset"]])
    if not own_images and tuple(shape) != expected:
        raise UserError(f"--target-model takes images of shape {tuple(shape)}, {config['dataset']} images have shape "
                        f"{expected}: pass the --dataset your model was trained on, or --data-dir with your own "
                        "JPEG/PNG images (resized to your model's shape)")


def protect_command(args, dataset_explicit: bool) -> int:
    """``run_characterization.py --target-model``: load M, its data, train P, save P/T/record beside M."""
    from luring_tf import api
    from luring_tf.cli import run_folder
    from luring_tf.input_range import parse_input_range
    from luring_tf.training.protect import check_classifier, load_target

    from luring_tf.training import user_defaults

    rng = parse_input_range(args.input_range)
    classifier = load_target(args.target_model, retrain=args.retrain)  # its folder writable too
    shape, classes = check_classifier(classifier, f"--target-model {args.target_model}")
    config = protect_config(args, shape, dataset_explicit, classes)
    if config.get("user_defaults"):
        print(f"[luring-tf] {config['user_defaults']['reason']}", flush=True)
    rng.check_channels(shape[-1], f"--target-model {args.target_model}")
    check_paper_shape(args, config, shape)
    data = run_folder.load_data(config, args.data_dir, image_shape=shape)
    print(f"[luring-tf] data: {data.source}; {data.sizes()}; configuration: {config['dataset']} "
          f"{config['profile']} profile", flush=True)
    protected = api.protect(classifier, data, input_range=rng, component=args.component, config=config,
                            data_dir=args.data_dir, path=args.target_model)
    record = protected.record
    agreement = record["test_agreement"]
    print(f"P: {record['component_rule']}; λ = {record['luring_coefficient']:g}; input range [{rng.text}]")
    print(f"protected model written to {record['protected_model']}: test agreement with your model "
          f"{agreement['value']:.3f} ({agreement['denominator']} test images; labels: {record['labels']})")
    return 0


def defense_command(args, dataset_explicit: bool) -> int:
    """``run_defense.py --target-model``: M and its T under one attack, on the data's test hold-out."""
    from luring_tf import api
    from luring_tf.cli import run_folder
    from luring_tf.evaluation.defense import expand_configs
    from luring_tf.report.defense import defense_markdown

    protected = api.load_protected(args.target_model)
    record, shape = protected.record, protected.image_shape
    config = defense_config(args, record, shape, dataset_explicit)
    expand_configs(args.attack, config["defense"])  # bad grids fail before any work
    stem = Path(args.target_model).with_suffix("").name
    out_dir = run_folder.prepare_output(Path(args.out or f"results/{stem}/defense"))
    fingerprint = {key: config[key] for key in ("dataset", "profile", "seed", "data", "defense")}
    fingerprint.update(attack=args.attack, target_model=str(args.target_model))
    claim = run_folder.claim_output(out_dir, f"defense_{args.attack}", fingerprint, args.force)
    data = run_folder.load_data(config, args.data_dir, image_shape=shape)
    claim()
    print(f"[luring-tf] data: {data.source}; {data.sizes()}", flush=True)
    result = api.evaluate(protected, data, attack=args.attack, out_dir=out_dir, config=config, force=args.force,
                          verbose=not args.quiet)
    print(defense_markdown(result))
    print("written: " + ", ".join(result["written"]))
    return 0
