"""Resumable trainings: a checkpoint at every epoch end, resumed by running the same command again.

A training given a :class:`Location` (``<models-dir>/.checkpoints/<model name>/``, :func:`at`) writes one
file there, ``checkpoint.npz``, atomically at the end of every Keras epoch (an evaluation interval for
``train_component``): the trained variables (weights, BatchNormalization statistics, dropout seed states),
the optimizer's variables (``iterations`` included, so a learning-rate schedule continues where it was),
the epoch reached, :class:`~luring_tf.training.trainers.KeepBestWeights`'s state (best value, epoch and
weights), the run (restart attempt of ``train_component``, fallback run of ``train_classifier``, with
what that run carries over from the first) and the run's **key**: a digest of the config section, seed,
determinism, data content (:func:`luring_tf.data.streams.content_key`), M's weights where P trains
against M, and the model's architecture where it exists before training. A checkpoint whose key differs
(another configuration) is ignored with a one-line notice and replaced; a finished training deletes it.

The trainer resumes with ``fit(initial_epoch=k)`` and a training stream that skips the ``k`` epochs of
batches already consumed (:func:`luring_tf.data.streams.stream`'s ``skip``, before decoding; the
augmentation keeps its batch index), so an interrupted and resumed run ends with the weights of an
uninterrupted one on array- and file-backed data. Records-backed streams (any tfds set by name) cannot
skip cheaply: they start a new shuffled order (see ``streams.stream``), so the resumed run is not
bit-identical there. An epoch that ends with a non-finite loss or a collapse (``model.stop_training``
set by the guards) is never saved: a rerun resumes from the last good epoch. The identity warm-up of
``train_component`` is not checkpointed (it is short): an interruption during it restarts it.

Many devices: the variables are read and assigned through Keras (``Variable.numpy`` / ``assign``), which
works inside a ``tf.distribute`` strategy's scope. Under multi-worker training only the chief should
write: build its :class:`Location` with ``write=False`` on the other workers (they still read it, so
they need the same storage to resume at the same epoch). Departure: the original code had no
checkpoints; Keras's ``BackupAndRestore`` saves weights and the epoch only, not the states above.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
from pathlib import Path

import keras
import numpy as np

from luring_tf.errors import UserError
from luring_tf.storage import files

FOLDER = ".checkpoints"
FILE = "checkpoint.npz"


@dataclasses.dataclass(frozen=True)
class Location:
    """Where one model's checkpoint lives; ``write=False``: read only (non-chief workers)."""

    folder: Path
    write: bool = True

    @property
    def path(self) -> Path:
        return Path(self.folder) / FILE


def at(root, name: str, write: bool = True) -> Location:
    """The checkpoint location of model ``name`` under ``root`` (a models folder): ``root/.checkpoints/name/``."""
    return Location(Path(root) / FOLDER / str(name).replace(" ", "_").replace("/", "_"), write)


def run_key(*parts) -> str:
    """Digest of what decides a training's result: JSON-able values, ``bytes`` (data content keys), ``None``."""
    def jsonable(value):
        if isinstance(value, bytes):
            return value.hex()
        if isinstance(value, np.generic):
            return value.item()
        return repr(value)

    text = json.dumps(parts, sort_keys=True, default=jsonable)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def architecture(model: keras.Model) -> list:
    """Layer types and variable shapes of ``model`` (names left out: Keras numbers them per process)."""
    return [[type(layer).__name__, [list(v.shape) for v in layer.variables]] for layer in model.layers]


@dataclasses.dataclass
class State:
    """What a checkpoint holds: the state after ``epoch`` of ``epochs`` epochs of run ``run``."""

    key: str
    run: int
    epoch: int
    epochs: int
    variables: list
    optimizer: list
    best: float | None = None
    best_epoch: int | None = None
    best_weights: list | None = None
    logs: dict = dataclasses.field(default_factory=dict)
    extra: dict = dataclasses.field(default_factory=dict)
    carry: list = dataclasses.field(default_factory=list)


_LISTS = ("variables", "optimizer", "best_weights", "carry")


def save(location: Location | None, state: State) -> None:
    """Write ``state`` to ``location`` atomically (nothing without a location or with ``write=False``)."""
    if location is None or not location.write:
        return
    arrays, counts = {}, {}
    for field in _LISTS:
        values = getattr(state, field)
        counts[field] = None if values is None else len(values)
        for i, value in enumerate(values or []):
            arrays[f"{field}_{i}"] = np.asarray(value)
    meta = {k: v for k, v in dataclasses.asdict(state).items() if k not in _LISTS}
    arrays["meta"] = np.array(json.dumps(dict(meta, counts=counts), default=float))
    files.write_npz(location.path, compress=False, **arrays)  # weights barely compress: 3 s CPU a save for 7 %


def load(location: Location | None, key: str, name: str) -> State | None:
    """The checkpoint at ``location`` when its key is ``key``; else None (a notice when one is ignored)."""
    if location is None or not location.path.is_file():
        return None
    try:
        stored = files.read_npz(location.path)
        meta = json.loads(str(stored.pop("meta")))
        counts = meta.pop("counts")
        lists = {field: None if counts[field] is None else [stored[f"{field}_{i}"] for i in range(counts[field])]
                 for field in _LISTS}
        state = State(**meta, **lists)
    except (UserError, KeyError, TypeError, ValueError) as exc:
        print(f"ignoring the unreadable checkpoint {location.path} ({type(exc).__name__}): "
              f"training {name} from the start", flush=True)
        return None
    if state.key != key:
        print(f"ignoring the checkpoint {location.path}: it was saved by another configuration (config, seed, "
              f"data or M differ); training {name} from the start and replacing it", flush=True)
        return None
    return state


def finish(location: Location | None) -> None:
    """Delete the checkpoint of a finished training (and its folder, and ``.checkpoints`` when empty)."""
    if location is None or not location.write:
        return
    shutil.rmtree(location.folder, ignore_errors=True)
    parent = Path(location.folder).parent
    if parent.name == FOLDER and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()


def resumes(state: State | None, run: int) -> State | None:
    """``state`` when it continues run ``run`` from a saved epoch (not a run's mere start), else None."""
    return state if state is not None and state.run == run and state.epoch > 0 else None


def _numbers(logs) -> dict:
    return {k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0}


class EpochCheckpoint(keras.callbacks.Callback):
    """Save the training state at every epoch end; put a resumed state back when training begins.

    ``variables``: the trained state (e.g. ``model.variables``; P's, never frozen M's);
    ``keep``: the run's ``KeepBestWeights`` (or None); ``run``: restart / fallback index;
    ``resume``: the loaded :class:`State` (used when :func:`resumes` this run); ``extra`` (JSON) and
    ``carry`` (arrays): what the run needs besides (e.g. the evaluation before training, the first run's
    result). A run other than the first saves its start, so an interruption resumes it, not the first.
    Callbacks that stop training (divergence, collapse) must come before it in ``callbacks``.
    """

    def __init__(self, location: Location | None, key: str, name: str, epochs: int, variables, keep=None, *,
                 run: int = 0, resume: State | None = None, extra: dict | None = None, carry=None):
        super().__init__()
        self.location, self.key, self.name, self.epochs = location, key, name, int(epochs)
        self.variables, self.keep, self.run = list(variables), keep, int(run)
        self.resumed = resumes(resume, self.run)
        self.extra = dict(self.resumed.extra if self.resumed else extra or {})
        self.carry = list(self.resumed.carry if self.resumed else carry or [])
        self.logs = dict(self.resumed.logs) if self.resumed else {}
        if self.resumed is not None:
            run_note = f" (run {self.run + 1})" if self.run else ""
            print(f"resuming {name} from epoch {self.resumed.epoch}/{self.epochs}{run_note} "
                  f"({location.path})", flush=True)

    @property
    def initial_epoch(self) -> int:
        return self.resumed.epoch if self.resumed is not None else 0

    def _optimizer(self):
        optimizer = self.model.optimizer
        if not optimizer.built:  # as Keras's BackupAndRestore: build the slots before assigning them
            optimizer.build(self.model.trainable_variables)
        return optimizer

    def on_train_begin(self, logs=None):
        state = self.resumed
        if state is None:
            if self.run:
                self._save(0)
            return
        optimizer = self._optimizer()
        for what, variables, values in (("variables", self.variables, state.variables),
                                        ("optimizer variables", optimizer.variables, state.optimizer)):
            if [tuple(v.shape) for v in variables] != [tuple(np.shape(a)) for a in values]:
                raise UserError(f"the checkpoint {self.location.path} does not fit {self.name}'s {what} (another "
                                "architecture): delete it and rerun")
            for variable, value in zip(variables, values):
                variable.assign(value)
        if self.keep is not None:
            self.keep.best = -math.inf if state.best is None else state.best
            self.keep.best_epoch, self.keep.best_weights = state.best_epoch, state.best_weights

    def on_epoch_end(self, epoch, logs=None):
        if self.model.stop_training:  # diverged or collapsed: not a state to continue from
            return
        self.logs = _numbers(logs)
        self._save(epoch + 1)

    def _save(self, epoch: int) -> None:
        if self.location is None or not self.location.write:
            return
        keep = self.keep
        best = None if keep is None or not np.isfinite(keep.best) else float(keep.best)
        save(self.location, State(
            key=self.key, run=self.run, epoch=epoch, epochs=self.epochs,
            variables=[v.numpy() for v in self.variables] if epoch else [],
            optimizer=[v.numpy() for v in self.model.optimizer.variables] if epoch else [],
            best=best, best_epoch=None if keep is None else keep.best_epoch,
            best_weights=None if keep is None else keep.best_weights,
            logs=self.logs, extra=self.extra, carry=self.carry))
