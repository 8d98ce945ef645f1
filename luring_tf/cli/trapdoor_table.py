"""``run_defense.py --public trapdoor``: train-or-load the trapdoored model, evaluate Table 20, write it."""

from __future__ import annotations


def table20(models: dict, data, config: dict, args, out_dir, models_dir) -> int:
    """``models``: M (and M∘P of ``--approaches``), loaded and checked; the output folders are locked and claimed."""
    from luring_tf.defenses.trapdoor import obtain_trapdoored, trapdoor_paths
    from luring_tf.evaluation.trapdoor_defense import APPROACH, run_trapdoor_defense
    from luring_tf.finite import check_weights_finite
    from luring_tf.report.trapdoor import table20_markdown, write_table20
    from luring_tf.storage.models_io import check_model

    model, _, detector = obtain_trapdoored(models["M"], data, config, models_dir, args.retrain)
    path = trapdoor_paths(models_dir)["model"]
    check_model(model, path, args.dataset, "pass --retrain to train the trapdoored model again")
    check_weights_finite(model, f"model file {path}")
    public = {"M": models["M"], APPROACH: model, **{k: v for k, v in models.items() if k != "M"}}
    record = run_trapdoor_defense(public, detector, data, config, args.attack, out_dir, args.force, not args.quiet)
    record.update(dataset=args.dataset, profile=args.profile, models_dir=str(models_dir), public="trapdoor",
                  trapdoored_model=str(path), data_source=data.source, eps=config["defense"]["eps"],
                  seed=config["seed"], defense_config=config["defense"], trapdoor_config=config["train"]["trapdoor"])
    print(table20_markdown(record))
    paths = write_table20(record, out_dir)
    print("written: " + ", ".join(str(p) for p in paths))
    return 0
