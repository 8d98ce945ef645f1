"""``python -m luring_tf.export``: export a model protected by ``run_characterization.py --target-model``."""

import argparse

from luring_tf.cli.parser import Parser, quiet_tensorflow, run

EPILOG = """example:
    python run_characterization.py --target-model mine.h5 --data-dir my_images --input-range 0,255
    python -m luring_tf.export --target-model mine.h5 --out exported/mine --tflite

writes in --out (built in a temporary folder, renamed at the end):
    saved_model/   signatures predict (M's label and probabilities) and detect (M's label, T's label_T,
                   flagged = M(x) != T(x)); input images float32 [N,H,W,C] in your model's own input range;
                   loads with tf.saved_model.load, without luring-tf
    T.tflite       with --tflite: T = M∘P (dynamic-range quantized with --quantize)
    export.json    the record: signatures, input range, and the agreement of the SavedModel's detect with
                   the Keras M and T (and of T.tflite with the Keras T), measured on the test hold-out

takes no --strategy: the export runs on one device."""


def parse(argv=None, prog: str = "python -m luring_tf.export"):
    parser = Parser(prog=prog,
                    description="Write a SavedModel (signatures predict, detect), export.json and optionally a "
                                "TFLite T for a classifier protected with run_characterization.py --target-model.",
                    epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target-model", required=True, metavar="PATH",
                        help="your classifier (.h5 / .keras); its <name>_luring_T.h5 and <name>_luring.json "
                             "must exist beside it")
    parser.add_argument("--out", required=True,
                        help="export folder: saved_model/, export.json, T.tflite (created; never replaced without "
                             "--force)")
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


def main(argv=None, prog: str = "python -m luring_tf.export"):
    args = parse(argv, prog)
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
