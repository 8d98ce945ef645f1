"""Trapdoored ("honeypot") models of Shan et al. (CCS 2020) built from M: the public model of Table 20 (App. I).

A trapdoor for label t is a fixed trigger (mask, pattern): ``x' = mask*pattern + (1-mask)*x``, an
alpha blend at opacity ``mask_ratio`` over a few random squares. The trapdoored model learns to
answer t on every image stamped with t's trigger, one trapdoor per label (the authors' all-label
default, spec ``trapdoor.md`` §1), so untargeted attacks on it are drawn towards the trapdoors'
directions -- which M lacks: the paper's claim is that such examples transfer poorly to M.

Choices where the paper and the authors' code differ or are silent (spec ``trapdoor.md``):

* **"trained from M"** (App. I): ``init: m`` (default) fine-tunes a copy of M's weights with
  injection, as the authors' JUL20 code fine-tunes a trained clean model (reading (i));
  ``init: scratch`` trains M's architecture from fresh weights with injection (reading (ii); the
  NOV20 code first trains clean then injects, which is ``init: m`` with M as the clean phase).
  The architecture is M's own (a clone of the loaded M: ``architectures.build_classifier(dataset)``
  for the paper's M).
* **Triggers**: ``squares`` squares of ``square_size`` px per label (5 of 3x3 in JUL20/NOV20),
  each top-left corner uniform, each square a Gaussian field N(m, s) with m, s ~ U(0, 1), clipped
  to [0, 1], summed and clipped; one grey channel broadcast to RGB (the HEAD generator). Drawn
  with NumPy from the config seed (the authors' Python ``random`` stream cannot be reproduced),
  saved in ``triggers.npz`` and reused by detection.
* **Injection**: each training sample is replaced by its stamped version with probability
  ``inject_ratio`` (0.5), its label by a target drawn uniformly over *all* labels (possibly its
  own), as the code does; stamping is stateless-random, keyed by (seed, batch index).
* **Optimizer**: Adam, batch ``batch_size``, ``lr``/``lr_boundaries`` in epochs (the code's
  schedule: 1e-3, then 1e-4 from epoch 11), cross-entropy on the mixed batch.
* **Selection**: after each epoch, clean accuracy and trapdoor accuracy (every image stamped with a
  random label's trigger, counted right when that label is predicted) on the *validation* split
  (departure: the code selects on the test set); the epoch with the highest trapdoor accuracy
  among those whose clean accuracy is at least M's minus ``clean_margin`` is kept (the code's fixed
  floors 0.98 / 0.75-0.85 become relative to M). When no epoch reaches the floor, the best
  trapdoor epoch is kept with a warning (the code fails).

Files in ``<models_dir>/trapdoor/``: ``trapdoored.h5`` (plain Keras, softmax output like M),
``triggers.npz`` (masks ``[K,H,W,1]``, patterns ``[K,H,W,C]``), ``detector.npz`` (the neuron
signatures, :mod:`luring_tf.defenses.signature_detector`) and ``training.json`` (summary, M's
weights digest). Inputs are float32 ``[N,H,W,C]`` in [0, 1] throughout.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from luring_tf.data import streams
from luring_tf.errors import UserError
from luring_tf.evaluation.adversarial import predict_labels
from luring_tf.storage import files
from luring_tf.storage.fingerprint import weights_digest
from luring_tf.storage.models_io import load_model, save_model
from luring_tf.training import trainers

INITS = ("m", "scratch")


def trapdoor_paths(models_dir) -> dict[str, Path]:
    """Where the trapdoored model of a models folder and its companions live."""
    root = Path(models_dir) / "trapdoor"
    return {"model": root / "trapdoored.h5", "triggers": root / "triggers.npz",
            "detector": root / "detector.npz", "summary": root / "training.json"}


@dataclass(frozen=True)
class Triggers:
    """One trapdoor per label: ``masks`` float32 [K,H,W,1] in {0, mask_ratio}, ``patterns`` float32 [K,H,W,C] in [0,1]."""

    masks: np.ndarray
    patterns: np.ndarray

    @property
    def n_labels(self) -> int:
        return int(self.masks.shape[0])

    def stamp(self, x, labels):
        """``x`` [N,H,W,C] in [0,1] stamped with the trigger of ``labels`` [N] (int): a tf float32 tensor."""
        x = tf.convert_to_tensor(x, tf.float32)
        labels = tf.cast(labels, tf.int32)
        mask = tf.gather(tf.constant(self.masks), labels)
        pattern = tf.gather(tf.constant(self.patterns), labels)
        return mask * pattern + (1.0 - mask) * x

    def save(self, path) -> Path:
        return files.write_npz(path, masks=self.masks, patterns=self.patterns)

    @classmethod
    def load(cls, path) -> "Triggers":
        stored = files.read_npz(path)
        return cls(masks=stored["masks"].astype(np.float32), patterns=stored["patterns"].astype(np.float32))


def make_triggers(shape, n_labels: int, squares: int, square_size: int, mask_ratio: float, seed: int) -> Triggers:
    """Random triggers for images of ``shape`` (H, W, C): ``squares`` squares of ``square_size`` px per label."""
    height, width, channels = (int(v) for v in shape)
    if square_size > min(height, width):
        raise UserError(f"configuration value train.trapdoor.square_size={square_size} is larger than the "
                        f"{height}x{width} images: give a smaller square")
    rng = np.random.default_rng(seed)
    masks = np.zeros((n_labels, height, width, 1), np.float32)
    patterns = np.zeros((n_labels, height, width, 1), np.float32)
    for label in range(n_labels):
        for _ in range(squares):
            top, left = rng.integers(0, height - square_size + 1), rng.integers(0, width - square_size + 1)
            mean, std = rng.uniform(), rng.uniform()
            field = np.clip(rng.normal(mean, std, (square_size, square_size)), 0.0, 1.0)
            patterns[label, top:top + square_size, left:left + square_size, 0] += field
            masks[label, top:top + square_size, left:left + square_size, 0] = 1.0
    patterns = np.repeat(np.clip(patterns, 0.0, 1.0), channels, axis=-1)  # grey on RGB images
    return Triggers(masks=masks * np.float32(mask_ratio), patterns=patterns)


def injected_dataset(x, y, triggers: Triggers, batch_size: int, inject_ratio: float, seed: int) -> tf.data.Dataset:
    """Endless shuffled batches where each sample is stamped with probability ``inject_ratio``, relabelled to the trigger's label."""
    key = tf.constant(int(seed), tf.int64)
    n_labels = triggers.n_labels

    def inject(i, batch):
        images, labels = batch
        size = tf.shape(images)[0]
        draw = tf.random.stateless_uniform(tf.stack([size]), seed=tf.stack([key, i]))
        targets = tf.random.stateless_uniform(tf.stack([size]), seed=tf.stack([key + 1, i]), minval=0,
                                              maxval=n_labels, dtype=tf.int32)
        chosen = draw < inject_ratio
        stamped = triggers.stamp(images, targets)
        images = tf.where(chosen[:, None, None, None], stamped, images)
        return images, tf.where(chosen, tf.cast(targets, labels.dtype), labels)

    ds = tf.data.Dataset.from_tensor_slices((np.asarray(x, np.float32), np.asarray(y)))
    ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).repeat().batch(batch_size)
    ds = ds.enumerate().map(inject, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return streams.untuned(ds.prefetch(tf.data.AUTOTUNE))


def random_targets(n: int, n_labels: int, seed: int) -> np.ndarray:
    """The seeded trigger labels used to measure trapdoor accuracy on ``n`` images (int64 [n])."""
    return np.random.default_rng(seed).integers(0, n_labels, n).astype(np.int64)


def trapdoor_accuracy(model, triggers: Triggers, x, seed: int = 0, batch_size: int = 500) -> float:
    """Share of images stamped with a random label's trigger that ``model`` classifies as that label."""
    targets = random_targets(len(x), triggers.n_labels, seed)
    stamped = triggers.stamp(x, targets).numpy()
    return float(np.mean(predict_labels(model, stamped, batch_size, name="trapdoored") == targets))


class SelectTrapdoored(keras.callbacks.Callback):
    """After each epoch: clean and trapdoor validation accuracy; keep the best trapdoor epoch above the clean floor."""

    def __init__(self, triggers: Triggers, x_val, y_val, floor: float, seed: int):
        super().__init__()
        self.triggers, self.x_val, self.y_val, self.floor, self.seed = triggers, x_val, y_val, floor, seed
        self.history, self.best, self.best_weights, self.fallback = [], None, None, None

    def on_epoch_end(self, epoch, logs=None):
        clean = float(np.mean(predict_labels(self.model, self.x_val, name="trapdoored") == self.y_val))
        trap = trapdoor_accuracy(self.model, self.triggers, self.x_val, self.seed)
        entry = {"epoch": epoch + 1, "val_accuracy": round(clean, 4), "val_trapdoor_accuracy": round(trap, 4)}
        self.history.append(entry)
        print(f"[luring-tf] trapdoored epoch {epoch + 1}: validation accuracy {clean:.4f}, "
              f"trapdoor accuracy {trap:.4f} (clean floor {self.floor:.4f})", flush=True)
        if clean >= self.floor and (self.best is None or trap > self.best["val_trapdoor_accuracy"]):
            self.best, self.best_weights = entry, self.model.get_weights()
        if self.best is None and (self.fallback is None or trap > self.fallback[0]["val_trapdoor_accuracy"]):
            self.fallback = (entry, self.model.get_weights())

    def on_train_end(self, logs=None):
        if self.best is None and self.fallback is not None:
            self.best, self.best_weights = self.fallback[0], self.fallback[1]
            self.best = dict(self.best, below_floor=True)
            print(f"[luring-tf] WARNING: no epoch of the trapdoored model kept a validation accuracy of "
                  f"{self.floor:.4f} or more: the best trapdoor epoch ({self.best['epoch']}) is kept; train "
                  "longer (--set train.trapdoor.epochs=...) or lower the learning rate, then --retrain", flush=True)
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def train_trapdoored(classifier: keras.Model, data, triggers: Triggers, cfg: dict, seed: int = 0,
                     deterministic: bool = True) -> tuple[keras.Model, dict]:
    """Train a trapdoored model of M's architecture (``classifier`` is M); returns ``(model, summary)``.

    ``cfg``: the ``train.trapdoor`` section (``init``, ``epochs``, ``batch_size``, ``lr``,
    ``lr_boundaries``, ``inject_ratio``, ``clean_margin``); ``data``: ``x_train``/``y_train`` and
    ``x_val``/``y_val`` (float32 [N,H,W,C] in [0,1], int labels).
    """
    if cfg["init"] not in INITS:  # the config schema refuses other values in one line
        raise ValueError(f"unknown trapdoor init {cfg['init']!r}: choose from {', '.join(INITS)}")
    steps = math.ceil(len(data.x_train) / cfg["batch_size"])
    y_val = np.asarray(data.y_val)
    m_val = float(np.mean(predict_labels(classifier, data.x_val, name="M") == y_val))
    floor = m_val - cfg["clean_margin"]
    with trainers.reproducible(seed, deterministic):
        model = keras.models.clone_model(classifier)  # M's architecture, fresh weights drawn from the seed
        if cfg["init"] == "m":
            model.set_weights(classifier.get_weights())
        model.name = "trapdoored"
        model.compile(optimizer=keras.optimizers.Adam(trainers.learning_rate(cfg["lr"], cfg.get("lr_boundaries"), steps)),
                      loss=keras.losses.SparseCategoricalCrossentropy())
        select = SelectTrapdoored(triggers, data.x_val, y_val, floor, seed)
        guard = trainers.NonFiniteGuard("the trapdoored model", "trapdoor")
        model.fit(injected_dataset(data.x_train, data.y_train, triggers, cfg["batch_size"], cfg["inject_ratio"], seed),
                  shuffle=False,  # the injected stream is shuffled already
                  steps_per_epoch=steps, epochs=cfg["epochs"], callbacks=[guard, select], verbose=0)
    guard.check()
    trainers.check_trained_weights(model, "the trapdoored model", "trapdoor")
    return model, {"init": cfg["init"], "m_val_accuracy": round(m_val, 4), "clean_floor": round(floor, 4),
                   "selected": select.best, "epochs": select.history}


def _log(message: str) -> None:
    print(f"[luring-tf] {message}", flush=True)


def obtain_trapdoored(classifier: keras.Model, data, config: dict, models_dir, retrain: bool = False):
    """The trapdoored model of ``models_dir`` and its detector: loaded, or trained from M and saved.

    Returns ``(model, triggers, detector)``. A stored model trained from another M (its
    ``training.json`` records M's weights digest) is a one-line error asking for ``--retrain``;
    a missing or stale detector (another model, FPR or signature set) is fitted again, quickly.
    """
    from luring_tf.defenses import signature_detector

    paths, cfg = trapdoor_paths(models_dir), config["train"]["trapdoor"]
    m_digest = weights_digest(classifier)
    if paths["model"].exists() and not retrain:
        summary = files.read_json(paths["summary"]) if paths["summary"].exists() else {}
        if summary.get("M") != m_digest or not paths["triggers"].exists():
            raise UserError(f"{paths['model']} was not trained from the M in {Path(models_dir) / 'M.h5'} (or its "
                            f"triggers.npz is missing): pass --retrain to train the trapdoored model again")
        _log(f"loading the trapdoored model from {paths['model']}")
        model, triggers = load_model(paths["model"]), Triggers.load(paths["triggers"])
    else:
        triggers = make_triggers(data.x_train.shape[1:], int(classifier.output_shape[-1]), cfg["squares"],
                                 cfg["square_size"], cfg["mask_ratio"], config["seed"])
        _log(f"training the trapdoored model ({cfg['init']} init) on {len(data.x_train)} {config['dataset']} images, "
             f"{cfg['epochs']} epochs, injection ratio {cfg['inject_ratio']:g}")
        start = time.time()
        model, summary = train_trapdoored(classifier, data, triggers, cfg, config["seed"],
                                          config.get("deterministic", True))
        summary.update(M=m_digest, seconds=round(time.time() - start, 1), config=cfg,
                       test_accuracy=round(float(np.mean(predict_labels(model, data.x_test, name="trapdoored")
                                                         == np.asarray(data.y_test))), 4),
                       test_trapdoor_accuracy=round(trapdoor_accuracy(model, triggers, data.x_test, config["seed"]), 4))
        triggers.save(paths["triggers"])
        save_model(model, paths["model"], overwrite=True)
        files.write_json(paths["summary"], summary)
        _log(f"trapdoored model: test accuracy {summary['test_accuracy']}, test trapdoor accuracy "
             f"{summary['test_trapdoor_accuracy']} ({summary['seconds']} s)")
    detector = signature_detector.obtain_detector(model, triggers, data, cfg, paths["detector"], config["seed"])
    return model, triggers, detector
