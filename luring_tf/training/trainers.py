"""Training of M, Stack, Auto, C-E and Luring (paper Appendices A-B; spec ``training.md``).

* ``train_classifier``: cross-entropy with labels (base M and Stack = ``Sequential([P, M])``
  trained as a whole), best validation accuracy kept.
* ``train_autoencoder``: P alone with binary cross-entropy on (x, x); last-epoch weights (Auto).
* ``train_component``: P against a frozen M with the label-free luring loss or C-E loss, in the
  custom ``train_step`` of :class:`ComponentTrainer`; the best validation *agreement with M* is
  kept (the original selects on true-label accuracy -- the port stays label-free, spec §4 #15).

Schedules: ``lr`` is a list of values and ``lr_boundaries`` the points where the next value
starts -- in epochs for the epoch-based trainings, in optimizer steps for ``train_component``.

Reproducibility: every training runs inside :func:`reproducible` -- Python, NumPy and TensorFlow
seeded from ``seed``, TensorFlow op determinism on (``deterministic=True``, the default), models
initialised after seeding, and training batches augmented with *stateless* random transforms keyed
by (seed, batch index) -- so the same command and seed on the same machine give the same weights.
Departure: the original code seeded nothing.

Speed: every ``fit`` runs one epoch (or one evaluation interval) per compiled call
(``steps_per_execution``): the same steps in the same order, bit-identical weights, without a
Python round trip per step (one step per call under any strategy but the default one:
:func:`luring_tf.training.distribute.steps_per_execution`). Every callback here acts at epoch ends.

Devices: models are built and compiled inside :func:`luring_tf.training.distribute.scope` (the process's
``tf.distribute`` strategy, one device unless asked); ``batch_size`` is the *global* batch, split across
replicas by Keras, and :class:`ComponentTrainer` averages its loss over the global batch. A component
passed in (``train_autoencoder``, ``train_component``, ``identity_warmup``) must have been built in the same
scope (the scripts set the strategy process-wide, so it is).

Divergence: a non-finite loss after any epoch / evaluation, or non-finite weights after training,
stop the run with a one-line :class:`~luring_tf.errors.UserError` naming the model.

Checkpoints: given ``checkpoint`` (a :class:`~luring_tf.training.checkpoints.Location`), every training
saves its state at each epoch end and an interrupted one resumes from its last saved epoch with the
same result (:mod:`luring_tf.training.checkpoints`); the checkpoint is deleted when training ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import sys
import threading
from types import SimpleNamespace
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from luring_tf import inference, seeding
from luring_tf.data import streams
from luring_tf.errors import UserError
from luring_tf.finite import check_finite
from luring_tf.storage.models_io import model_input
from luring_tf.training import batch_norm, checkpoints, distribute
from luring_tf.training.losses import luring_loss, mimic_cross_entropy
from luring_tf.storage.fingerprint import weights_digest
from luring_tf.storage.models_io import logits_view

OBJECTIVES = ("luring", "ce")
VALIDATION_BATCH = 32  # Keras's default batch for validation arrays: the port's validation batches before streams


def _verbose() -> int:
    return 1 if sys.stdout.isatty() else 2


@contextlib.contextmanager
def reproducible(seed: int, deterministic: bool = True):
    """Seed Python, NumPy and TensorFlow with ``seed``; with ``deterministic``, TF op determinism
    is on inside the block (and put back as it was after, so code outside training is unaffected).

    The block holds :data:`luring_tf.seeding.LOCK` (other threads of a ``--jobs`` run wait to seed), except
    inside :func:`_fit`: build from the seed (models, weights, streams) in the block, fit through ``_fit``.
    """
    with seeding.LOCK, seeding.op_determinism(deterministic):
        keras.utils.set_random_seed(int(seed))
        yield


def _fit(trainer: keras.Model, *args, **kwargs):
    """``trainer.fit(*args, **kwargs)`` with :data:`luring_tf.seeding.LOCK` let go: pass streams built before."""
    kwargs.setdefault("shuffle", False)  # the streams are shuffled already; Keras ignores (and warns about) it
    with seeding.unlocked():
        return trainer.fit(*args, **kwargs)


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


def component_optimizer(cfg: dict, schedule):
    """P's optimizer: ``cfg["optimizer"]`` adam (default; epsilon 1e-8) or sgd with ``cfg["momentum"]`` (App. H.1)."""
    if cfg.get("optimizer", "adam") == "sgd":
        return keras.optimizers.SGD(schedule, momentum=float(cfg.get("momentum", 0.0)))
    return keras.optimizers.Adam(schedule, epsilon=1e-8)


class Augmentation:
    """Random rotation and shift of training images, as one affine map per image (nearest fill).

    Stateless: the transform of a batch depends only on the ``seed`` pair given with it, so a
    parallel input pipeline gives the same images run after run (Keras's ``RandomRotation`` /
    ``RandomTranslation`` draw from a shared state whose order depends on thread timing). The
    rotation and the shift are composed into one transform, one interpolation -- as the original's
    ``ImageDataGenerator`` does; angle uniform in ±``rotation_deg`` degrees, shifts uniform in
    ±``shift_px`` pixels, bilinear interpolation.
    """

    def __init__(self, rotation_deg: float, shift_px: float):
        self.rotation = float(rotation_deg) * math.pi / 180.0
        self.shift = float(shift_px)

    def apply(self, x, seed) -> tf.Tensor:
        """``x``: float32 [N,H,W,C] in [0,1]; ``seed``: int [2]. Returns the transformed batch."""
        x = tf.convert_to_tensor(x, tf.float32)
        shape = tf.shape(x)
        u = tf.random.stateless_uniform(tf.stack([shape[0], 3]), seed=seed, minval=-1.0, maxval=1.0)
        angle, dx, dy = u[:, 0] * self.rotation, u[:, 1] * self.shift, u[:, 2] * self.shift
        cx = (tf.cast(shape[2], tf.float32) - 1.0) / 2.0
        cy = (tf.cast(shape[1], tf.float32) - 1.0) / 2.0
        cos, sin = tf.cos(angle), tf.sin(angle)
        # output pixel (col, row) reads input R(angle)·((col, row) - centre - shift) + centre
        transforms = tf.stack([cos, sin, cx - cos * (cx + dx) - sin * (cy + dy),
                               -sin, cos, cy + sin * (cx + dx) - cos * (cy + dy),
                               tf.zeros_like(cos), tf.zeros_like(cos)], axis=1)
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=x, transforms=transforms, output_shape=shape[1:3], fill_value=0.0,
            interpolation="BILINEAR", fill_mode="NEAREST")

    def __call__(self, x, training: bool = False, seed=(0, 0)):
        return self.apply(x, tf.constant(seed, tf.int64)) if training else tf.convert_to_tensor(x)


def augmentation(spec, image_side: int | None = None) -> Augmentation | None:
    """Training-batch augmentation from a config value (never applied to validation or test data).

    ``spec``: false/None = none; true = the original CIFAR10 augmentation (uniform ±10° rotation,
    ±5 px shifts, nearest fill); a mapping ``{rotation_deg, shift_px}`` for other amounts.
    ``image_side`` is accepted for compatibility (shifts are in pixels).
    """
    if not spec:
        return None
    spec = {"rotation_deg": 10, "shift_px": 5} if spec is True else dict(spec)
    unknown = set(spec) - {"rotation_deg", "shift_px"}
    if unknown:
        raise ValueError(f"unknown augmentation setting {sorted(unknown)[0]!r}: use rotation_deg and shift_px")
    return Augmentation(spec.get("rotation_deg", 0), spec.get("shift_px", 0))


def _train_dataset(data, target, batch_size: int, augment: Augmentation | None = None, seed: int = 0,
                   start_batch: int = 0) -> tf.data.Dataset:
    """Endless shuffled (x, target) batches of ``data``'s train split (reshuffled each pass, seeded); batch i
    augmented with seed (seed, i). ``target``: "labels", "images", an array aligned with the split, or None
    (batches of images alone). ``start_batch``: the batches before it are skipped (a resumed training),
    before decoding.

    A stream (:func:`luring_tf.data.streams.stream`): array-backed data give the batches, in the order, of
    the pipeline the port used before streams; file-backed data are decoded as they stream.
    """
    ds = streams.stream(data, "train", batch_size, extras=() if target is None else (target,), shuffle=True,
                        seed=seed, repeat=True, skip=int(start_batch) * int(batch_size))
    if augment is not None:
        key = tf.constant(int(seed), tf.int64)
        move = ((lambda i, x: augment.apply(x, tf.stack([key, i]))) if target is None else
                (lambda i, batch: (augment.apply(batch[0], tf.stack([key, i])), batch[1])))
        ds = ds.enumerate(start=int(start_batch)).map(move, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def _divergence_fix(section: str) -> str:
    return (f"its training diverged: lower the learning rate (--set train.{section}.lr=[...]) "
            "or try another --seed")


class NonFiniteGuard(keras.callbacks.Callback):
    """Stop training at the first epoch whose training or validation loss is NaN or Inf.

    Unlike ``keras.callbacks.TerminateOnNaN`` it remembers what went wrong; :meth:`check` then
    raises the one-line ``UserError`` (after ``fit`` returns, so callbacks end cleanly).
    """

    def __init__(self, name: str, section: str):
        super().__init__()
        self.name, self.section = name, section
        self.value, self.what = None, None

    def on_epoch_end(self, epoch, logs=None):
        for key in ("loss", "val_loss"):
            value = (logs or {}).get(key)
            if value is not None and not np.isfinite(float(value)):
                kind = "validation loss" if key.startswith("val_") else "training loss"
                self.value, self.what = float(value), f"the {kind} of {self.name} (epoch {epoch + 1})"
                self.model.stop_training = True
                return

    @property
    def failed(self) -> bool:
        return self.value is not None

    def check(self) -> None:
        if self.failed:
            check_finite(np.float64(self.value), self.what, _divergence_fix(self.section))


def check_trained_weights(model: keras.Model, name: str, section: str) -> None:
    """One-line ``UserError`` when a weight of the freshly trained ``model`` is NaN or Inf."""
    check_finite([np.asarray(w) for w in model.get_weights()], f"the weights of {name} after training",
                 _divergence_fix(section))


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


def _data_key(data) -> tuple:
    """What identifies the training and validation images of ``data`` (for checkpoint keys)."""
    return streams.content_key(data, "train"), streams.content_key(data, "val")


def _augment_key(augment):
    """The augmentation's settings (for checkpoint keys)."""
    return None if augment is None else dict(vars(augment), type=type(augment).__name__)


def train_classifier(build: Callable[[], keras.Model], data, cfg: dict, augment=None, seed: int = 0, *,
                     name: str = "M", section: str = "base", deterministic: bool = True,
                     wrap: Callable[[keras.Model], keras.Model] | None = None,
                     checkpoint: checkpoints.Location | None = None):
    """Train a softmax classifier with labels; returns ``(model, summary)``.

    ``build`` is called after seeding. ``cfg``: ``epochs, batch_size, lr, lr_boundaries`` (epochs)
    and optionally ``lr_fallback`` + ``fallback_below``: when the best validation accuracy stays
    below ``fallback_below`` (or the first training diverges), a fresh model is trained with
    ``lr_fallback`` and the better of the two is kept (spec §4 #1). ``name`` / ``section`` name
    the model and its config section in messages. ``wrap`` (optional): called on the fresh model,
    returns the trainer that is compiled and fitted instead of it (a ``keras.Model`` holding it with
    its own ``train_step``, e.g. :class:`luring_tf.defenses.adversarial_training.AdversarialTrainer`);
    the plain model is what is selected, checked and returned. ``checkpoint``: resumable training
    (:mod:`luring_tf.training.checkpoints`); an interrupted fallback run resumes with the first run's
    stored result.
    """
    steps = math.ceil(streams.size(data, "train") / cfg["batch_size"])
    key = checkpoints.run_key("classifier", name, section, cfg, seed, deterministic, _augment_key(augment),
                              *_data_key(data))
    resume = checkpoints.load(checkpoint, key, name)

    def run(lr_values, index=0, first=None):
        with reproducible(seed, deterministic), distribute.scope():
            model = build()
            trainer = wrap(model) if wrap is not None else model
            trainer.compile(
                optimizer=keras.optimizers.Adam(learning_rate(lr_values, cfg.get("lr_boundaries"), steps)),
                loss=keras.losses.SparseCategoricalCrossentropy(),
                metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                steps_per_execution=distribute.steps_per_execution(steps),
            )
            keep, guard = KeepBestWeights(model, "val_accuracy"), NonFiniteGuard(name, section)
            saver = checkpoints.EpochCheckpoint(checkpoint, key, name, cfg["epochs"], trainer.variables, keep,
                                                run=index, resume=resume, **(first or {}))
            _fit(
                trainer,
                _train_dataset(data, "labels", cfg["batch_size"], augment, seed, saver.initial_epoch * steps),
                steps_per_epoch=steps,
                epochs=cfg["epochs"],
                initial_epoch=saver.initial_epoch,
                validation_data=streams.stream(data, "val", VALIDATION_BATCH, extras=("labels",)),
                callbacks=[guard, keep, saver],
                verbose=_verbose(),
            )
        return model, guard, {"lr": lr_values, "best_val_accuracy": keep.best, "best_epoch": keep.best_epoch}

    if resume is not None and resume.run == 1:  # interrupted in the fallback run: the first run's result is stored
        with reproducible(seed, deterministic):
            model = build()
        model.set_weights(resume.carry)
        failed, summary = resume.extra["first_failed"], resume.extra["first_summary"]
    else:
        model, guard, summary = run(cfg["lr"])
        failed = guard.failed
    fallback = cfg.get("lr_fallback")
    if fallback is not None and (failed or summary["best_val_accuracy"] < cfg.get("fallback_below", 0.0)):
        reason = ("diverged (non-finite loss)" if failed else
                  f"reached a best validation accuracy of {summary['best_val_accuracy']:.4f} < {cfg['fallback_below']}")
        print(f"{name} with lr {cfg['lr']} {reason}: retraining with lr {fallback}", flush=True)
        first = {"extra": {"first_failed": failed, "first_summary": summary}, "carry": model.get_weights()}
        second, second_guard, second_summary = run(fallback, 1, first)
        second_guard.check()
        if failed or second_summary["best_val_accuracy"] > summary["best_val_accuracy"]:
            model, summary = second, dict(second_summary, first_attempt=summary)
    else:
        guard.check()
    check_trained_weights(model, name, section)
    checkpoints.finish(checkpoint)
    return model, summary


def reinitialise(model: keras.Model) -> None:
    """Fresh initial weights for ``model`` (in place), drawn from the current seed."""
    model.set_weights(keras.models.clone_model(model).get_weights())


def reseed(model: keras.Model, seed: int) -> int:
    """Restart every random-number state of ``model``'s layers (Keras ``SeedGenerator``: Dropout, noise layers)
    from ``seed`` and the generator's position; returns how many there are (0 for a P without Dropout).

    Their states are variables but not weights: :func:`reinitialise` leaves them as the layer's construction
    drew them -- from Python's unseeded global state when P was built outside a seeded block (a user's
    ``--target-model`` P), so P's dropout masks, and so P itself, changed from run to run (issue 26: the same
    command gave T agreements 0.206 and 0.388). Nothing is drawn from the global state here.
    """
    generators = [generator for layer in model._flatten_layers(include_self=True, recursive=True)
                  for generator in getattr(layer, "_seed_generators", [])]
    for index, generator in enumerate(generators):
        value = int.from_bytes(hashlib.sha256(f"{int(seed)}/{index}".encode()).digest()[:4], "big") % (2 ** 31 - 1)
        generator.state.assign(tf.constant([value, 0], dtype=generator.state.dtype))
    return len(generators)


def train_autoencoder(component: keras.Model, data, cfg: dict, seed: int = 0, *, name: str = "auto P",
                      section: str = "auto", deterministic: bool = True,
                      checkpoint: checkpoints.Location | None = None) -> dict:
    """Auto: P (re-initialised from ``seed``) trained alone with binary cross-entropy on (x, x);
    last-epoch weights kept. ``checkpoint``: resumable training (:mod:`luring_tf.training.checkpoints`)."""
    key = checkpoints.run_key("autoencoder", name, section, cfg, seed, deterministic,
                              checkpoints.architecture(component), *_data_key(data))
    resume = checkpoints.load(checkpoint, key, name)
    with reproducible(seed, deterministic), distribute.scope():
        reinitialise(component)
        steps = math.ceil(streams.size(data, "train") / cfg["batch_size"])
        component.compile(
            optimizer=keras.optimizers.Adam(learning_rate(cfg["lr"], cfg.get("lr_boundaries"), steps)),
            loss=keras.losses.BinaryCrossentropy(),
            steps_per_execution=distribute.steps_per_execution(steps),
        )
        guard = NonFiniteGuard(name, section)
        saver = checkpoints.EpochCheckpoint(checkpoint, key, name, cfg["epochs"], component.variables, resume=resume)
        _fit(
            component,
            _train_dataset(data, "images", cfg["batch_size"], seed=seed, start_batch=saver.initial_epoch * steps),
            steps_per_epoch=steps,
            epochs=cfg["epochs"],
            initial_epoch=saver.initial_epoch,
            validation_data=streams.stream(data, "val", VALIDATION_BATCH, extras=("images",)),
            callbacks=[guard, saver],
            verbose=_verbose(),
        )
    guard.check()
    check_trained_weights(component, name, section)
    checkpoints.finish(checkpoint)
    return {"final_val_loss": float(saver.logs["val_loss"])}


def _training_copy(classifier: keras.Model) -> keras.Model:
    """A private copy of M for ``classifier_training``: its BN moving statistics may change, M's never."""
    copy = keras.models.clone_model(classifier)
    copy.set_weights(classifier.get_weights())
    return copy


class ComponentTrainer(keras.Model):
    """Holds a classifier M and a trainable component P; ``fit`` trains P only.

    Training data: ``(x, m_logits)`` with M's logits computed once per example beforehand (or,
    with augmentation / ``classifier_training=True`` / ``logits_per_batch=True``, recomputed on each
    batch; then the batches may be images alone). Validation data:
    ``(x, m_logits, y)``; ``y`` only feeds the logged ``accuracy``, never the loss or selection;
    unlabeled data give ``(x, m_logits)`` and no accuracy (it stays 0).

    M is never modified: only P's variables are differentiated and updated, and the caller's
    model (its weights, moving statistics and ``trainable`` flags) is left as it was.
    ``classifier_training=True`` reproduces the original SVHN / CIFAR10 loops (spec §3.3, §4 #11):
    while P trains, M runs in training mode -- batch statistics in its BatchNormalization, its
    Dropout active -- both in M(P(x)) and in the M(x) that picks α and a, without updating M's
    moving averages (a private copy of M absorbs them). Validation always uses M in inference mode.
    """

    def __init__(self, component, classifier, objective="luring", luring_coefficient=1.0,
                 augment=None, classifier_training=False, logits_per_batch=False, calibration=None,
                 calibration_batch: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.calibration, self.calibration_batch = calibration, int(calibration_batch)
        self.logits_per_batch = bool(logits_per_batch) or augment is not None or bool(classifier_training)
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}: choose one of {OBJECTIVES}")
        self.component = component
        self.classifier = logits_view(classifier)
        self.classifier_training = bool(classifier_training)
        self.training_classifier = _training_copy(self.classifier) if self.classifier_training else None
        self.objective, self.luring_coefficient = objective, float(luring_coefficient)
        self.augment = augment
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.hinge_tracker = keras.metrics.Mean(name="hinge")
        self.gap_tracker = keras.metrics.Mean(name="gap")
        self.agreement = keras.metrics.Mean(name="agreement")
        self.accuracy = keras.metrics.Mean(name="accuracy")

    @property
    def metrics(self):
        return [self.loss_tracker, self.hinge_tracker, self.gap_tracker, self.agreement, self.accuracy]

    def evaluate(self, *args, **kwargs):
        """As ``keras.Model.evaluate`` (``fit`` validates through it), after P's BatchNormalization moving
        statistics are recalibrated on the ``calibration`` training images (:mod:`luring_tf.training.batch_norm`):
        what is validated -- and selected, and saved -- is P in inference mode with statistics of its current
        weights. No-op for a P without BatchNormalization."""
        if self.calibration is not None:
            batch_norm.recalibrate(self.component, self.calibration, self.calibration_batch)
        return super().evaluate(*args, **kwargs)

    def compile(self, *args, **kwargs):
        """As ``keras.Model.compile``; the optimizer is built on P's variables only (no slots for M)."""
        super().compile(*args, **kwargs)
        if self.optimizer is not None and not self.optimizer.built:
            self.optimizer.build(self.component.trainable_variables)

    def _classifier(self, training: bool):
        """(M to call, its training flag): the private copy in training mode only for classifier_training."""
        if training and self.classifier_training:
            return self.training_classifier, True
        return self.classifier, False

    def call(self, x, training=False):
        classifier, classifier_mode = self._classifier(training)
        return classifier(self.component(x, training=training), training=classifier_mode)

    def _loss(self, m_logits, z):
        if self.objective == "luring":
            return luring_loss(m_logits, z, self.luring_coefficient)
        loss = mimic_cross_entropy(m_logits, z)
        return loss, tf.zeros_like(loss), tf.zeros_like(loss)

    def _agree(self, m_logits, z):
        return tf.cast(tf.equal(tf.argmax(z, -1), tf.argmax(m_logits, -1)), tf.float32)

    @staticmethod
    def _global_share(loss, x):
        """This replica's share of the global batch mean: ``loss`` (its batch mean) · n_replica / n_global.

        Under a strategy of several replicas, Keras's optimizer *sums* the replicas' gradients, so each
        replica's mean must be weighted by its share of the global batch (exact for uneven shards too).
        One replica: ``loss`` itself (the same graph as before distribution existed).
        """
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return loss
        n = tf.cast(tf.shape(x)[0], loss.dtype)
        return loss * n / context.all_reduce(tf.distribute.ReduceOp.SUM, n)

    def train_step(self, data):
        x, m_logits = data if isinstance(data, (tuple, list)) else (data, None)  # cached logits travel with
        if self.logits_per_batch or m_logits is None:  # their images: Keras shards them together
            classifier, classifier_mode = self._classifier(True)
            m_logits = classifier(x, training=classifier_mode)
        with tf.GradientTape() as tape:
            z = self(x, training=True)
            loss, hinge, gap = self._loss(m_logits, z)
            share = self._global_share(loss, x)
        variables = self.component.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(share, variables), variables))
        self.loss_tracker.update_state(loss)
        self.hinge_tracker.update_state(hinge)
        self.gap_tracker.update_state(gap)
        self.agreement.update_state(self._agree(m_logits, z))
        return {m.name: m.result() for m in self.metrics[:4]}

    def test_step(self, data):
        x, m_logits, y = data if len(data) == 3 else (*data, None)
        z = self(x, training=False)
        loss, hinge, gap = self._loss(m_logits, z)
        self.loss_tracker.update_state(loss)
        self.hinge_tracker.update_state(hinge)
        self.gap_tracker.update_state(gap)
        self.agreement.update_state(self._agree(m_logits, z))
        if y is not None:
            self.accuracy.update_state(tf.cast(tf.equal(tf.argmax(z, -1), tf.cast(y, tf.int64)), tf.float32))
        return {m.name: m.result() for m in self.metrics}


def classifier_logits(classifier: keras.Model, x, batch_size: int = 500) -> np.ndarray:
    """M's logits on ``x`` (inference mode), float32 [N, K].

    ``x``: float32 [N,H,W,C] array (predicted in batches of ``batch_size``) or a ``tf.data`` stream of
    such batches (:func:`luring_tf.data.streams.stream`; ``batch_size`` is then the stream's).
    """
    return np.asarray(inference.outputs(inference.cached_logits_view(classifier), x, batch_size), np.float32)


class CollapseGuard(keras.callbacks.Callback):
    """Stop training when the first evaluation agrees with M no better than a constant image would.

    With a random P, the luring loss can fall in a flat minimum where P outputs one constant image
    (M∘P's logits flatten, the hinge goes near 0, ReLUs die): it never leaves it. Seen on the quick
    MNIST profile for about half of the initialisations. ``floor`` is the best agreement a constant
    P can reach: the share of M's most frequent validation prediction (:func:`constant_agreement`).
    The test is against that floor, not against the agreement before training: after an identity
    warm-up P starts near M's own predictions, and a first dip is no collapse.
    """

    def __init__(self, floor: float, margin: float = 0.02):
        super().__init__()
        self.floor, self.margin, self.collapsed = floor, margin, False

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0 and (logs or {}).get("val_agreement", 0.0) <= self.floor + self.margin:
            self.collapsed = True
            self.model.stop_training = True


class AgreementCurve(keras.callbacks.Callback):
    """Per evaluation: the step, the training agreement (mean over the interval's batches, P in training mode)
    and the validation agreement (P in inference mode); appended to ``curve`` and printed as one line."""

    def __init__(self, curve: list, label: str, every: int, evaluations: int, attempt: int):
        super().__init__()
        self.curve, self.label, self.every, self.evaluations, self.attempt = curve, label, every, evaluations, attempt

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        point = {"attempt": self.attempt, "evaluation": epoch + 1, "step": (epoch + 1) * self.every,
                 "train_agreement": round(float(logs.get("agreement", float("nan"))), 4),
                 "val_agreement": round(float(logs.get("val_agreement", float("nan"))), 4)}
        self.curve.append(point)
        print(f"{self.label}: evaluation {epoch + 1}/{self.evaluations} (step {point['step']}): train agreement "
              f"{point['train_agreement']:.3f}, validation agreement {point['val_agreement']:.3f}", flush=True)


def constant_agreement(m_logits: np.ndarray) -> float:
    """Highest agreement with M that a constant P can reach: the share of M's most frequent label."""
    labels = np.argmax(np.asarray(m_logits), axis=1)
    return float(np.bincount(labels).max() / len(labels)) if len(labels) else 0.0


def _images_as_data(data):
    """A bare float32 [N,H,W,C] array as a data set whose train split it is; anything else as is."""
    return SimpleNamespace(x_train=data) if isinstance(data, np.ndarray) else data


def identity_warmup(component: keras.Model, data, steps: int, batch_size: int, seed: int = 0,
                    lr: float = 1e-3, *, name: str = "P", section: str = "luring", deterministic: bool = True) -> None:
    """Fit P to reproduce its input (binary cross-entropy, Adam ``lr``) for ``steps`` steps, in place.

    ``data``: a :class:`~luring_tf.data.Dataset` (its train split streams) or a float32 [N,H,W,C] array.

    A start for the luring / C-E training that is not a flat random map: M∘P's logits then vary
    with the input from the first step, which removes the collapse :class:`CollapseGuard` watches
    for. Not in the original code (P starts from Keras's random initialisation there).
    """
    with reproducible(seed, deterministic), distribute.scope():
        autoencoder = keras.Model(model_input(component), component.outputs)  # shares P's layers; P stays uncompiled
        autoencoder.compile(optimizer=keras.optimizers.Adam(lr), loss=keras.losses.BinaryCrossentropy(),
                            steps_per_execution=distribute.steps_per_execution(int(steps)))
        guard = NonFiniteGuard(f"{name} (identity warm-up)", section)
        _fit(autoencoder, _train_dataset(_images_as_data(data), "images", batch_size, seed=seed),
                        steps_per_epoch=int(steps), epochs=1,
                        callbacks=[guard], verbose=0)
    guard.check()
    check_trained_weights(component, f"{name} (identity warm-up)", section)


_WARM_STARTS: dict = {}  # one entry: key of a warm-up -> P's weights after it (C-E and Luring share it)
_WARM_LOCK = threading.Lock()  # C-E and Luring in two threads (--jobs): the second waits for the first's warm-up


def _warm_start_key(component: keras.Model, data, steps: int, batch_size: int, seed: int,
                    deterministic: bool) -> str:
    """What decides the result of :func:`identity_warmup`: P's layers and initial weights, the images, sizes, seed."""
    digest = hashlib.sha256()
    layers = [(type(layer).__name__, {k: v for k, v in layer.get_config().items() if k != "name"})
              for layer in component.layers]
    digest.update(json.dumps([layers, int(steps), int(batch_size), int(seed), bool(deterministic)],
                             sort_keys=True, default=str).encode())
    for array in component.get_weights():
        array = np.ascontiguousarray(array)
        digest.update(str((array.shape, array.dtype.str)).encode())
        digest.update(array.tobytes())
    digest.update(streams.content_key(_images_as_data(data), "train"))
    return digest.hexdigest()


def warm_start(component: keras.Model, data, steps: int, batch_size: int, seed: int, *,
               name: str, section: str, deterministic: bool) -> None:
    """:func:`identity_warmup`, or its stored result when the same warm-up already ran in this process.

    C-E and Luring start from the same seed, P architecture and images, so their warm-ups are
    identical: the second reuses the first's weights (same weights, half the warm-up time).
    """
    key = _warm_start_key(component, data, steps, batch_size, seed, deterministic)
    with seeding.unlocked():  # never wait for the warm-up while holding the seeding lock its owner needs
        _WARM_LOCK.acquire()
    try:
        if key in _WARM_STARTS:
            component.set_weights(_WARM_STARTS[key])
            return
        identity_warmup(component, data, steps, batch_size, seed, name=name, section=section,
                        deterministic=deterministic)
        _WARM_STARTS.clear()
        _WARM_STARTS[key] = component.get_weights()
    finally:
        _WARM_LOCK.release()


def train_component(component, classifier, data, cfg: dict, objective: str, augment=None, seed: int = 0, *,
                    deterministic: bool = True, checkpoint: checkpoints.Location | None = None) -> dict:
    """Train P against frozen M with ``objective`` ('luring' or 'ce'); best val agreement kept.

    ``component`` is re-initialised from ``seed`` (its incoming weights are discarded), so its
    start never depends on what ran before in the process. ``classifier`` is not modified.
    ``cfg``: ``steps, batch_size, lr, lr_boundaries`` (steps), ``eval_every`` (steps between
    validations; the last evaluation is at the final step), ``luring_coefficient`` (λ),
    ``classifier_training`` (reproduce the original's M in training mode, see
    :class:`ComponentTrainer`; default False = M in inference mode, spec §4 #11),
    ``restarts`` (default 3): when the first evaluation shows P collapsed (see
    :class:`CollapseGuard`), P is re-initialised with seed + attempt and training starts over --
    a departure from the original code, which trained one random P whatever happened;
    ``identity_warmup_steps`` (default 0): steps of :func:`identity_warmup` before the objective
    (another departure, used by the quick MNIST profile; 0 = the original's random start), run
    once per process for C-E and Luring when they are identical (:func:`warm_start`).
    ``checkpoint``: resumable training (:mod:`luring_tf.training.checkpoints`), one checkpoint per
    evaluation interval; a resumed restart attempt skips the attempts before it, a resumed
    evaluation interval skips the warm-up (its result is in the checkpoint);
    ``optimizer`` adam (default) or sgd with ``momentum`` (:func:`component_optimizer`).
    Data whose stream augments the training images (``streams.train_is_augmented``) train on
    images alone, M's logits computed per batch.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}: choose one of {OBJECTIVES}")
    name = f"{objective} P"
    key = checkpoints.run_key("component", objective, cfg, seed, deterministic, _augment_key(augment),
                              checkpoints.architecture(component), weights_digest(classifier), *_data_key(data))
    resume = checkpoints.load(checkpoint, key, name)
    # A stream that augments its training images itself (ImageNet's random resized crops) gets M's logits
    # per batch: logits computed beforehand would be for other crops (and 1.28M x 1000 floats).
    per_batch = bool(getattr(streams, "train_is_augmented", lambda d: False)(data))
    with reproducible(seed, deterministic):
        train_logits = None if per_batch else classifier_logits(classifier, streams.stream(data, "train", 500))
        val_logits = classifier_logits(classifier, streams.stream(data, "val", 500))
        labelled = getattr(data, "y_val", None) is not None  # unlabeled data: no accuracy, agreement only
        val = streams.stream(data, "val", 500, extras=(val_logits, "labels") if labelled else (val_logits,))
        calibration = (streams.images(data, "train", batch_norm.calibration_count(
            streams.image_shape(data), cfg["batch_size"], streams.size(data, "train")))
            if batch_norm.batch_norm_layers(component) else None)
    floor = constant_agreement(val_logits)
    curve: list = []
    every = int(cfg["eval_every"])
    restarts = int(cfg.get("restarts", 3))
    warmup = int(cfg.get("identity_warmup_steps", 0))
    for attempt in range(resume.run if resume is not None else 0, restarts + 1):
        if attempt:
            print(f"{objective}: P collapsed to a constant image (validation agreement "
                  f"no better than a constant image's {floor:.3f}); "
                  f"restart {attempt}/{restarts} with a new initialisation", flush=True)
        with reproducible(seed + attempt, deterministic):
            reinitialise(component)
            reseed(component, seed + attempt)
        resumed = checkpoints.resumes(resume, attempt)
        if warmup and resumed is None:
            warm_start(component, data, warmup, cfg["batch_size"], seed + attempt,
                       name=name, section=objective, deterministic=deterministic)
            reseed(component, seed + attempt)  # the same dropout masks whether the warm-up ran or was reused
        with reproducible(seed + attempt, deterministic), distribute.scope():
            trainer = ComponentTrainer(
                component, classifier, objective, cfg.get("luring_coefficient", 1.0), augment,
                cfg.get("classifier_training", False), logits_per_batch=per_batch, calibration=calibration,
                calibration_batch=cfg["batch_size"],
            )
            trainer.compile(optimizer=component_optimizer(cfg, learning_rate(cfg["lr"], cfg.get("lr_boundaries"))),
                            steps_per_execution=distribute.steps_per_execution(every))
            initial = (resumed.extra["initial"] if resumed is not None else
                       trainer.evaluate(val, verbose=0, return_dict=True)["agreement"])
            keep = KeepBestWeights(component, "val_agreement", initial=initial)
            guard = CollapseGuard(floor) if attempt < restarts else None
            finite = NonFiniteGuard(name, objective)
            evaluations = math.ceil(int(cfg["steps"]) / every)
            state = component.variables + (trainer.training_classifier.variables if trainer.classifier_training else [])
            saver = checkpoints.EpochCheckpoint(checkpoint, key, name, evaluations, state, keep, run=attempt,
                                                resume=resumed, extra={"initial": float(initial)})
            _fit(
                trainer,
                _train_dataset(data, train_logits, cfg["batch_size"], augment, seed + attempt,
                               saver.initial_epoch * every),
                steps_per_epoch=every,
                epochs=evaluations,
                initial_epoch=saver.initial_epoch,
                validation_data=val,
                callbacks=[finite, AgreementCurve(curve, objective, every, evaluations, attempt), keep]
                + ([guard] if guard else []) + [saver],
                verbose=_verbose(),
            )
        finite.check()
        if guard is None or not guard.collapsed:
            break
    check_trained_weights(component, name, objective)
    checkpoints.finish(checkpoint)
    if keep.best_weights is None and warmup:
        print(f"{objective}: no evaluation beat the identity warm-up's validation agreement ({initial:.3f}; the "
              "luring loss trades some agreement for the luring effect): the last weights are kept", flush=True)
    elif keep.best_weights is None:
        print(f"warning: {objective} training never beat the random component's validation agreement "
              f"({initial:.3f}); P likely collapsed to a constant image: try a lower lr or another --seed",
              flush=True)
    return {"objective": objective, "identity_warmup_steps": warmup,
            "initial_val_agreement": float(initial), "restarts": attempt,
            "best_val_agreement": keep.best, "best_evaluation": keep.best_epoch,
            "steps": int(math.ceil(int(cfg["steps"]) / every) * every), "curve": curve,
            "batch_norm_recalibrated": calibration is not None}
