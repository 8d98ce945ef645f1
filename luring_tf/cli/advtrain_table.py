"""``--base advtrain`` of the run scripts (App. H.2): M trained adversarially, luring stacked on it, Tables 18-19.

Layout: the adversarially trained M and the components trained against it live in
``<models-dir>/advtrain/`` (``M.h5``, ``<approach>_{P,T}.h5``, plain Keras like every model); the
standard models stay in ``<models-dir>``. Results go to ``results/<dataset>/advtrain/`` (the
characterization) and ``results/<dataset>/advtrain/defense/`` (the defense), so nothing of the
standard base is overwritten. Default approaches: Luring only (Tables 18-19 show Luring only).

``run_defense.py --base advtrain`` (Tables 18-19): attacks AdvTrain-<approach> and Base-<approach>
side by side, each on its own evaluation set (test images correct for its M and T). Base cells are
the standard defense cells: they are read from (or computed into) the standard defense folder
``results/<dataset>/defense`` (``<out>/base`` when ``--out`` is given), keyed by the models'
weights digests as always, so a standard ``run_defense.py --attack mim-w --approaches luring``
run shares them. MIM-W includes FGSM, as Table 19's caption says. ε: the adversarial training's
``train.advtrain.eps`` (Table 19's ε: 0.3 MNIST, 0.03 SVHN / CIFAR10) unless ``--eps`` is given.
AC_M,wb (white-box PGD on each M, :mod:`luring_tf.evaluation.white_box`) is computed here, always.
"""

from __future__ import annotations

from pathlib import Path

from luring_tf.names import BASES  # standard advtrain

DEFAULT_APPROACHES = ("luring",)
SUBFOLDER = "advtrain"


def check_base(base: str) -> bool:
    """True for ``advtrain``; a one-line ``UserError`` for an unknown ``--base``."""
    from luring_tf.errors import UserError

    if base not in BASES:
        raise UserError(f"unknown --base {base!r}: choose standard (M trained classically) or advtrain "
                        "(M trained adversarially, App. H.2)")
    return base == "advtrain"


def models_dir(standard_dir) -> Path:
    return Path(standard_dir) / SUBFOLDER


def approaches(args) -> tuple[str, ...]:
    from luring_tf.training import paper_models

    return paper_models.check_approaches(args.dataset, args.approaches or DEFAULT_APPROACHES)


def _load(folder: Path, names, dataset: str, command: str) -> tuple[dict, dict]:
    from luring_tf.errors import UserError
    from luring_tf.storage.models_io import load_model, model_paths

    paths = {"M": model_paths(folder)["M"], **{a: model_paths(folder, a)["T"] for a in names}}
    missing = [p.name for p in paths.values() if not p.is_file()]
    if missing:
        raise UserError(f"models for {dataset} not found in {folder} (missing {', '.join(missing)}): "
                        f"train them with `{command}`")
    return {name: load_model(path) for name, path in paths.items()}, paths


def _command(args, base: str, names) -> str:
    command = f"python run_characterization.py --dataset {args.dataset} --profile {args.profile}"
    if base == "advtrain":
        command += " --base advtrain"
    if args.models_dir:
        command += f" --models-dir {args.models_dir}"
    return command + " --approaches " + " ".join(names)


def defense(args, config: dict) -> int:
    """``run_defense.py --base advtrain``: Tables 18 and 19 (see the module docstring)."""
    from luring_tf.cli import run_folder
    from luring_tf.evaluation.characterization import model_table
    from luring_tf.evaluation.defense import expand_configs, run_defense
    from luring_tf.evaluation.white_box import white_box_accuracy, white_box_params
    from luring_tf.report.advtrain import dac_findings, table18_markdown, table18_rows, table19_markdown, \
        write_tables_18_19

    names = approaches(args)  # Table 19's ε and FGSM: run_folder.mode_defaults (below --set, --eps wins)
    expand_configs(args.attack, config["defense"])  # bad grids fail before any work
    standard_dir = run_folder.models_dir(args)
    sets = {}
    for base, folder in (("base", standard_dir), ("advtrain", models_dir(standard_dir))):
        models, paths = _load(folder, names, args.dataset, _command(args, base, names))
        run_folder.check_models(models, paths, args.dataset, run_folder.retrain_fix(args)
                                + (" (with --base advtrain)" if base == "advtrain" else ""))
        sets[base] = models
    out_dir = run_folder.prepare_output(Path(args.out or f"results/{args.dataset}/advtrain/defense"))
    base_dir = run_folder.prepare_output(Path(f"results/{args.dataset}/defense") if args.out is None
                                         else Path(args.out) / "base")
    fingerprint = {key: config[key] for key in ("dataset", "profile", "seed", "data", "defense")}
    fingerprint.update(attack=args.attack, approaches=list(names), models_dir=str(standard_dir), base="advtrain",
                       advtrain=config["train"]["advtrain"])
    claim = run_folder.claim_output(out_dir, f"tables_18_19_{args.attack}", fingerprint, args.force)
    data = run_folder.load_data(config, args.data_dir)
    claim()
    print(f"[luring-tf] data: {data.source}; test {len(data.x_test)}", flush=True)
    verbose = not args.quiet
    table19, defenses, tables8 = [], {}, {}
    for base, folder in (("base", base_dir), ("advtrain", out_dir)):
        models = sets[base]
        tables8[base] = model_table(models, data)
        result = run_defense(models, data, config, args.attack, folder, args.force, verbose)
        index = result["index"]
        x, y = data.x_test[index], data.y_test[index]
        white = {eps: white_box_accuracy(models["M"], x, y, index, eps, config, folder, args.force, verbose)
                 for eps in config["defense"]["eps"]}
        for row in result["table"]:
            table19.append({"base": base, "approach": row["approach"], "eps": row["eps"], "n": row["n"],
                            "AC_M_wb": white[row["eps"]]["AC_M"], "AC_MoP": row["AC_MoP"], "AC_M": row["AC_M"],
                            "DAC": row["DAC"], "argmin": row.get("argmin")})
        defenses[base] = {"folder": str(folder), "n": result["n"], "index": index, "models": result["models"],
                          "cells": [c.get("adversarial_set", "").replace("/adversarial/", "/cells/")
                                    .replace(".npz", ".json") for c in result["cells"]],
                          "white_box_cells": {str(e): c["adversarial_set"] for e, c in white.items()}}
    table19.sort(key=lambda r: (r["eps"], r["approach"], r["base"] != "base"))
    record = {"dataset": args.dataset, "profile": args.profile, "attack": args.attack,
              "include_fgsm": True, "eps": config["defense"]["eps"], "seed": config["seed"],
              "models_dir": str(standard_dir), "data_source": data.source, "defense_config": config["defense"],
              "advtrain_config": config["train"]["advtrain"], "white_box_params": white_box_params(config["defense"]),
              "table18": table18_rows(tables8), "table19": table19, "findings": dac_findings(table19),
              "defenses": defenses}
    print(table18_markdown(args.dataset, record["table18"], args.profile))
    print(table19_markdown(record))
    paths = write_tables_18_19(record, out_dir)
    print("written: " + ", ".join(str(p) for p in paths))
    return 0


def characterization_table18(args, config: dict, models: dict, data, out_dir, standard_dir) -> list:
    """Table 18 after ``run_characterization.py --base advtrain``: the AdvTrain rows from ``models``,
    the Base rows from the standard models in ``standard_dir`` when they exist (else left out, said so)."""
    from luring_tf.cli import run_folder
    from luring_tf.errors import UserError
    from luring_tf.evaluation.characterization import model_table
    from luring_tf.report.advtrain import table18_markdown, table18_rows, write_table18

    tables = {"advtrain": model_table(models, data)}
    names = [name for name in models if name != "M"]
    try:
        base, paths = _load(Path(standard_dir), names, args.dataset, _command(args, "base", names))
        run_folder.check_models(base, paths, args.dataset, run_folder.retrain_fix(args))
        tables["base"] = model_table(base, data)
    except UserError as exc:
        print(f"[luring-tf] Table 18 without the Base rows: {exc}", flush=True)
    rows = table18_rows(tables)
    print(table18_markdown(args.dataset, rows, args.profile))
    return write_table18({"dataset": args.dataset, "profile": args.profile, "table18": rows,
                          "models_dir": str(standard_dir)}, out_dir)


def add_base_argument(parser) -> None:
    """``--base {standard,advtrain}`` of run_characterization.py and run_defense.py."""
    from luring_tf.cli.parser import add_choice, group

    add_choice(group(parser, "models"), "--base", BASES, "--base", default="standard",
               help="how M is trained: standard, or advtrain = adversarially (App. H.2; models in "
                    "<models-dir>/advtrain/, results in results/<dataset>/advtrain/, default approaches: luring; "
                    "Tables 18-19) (default: %(default)s)")
