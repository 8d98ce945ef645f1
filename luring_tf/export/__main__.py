"""``python -m luring_tf.export``: export a model protected by ``run_characterization.py --target-model``."""

from luring_tf.cli.parser import Parser, quiet_tensorflow, run


def parse(argv=None):
    parser = Parser(prog="python -m luring_tf.export",
                    description="Write a SavedModel (signatures predict, detect) and optionally a TFLite T "
                                "for a classifier protected with run_characterization.py --target-model.")
    parser.add_argument("--target-model", required=True, metavar="PATH",
                        help="your classifier (.h5 / .keras); its <name>_luring_T.h5 and <name>_luring.json "
                             "must exist beside it")
    parser.add_argument("--out", required=True, help="export folder (created; never replaced without --force)")
    parser.add_argument("--tflite", action="store_true", help="also write T.tflite and measure its agreement")
    parser.add_argument("--quantize", action="store_true", help="dynamic-range quantization of T.tflite")
    parser.add_argument("--data-dir", default=None,
                        help="images for the agreement measurements (default: the folder recorded when the "
                             "model was protected); their seeded test hold-out is used")
    parser.add_argument("--force", action="store_true", help="replace an existing --out folder")
    parser.add_argument("--serve-m", action="store_true",
                        help="write the former single saved_model/ whose predict and detect answer with M's outputs "
                             "(exposes M to whoever queries it); default: public/ (T only) and internal/ (M)")
    parser.add_argument("--false-alarm", type=float, default=None, metavar="RATE",
                        help="detect flags only when T is also unsure of M's label, with a threshold calibrated on "
                             "the clean validation images to flag at most RATE of them (e.g. 0.05); default: "
                             "flag whenever M(x) != T(x) (the paper's rule)")
    args = parser.parse_args(argv)
    if args.quantize and not args.tflite:
        parser.error("--quantize applies to the TFLite model: add --tflite")
    if args.false_alarm is not None and not 0.0 < args.false_alarm < 1.0:
        parser.error(f"--false-alarm {args.false_alarm:g}: give a share of clean images strictly between 0 and 1, "
                     "e.g. 0.05")
    return args


def main(argv=None):
    args = parse(argv)
    from luring_tf.export.writer import check_destination

    check_destination(args.out, args.force)  # before TensorFlow loads
    quiet_tensorflow()
    from luring_tf import api
    from luring_tf.export.writer import reload_data

    protected = api.load_protected(args.target_model)
    data = reload_data(protected, args.data_dir)
    record = api.export(protected, args.out, images=data, tflite=args.tflite, quantize=args.quantize,
                        force=args.force, serve="legacy" if args.serve_m else "public", policy=args.false_alarm)
    print(record["summary"])
    return 0


if __name__ == "__main__":
    run(main)
