"""Subprocess side of tests/test_distribute.py: TensorFlow must see two logical CPUs before it starts.

    python tests/distribute_checks.py mirrored OUT.npz     # 1 vs 2 replicas: luring / C-E steps and MIM
    python tests/distribute_checks.py worker OUT.npz       # one worker of a TF_CONFIG cluster: train_component

Writes the arrays the test compares to ``OUT.npz``. Tiny models (8x8 images, 3 classes), a few seconds each.
"""

from __future__ import annotations

import os
import sys
from types import SimpleNamespace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

SHAPE = (8, 8, 1)
CFG = {"steps": 6, "batch_size": 16, "lr": [0.01], "lr_boundaries": [], "eval_every": 6, "restarts": 0}


def two_cpus() -> None:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


def data(n_train=96, n_val=32, seed=0):
    """Learnable tiny data: the class (0..2) is the bright row."""
    rng = np.random.default_rng(seed)

    def split(n):
        y = np.arange(n) % 3
        x = rng.random((n, *SHAPE)).astype("float32") * 0.3
        x[np.arange(n), y * 2, :, 0] = 1.0
        return x, y

    (xt, yt), (xv, yv) = split(n_train), split(n_val)
    return SimpleNamespace(x_train=xt, y_train=yt, x_val=xv, y_val=yv, x_test=xv, y_test=yv)


def classifier():
    """M reading the bright row: class k's logit = mean of row 2k (fixed weights, no training needed)."""
    import keras

    m = keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(3, name="logits"),
                          keras.layers.Activation("softmax")], name="M")
    kernel = np.zeros((int(np.prod(SHAPE)), 3), np.float32)
    for k in range(3):
        kernel[2 * k * SHAPE[1]:(2 * k + 1) * SHAPE[1], k] = 8.0 / SHAPE[1]
    m.get_layer("logits").set_weights([kernel, np.zeros(3, np.float32)])
    return m


def component():
    import keras

    return keras.Sequential([keras.Input(SHAPE), keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
                             keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")], name="P")


def train(objective: str, dataset) -> np.ndarray:
    """P trained against M under the current strategy (both built in its scope); P's weights."""
    from luring_tf.training import distribute, trainers

    with distribute.scope():
        m, p = classifier(), component()
    trainers.train_component(p, m, dataset, CFG, objective, seed=0)
    return flat(p)


def fit_steps(objective: str, dataset, optimizer: str, steps: int = 3) -> np.ndarray:
    """P after ``steps`` steps of ``objective`` in :class:`ComponentTrainer` (fit, no validation), under the
    current strategy. ``optimizer``: "adam" (as train_component) or "sgd" (plain SGD, unlike Adam not
    invariant to the scale of the gradients: a wrong global-batch average shows in the weights)."""
    import keras

    from luring_tf.training import distribute, trainers

    with distribute.scope():
        keras.utils.set_random_seed(0)
        m, p = classifier(), component()
        trainer = trainers.ComponentTrainer(p, m, objective)
        optimizer = keras.optimizers.SGD(0.5) if optimizer == "sgd" else keras.optimizers.Adam(0.01)
        trainer.compile(optimizer=optimizer, steps_per_execution=distribute.steps_per_execution(steps))
    logits = trainers.classifier_logits(m, dataset.x_train)
    trainer.fit(trainers._train_dataset(dataset, logits, CFG["batch_size"], seed=0), steps_per_epoch=steps,
                epochs=1, verbose=0, shuffle=False)
    return flat(p)


def flat(model) -> np.ndarray:
    return np.concatenate([w.ravel() for w in model.get_weights()])


def mirrored(out: str) -> None:
    two_cpus()
    from luring_tf.evaluation import adversarial
    from luring_tf.training import distribute, trainers

    dataset = data()
    x_attack, y_attack = dataset.x_val[:7], dataset.y_val[:7]  # 7 examples on 2 replicas: a padded shard
    results = {}
    for name in ("one", "mirrored"):
        distribute.use(name)
        results[f"replicas_{name}"] = np.array(distribute.replicas())
        if name == "one":  # what the two workers ran, on one device
            results["train_component_one"] = train("luring", dataset)
        results[f"luring_{name}"] = fit_steps("luring", dataset, "adam")
        results[f"ce_{name}"] = fit_steps("ce", dataset, "sgd")
        with distribute.scope():
            m = classifier()
        x_adv, info = adversarial.craft("mim", m, x_attack, y_attack, 0.1, {"eps_iter": 0.02, "nb_iter": 5},
                                        verbose=False)
        results[f"mim_{name}"], results[f"mim_queries_{name}"] = x_adv, np.array(info["queries"])
    # The same mirrored SGD steps with each replica's batch mean left unscaled (gradients summed over 2
    # replicas = twice the global mean's): must differ, else the comparison above proves nothing.
    trainers.ComponentTrainer._global_share = staticmethod(lambda loss, x: loss)
    results["ce_unscaled"] = fit_steps("ce", dataset, "sgd")
    np.savez(out, **results)


def worker(out: str) -> None:
    from luring_tf.training import distribute

    distribute.use("multiworker")
    weights = train("luring", data())
    np.savez(out, weights=weights, replicas=np.array(distribute.replicas()),
             chief=np.array(distribute.is_chief()))


if __name__ == "__main__":
    {"mirrored": mirrored, "worker": worker}[sys.argv[1]](sys.argv[2])
