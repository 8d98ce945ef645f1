"""Training of M, Stack, Auto, C-E and Luring (paper Appendices A-B; spec ``training.md``).

* ``train_classifier``: cross-entropy with labels (base M and Stack = ``Sequential([P, M])``
  trained as a whole), best validation accuracy kept.
* ``train_autoencoder``: P alone with binary cross-entropy on (x, x); last-epoch weights (Auto).
* ``train_component``: P against a frozen M with the label-free luring loss or C-E loss, in the
  custom ``train_step`` of :class:`ComponentTrainer`; the best validation *agreement with M* is
  kept (the original selects on true-label accuracy -- the port stays label-free, spec §4 #15).

Schedules: ``lr`` is a list of values and ``lr_boundaries`` the points where the next value
starts -- in epochs for the epoch-based trainings, in optimizer steps for ``train_component``.
"""

from __future__ import annotations

import math
import sys
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from luring_tf.errors import UserError
from luring_tf.losses import luring_loss, mimic_cross_entropy
from luring_tf.models_io import logits_view

OBJECTIVES = ("luring", "ce")


def _verbose() -> int:
    return 1 if sys.stdout.isatty() else 2


def learning_rate(values, boundaries, steps_per_unit: int = 1):
    """Constant or piecewise-constant learning rate; ``boundaries`` in units of ``steps_per_unit`` steps."""
    values = [float(v) for v in (values if isinstance(values, (list, tuple)) else [values])]
    boundaries = [int(round(b * steps_per_unit)) for b in (boundaries or [])]
    if len(values) != len(boundaries) + 1:
        raise UserError(f"lr has {len(values)} values for {len(boundaries)} lr_boundaries: give one more value "
                        "than boundaries (e.g. --set train.luring.lr=[0.001] --set train.luring.lr_boundaries=[])")
    if not boundaries:
        return values[0]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)


def augmentation(spec, image_side: int) -> keras.Sequential | None:
    """Training-batch augmentation from a config value (never applied to validation or test data).

    ``spec``: false/None = none; true = the original CIFAR10 augmentation (uniform ±10° rotation,
    ±5 px shifts, nearest fill); a mapping ``{rotation_deg, shift_px}`` for other amounts.
    """
    if not spec:
        return None
    spec = {"rotation_deg": 10, "shift_px": 5} if spec is True else dict(spec)
    unknown = set(spec) - {"rotation_deg", "shift_px"}
    if unknown:
        raise ValueError(f"unknown augmentation setting {sorted(unknown)[0]!r}: use rotation_deg and shift_px")
    shift = float(spec.get("shift_px", 0)) / image_side
    return keras.Sequential(
        [
            keras.layers.RandomRotation(float(spec.get("rotation_deg", 0)) / 360, fill_mode="nearest"),
            keras.layers.RandomTranslation(shift, shift, fill_mode="nearest"),
        ],
        name="augment",
    )


class KeepBestWeights(keras.callbacks.Callback):
    """Snapshot ``target``'s weights whenever ``monitor`` strictly improves; restore them at the end."""

    def __init__(self, target: keras.Model, monitor: str, initial: float = -math.inf):
        super().__init__()
        self.target, self.monitor, self.best = target, monitor, initial
        self.best_weights = None
        self.best_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and value > self.best:
            self.best, self.best_epoch = float(value), epoch + 1
            self.best_weights = self.target.get_weights()

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.target.set_weights(self.best_weights)


def _train_dataset(x, targets, batch_size: int, augment=None, seed: int = 0) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices((x, targets)).shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.repeat().batch(batch_size)
    if augment is not None:
        ds = ds.map(lambda a, b: (augment(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def train_classifier(build: Callable[[], keras.Model], data, cfg: dict, augment=None, seed: int = 0):
    """Train a softmax classifier with labels; returns ``(model, summary)``.

    ``cfg``: ``epochs, batch_size, lr, lr_boundaries`` (epochs) and optionally ``lr_fallback`` +
    ``fallback_below``: when the best validation accuracy stays below ``fallback_below``, a fresh
    model is trained with ``lr_fallback`` and the better of the two is kept (spec §4 #1).
    """
    steps = math.ceil(len(data.x_train) / cfg["batch_size"])

    def run(lr_values):
        keras.utils.set_random_seed(seed)
        model = build()
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate(lr_values, cfg.get("lr_boundaries"), steps)),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
        keep = KeepBestWeights(model, "val_accuracy")
        model.fit(
            _train_dataset(data.x_train, data.y_train, cfg["batch_size"], augment, seed),
            steps_per_epoch=steps,
            epochs=cfg["epochs"],
            validation_data=(data.x_val, data.y_val),
            callbacks=[keep],
            verbose=_verbose(),
        )
        return model, {"lr": lr_values, "best_val_accuracy": keep.best, "best_epoch": keep.best_epoch}

    model, summary = run(cfg["lr"])
    fallback = cfg.get("lr_fallback")
    if fallback is not None and summary["best_val_accuracy"] < cfg.get("fallback_below", 0.0):
        print(
            f"best validation accuracy {summary['best_val_accuracy']:.4f} < {cfg['fallback_below']} "
            f"with lr {cfg['lr']}: retraining with lr {fallback}",
            flush=True,
        )
        second, second_summary = run(fallback)
        if second_summary["best_val_accuracy"] > summary["best_val_accuracy"]:
            model, summary = second, dict(second_summary, first_attempt=summary)
    return model, summary


def train_autoencoder(component: keras.Model, data, cfg: dict, seed: int = 0) -> dict:
    """Auto: P trained alone with binary cross-entropy on (x, x); last-epoch weights kept."""
    keras.utils.set_random_seed(seed)
    steps = math.ceil(len(data.x_train) / cfg["batch_size"])
    component.compile(
        optimizer=keras.optimizers.Adam(learning_rate(cfg["lr"], cfg.get("lr_boundaries"), steps)),
        loss=keras.losses.BinaryCrossentropy(),
    )
    history = component.fit(
        _train_dataset(data.x_train, data.x_train, cfg["batch_size"], seed=seed),
        steps_per_epoch=steps,
        epochs=cfg["epochs"],
        validation_data=(data.x_val, data.x_val),
        verbose=_verbose(),
    )
    return {"final_val_loss": float(history.history["val_loss"][-1])}


class ComponentTrainer(keras.Model):
    """Holds a frozen classifier M and a trainable component P; ``fit`` trains P only.

    Training data: ``(x, m_logits)`` with M's logits computed once per example beforehand (or,
    with augmentation / ``classifier_training=True``, recomputed on each batch). Validation data:
    ``(x, m_logits, y)``; ``y`` only feeds the logged ``accuracy``, never the loss or selection.
    """

    def __init__(self, component, classifier, objective="luring", luring_coefficient=1.0,
                 augment=None, classifier_training=False, **kwargs):
        super().__init__(**kwargs)
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}: choose one of {OBJECTIVES}")
        self.component = component
        self.classifier = logits_view(classifier)
        self.classifier.trainable = False
        self.objective, self.luring_coefficient = objective, float(luring_coefficient)
        self.augment, self.classifier_training = augment, bool(classifier_training)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.hinge_tracker = keras.metrics.Mean(name="hinge")
        self.gap_tracker = keras.metrics.Mean(name="gap")
        self.agreement = keras.metrics.Mean(name="agreement")
        self.accuracy = keras.metrics.Mean(name="accuracy")

    @property
    def metrics(self):
        return [self.loss_tracker, self.hinge_tracker, self.gap_tracker, self.agreement, self.accuracy]

    def call(self, x, training=False):
        return self.classifier(self.component(x, training=training), training=self.classifier_training and training)

    def _loss(self, m_logits, z):
        if self.objective == "luring":
            return luring_loss(m_logits, z, self.luring_coefficient)
        loss = mimic_cross_entropy(m_logits, z)
        return loss, tf.zeros_like(loss), tf.zeros_like(loss)

    def _agree(self, m_logits, z):
        return tf.cast(tf.equal(tf.argmax(z, -1), tf.argmax(m_logits, -1)), tf.float32)

    def train_step(self, data):
        x, m_logits = data
        if self.augment is not None or self.classifier_training:
            m_logits = self.classifier(x, training=self.classifier_training)
        with tf.GradientTape() as tape:
            z = self(x, training=True)
            loss, hinge, gap = self._loss(m_logits, z)
        variables = self.component.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self.loss_tracker.update_state(loss)
        self.hinge_tracker.update_state(hinge)
        self.gap_tracker.update_state(gap)
        self.agreement.update_state(self._agree(m_logits, z))
        return {m.name: m.result() for m in self.metrics[:4]}

    def test_step(self, data):
        x, m_logits, y = data
        z = self(x, training=False)
        loss, hinge, gap = self._loss(m_logits, z)
        self.loss_tracker.update_state(loss)
        self.hinge_tracker.update_state(hinge)
        self.gap_tracker.update_state(gap)
        self.agreement.update_state(self._agree(m_logits, z))
        self.accuracy.update_state(tf.cast(tf.equal(tf.argmax(z, -1), tf.cast(y, tf.int64)), tf.float32))
        return {m.name: m.result() for m in self.metrics}


def classifier_logits(classifier: keras.Model, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """M's logits on ``x`` (inference mode), float32 [N, K]."""
    return np.asarray(logits_view(classifier).predict(x, batch_size=batch_size, verbose=0), np.float32)


class CollapseGuard(keras.callbacks.Callback):
    """Stop training when the first evaluation shows no gain over the random component.

    With a random P, the luring loss can fall in a flat minimum where P outputs one constant image
    (M∘P's logits flatten, the hinge goes near 0, ReLUs die): it never leaves it. Seen on the quick
    MNIST profile for about half of the initialisations.
    """

    def __init__(self, initial: float, margin: float = 0.02):
        super().__init__()
        self.initial, self.margin, self.collapsed = initial, margin, False

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0 and (logs or {}).get("val_agreement", 0.0) <= self.initial + self.margin:
            self.collapsed = True
            self.model.stop_training = True


def identity_warmup(component: keras.Model, x: np.ndarray, steps: int, batch_size: int, seed: int = 0,
                    lr: float = 1e-3) -> None:
    """Fit P to reproduce its input (binary cross-entropy, Adam ``lr``) for ``steps`` steps, in place.

    A start for the luring / C-E training that is not a flat random map: M∘P's logits then vary
    with the input from the first step, which removes the collapse :class:`CollapseGuard` watches
    for. Not in the original code (P starts from Keras's random initialisation there).
    """
    keras.utils.set_random_seed(seed)
    autoencoder = keras.Model(component.inputs, component.outputs)  # shares P's layers; P stays uncompiled
    autoencoder.compile(optimizer=keras.optimizers.Adam(lr), loss=keras.losses.BinaryCrossentropy())
    autoencoder.fit(_train_dataset(x, x, batch_size, seed=seed), steps_per_epoch=int(steps), epochs=1,
                    verbose=0)


def train_component(component, classifier, data, cfg: dict, objective: str, augment=None, seed: int = 0) -> dict:
    """Train P against frozen M with ``objective`` ('luring' or 'ce'); best val agreement kept.

    ``cfg``: ``steps, batch_size, lr, lr_boundaries`` (steps), ``eval_every`` (steps between
    validations; the last evaluation is at the final step), ``luring_coefficient`` (λ),
    ``classifier_training`` (reproduce the original's M in training mode; default False),
    ``restarts`` (default 3): when the first evaluation shows P collapsed (see
    :class:`CollapseGuard`), P is re-initialised with seed + attempt and training starts over --
    a departure from the original code, which trained one random P whatever happened;
    ``identity_warmup_steps`` (default 0): steps of :func:`identity_warmup` before the objective
    (another departure, used by the quick MNIST profile; 0 = the original's random start).
    """
    train_logits = classifier_logits(classifier, data.x_train)
    val = tf.data.Dataset.from_tensor_slices(
        (data.x_val, classifier_logits(classifier, data.x_val), data.y_val)).batch(500)
    every = int(cfg["eval_every"])
    restarts = int(cfg.get("restarts", 3))
    warmup = int(cfg.get("identity_warmup_steps", 0))
    for attempt in range(restarts + 1):
        keras.utils.set_random_seed(seed + attempt)
        if attempt:
            print(f"{objective}: P collapsed to a constant image (validation agreement did not rise); "
                  f"restart {attempt}/{restarts} with a new initialisation", flush=True)
            component.set_weights(keras.models.clone_model(component).get_weights())
        if warmup:
            identity_warmup(component, data.x_train, warmup, cfg["batch_size"], seed + attempt)
        trainer = ComponentTrainer(
            component, classifier, objective, cfg.get("luring_coefficient", 1.0), augment,
            cfg.get("classifier_training", False),
        )
        trainer.compile(optimizer=keras.optimizers.Adam(
            learning_rate(cfg["lr"], cfg.get("lr_boundaries")), epsilon=1e-8))
        initial = trainer.evaluate(val, verbose=0, return_dict=True)["agreement"]
        keep = KeepBestWeights(component, "val_agreement", initial=initial)
        guard = CollapseGuard(initial) if attempt < restarts else None
        trainer.fit(
            _train_dataset(data.x_train, train_logits, cfg["batch_size"], augment, seed + attempt),
            steps_per_epoch=every,
            epochs=math.ceil(int(cfg["steps"]) / every),
            validation_data=val,
            callbacks=[keep] + ([guard] if guard else []),
            verbose=_verbose(),
        )
        if guard is None or not guard.collapsed:
            break
    if keep.best_weights is None:
        print(f"warning: {objective} training never beat the random component's validation agreement "
              f"({initial:.3f}); P likely collapsed to a constant image: try a lower lr or another --seed",
              flush=True)
    return {"objective": objective, "identity_warmup_steps": warmup,
            "initial_val_agreement": float(initial), "restarts": attempt,
            "best_val_agreement": keep.best, "best_evaluation": keep.best_epoch,
            "steps": int(math.ceil(int(cfg["steps"]) / every) * every)}
