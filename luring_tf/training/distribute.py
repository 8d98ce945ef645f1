"""Which devices train the models and run the attacks: a process-wide ``tf.distribute`` strategy.

``use("auto" | "one" | "mirrored" | "multiworker" | a Strategy)`` sets the strategy of this process; every
training in :mod:`luring_tf.training.trainers` builds and compiles its models inside :func:`scope`, and
:func:`luring_tf.evaluation.adversarial.craft` splits the examples of the gradient attacks across its replicas
(:func:`shard_map`). Nobody asking = TensorFlow's default strategy (one device): code and results unchanged.

* ``one``: the default strategy (the first GPU, else the CPU);
* ``mirrored``: ``MirroredStrategy`` over every visible GPU, else over the logical CPU devices when there are
  several (tests and the benchmark make two with ``tf.config.set_logical_device_configuration``);
* ``auto``: ``mirrored`` when more than one GPU is visible, else ``one``;
* ``multiworker``: ``MultiWorkerMirroredStrategy`` over the machines of the standard ``TF_CONFIG``
  (``{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": i}}``), each
  machine mirroring over its own GPUs; worker 0 is the chief (the only one that writes results and models).

Batch sizes in the configs are *global*: Keras splits each batch across replicas. The strategy is not part of
a result's identity: the same command gives the same numbers (to float tolerance) on 1 or n devices.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np
import tensorflow as tf

from luring_tf.errors import UserError

NAMES = ("auto", "one", "mirrored", "multiworker")
TF_CONFIG_EXAMPLE = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}\'')

_current: dict = {"strategy": None, "name": "one"}


def _gpus() -> list:
    return tf.config.list_logical_devices("GPU")


def check_tf_config(text: str | None) -> dict:
    """The parsed ``TF_CONFIG`` of a multi-worker run, else a one-line ``UserError`` showing an example."""
    fix = f"set it on every machine, e.g. {TF_CONFIG_EXAMPLE} (index 1 on the second machine)"
    if not text:
        raise UserError(f"--strategy multiworker needs the TF_CONFIG environment variable: {fix}")
    try:
        config = json.loads(text)
        workers = config["cluster"]["worker"]
        task = config["task"]
        index = int(task["index"])
    except (ValueError, KeyError, TypeError):
        raise UserError(f"TF_CONFIG is not a cluster description ({text[:80]!r}): {fix}") from None
    if not isinstance(workers, list) or not workers or task.get("type") not in ("worker", "chief") \
            or not 0 <= index < len(workers):
        raise UserError(f"TF_CONFIG names no valid task in its cluster ({text[:80]!r}): {fix}")
    return config


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy called ``name`` (one of :data:`NAMES`); an unknown name is a one-line ``UserError``."""
    if name not in NAMES:
        raise UserError(f"unknown strategy {name!r}: choose one of {', '.join(NAMES)}")
    if name == "auto":
        name = "mirrored" if len(_gpus()) > 1 else "one"
    if name == "one":
        return _default()
    if name == "mirrored":
        devices = [d.name for d in _gpus()] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices) if len(devices) > 1 else _default()
    check_tf_config(os.environ.get("TF_CONFIG"))
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    _barrier(strategy)
    return strategy


def _default() -> tf.distribute.Strategy:
    """TensorFlow's default strategy (one device), even while another is set process-wide."""
    from tensorflow.python.distribute import distribute_lib  # the default strategy object is not public

    return distribute_lib._get_default_strategy()


def _barrier(strategy: tf.distribute.Strategy) -> None:
    """A collective sum of ones: returns when every worker of ``strategy`` has reached it."""
    ones = strategy.run(lambda: tf.ones([]))
    total = strategy.reduce(tf.distribute.ReduceOp.SUM, ones, axis=None)
    if int(total) != strategy.num_replicas_in_sync:
        raise RuntimeError(f"barrier counted {int(total)} replicas of {strategy.num_replicas_in_sync}")


def use(name_or_strategy="one") -> tf.distribute.Strategy:
    """Make ``name_or_strategy`` (a name of :data:`NAMES` or a ``tf.distribute.Strategy``) this process's strategy.

    A name already in use returns the current strategy (a multi-worker strategy can be made once per process).
    It is also set as TensorFlow's current strategy (``tf.distribute.experimental_set_strategy``), so every model
    built or loaded afterwards, by any code, has its variables on the strategy's devices. Returns it.
    """
    if isinstance(name_or_strategy, tf.distribute.Strategy):
        strategy, name = name_or_strategy, type(name_or_strategy).__name__
    elif name_or_strategy == _current["name"] and _current["strategy"] is not None:
        return _current["strategy"]  # the same name again: the same strategy (its models stay usable)
    else:
        strategy, name = make_strategy(name_or_strategy), name_or_strategy
    tf.distribute.experimental_set_strategy(None)
    if strategy is not _default():
        _stop_keras_peeking()
        tf.distribute.experimental_set_strategy(strategy)
    _current.update(strategy=strategy, name=name)
    return strategy


def strategy() -> tf.distribute.Strategy:
    """The current strategy of this process (the default strategy unless :func:`use` chose another)."""
    return _current["strategy"] or tf.distribute.get_strategy()


def scope():
    """``strategy().scope()``: build and compile models inside it (a no-op scope for the default strategy)."""
    current = strategy()
    if tf.distribute.has_strategy() and tf.distribute.get_strategy() is current:
        return contextlib.nullcontext()  # already inside (e.g. set process-wide by use())
    return current.scope()


def replicas() -> int:
    """Number of replicas in sync of the current strategy (1 for the default strategy)."""
    return int(strategy().num_replicas_in_sync)


def describe() -> str:
    """One line for the log: the strategy, its replicas and devices."""
    current = strategy()
    try:
        devices = tuple(current.extended.worker_devices) if distributed() else ()
    except (RuntimeError, AttributeError):  # strategies without a device list
        devices = ()
    workers = 1
    resolver = getattr(current, "cluster_resolver", None)
    if resolver is not None and resolver.cluster_spec().as_dict():
        workers = len(resolver.cluster_spec().as_dict().get("worker", [])) or 1
    where = f" on {', '.join(devices)}" if devices else ""
    kind = type(current).__name__ if distributed() else "one device (default strategy)"
    return (f"strategy: {kind}, {replicas()} replica(s)"
            + (f", {workers} workers (this is worker {task_index()})" if workers > 1 else "") + where)


def task_index() -> int:
    """This worker's index in a multi-worker run (0 otherwise)."""
    resolver = getattr(strategy(), "cluster_resolver", None)
    return int(getattr(resolver, "task_id", 0) or 0) if resolver is not None else 0


def is_chief() -> bool:
    """Whether this process writes results and models: always, but worker 0 only in a multi-worker run."""
    return task_index() == 0


def worker_path(path) -> Path:
    """``path`` on the chief; on another worker a private copy of it in a temporary folder (its writes go there).

    Every worker runs the same steps (their collectives must meet), so a non-chief worker needs the same
    models and finished cells to start from: the folder is copied as it is now (lock files left out).
    """
    path = Path(path)
    if is_chief():
        return path
    private = Path(tempfile.mkdtemp(prefix=f"luring-tf-worker{task_index()}-")) / path.name
    if path.is_dir():
        shutil.copytree(path, private, ignore=shutil.ignore_patterns(".luring-tf.lock"))
    return private


def _pad_rows(array: np.ndarray, rows: int) -> np.ndarray:
    """``array`` with its last row repeated up to ``rows`` rows (an empty shard repeats row 0 of the whole set)."""
    if len(array) >= rows:
        return array
    return np.concatenate([array, np.repeat(array[-1:], rows - len(array), axis=0)])


def _local_replica_ids(current: tf.distribute.Strategy) -> list[int]:
    """Global replica ids (over all workers) of this worker's devices, in ``extended.worker_devices`` order."""
    ids = []

    def record(ctx):
        ids.append(int(ctx.replica_id_in_sync_group))
        return tf.zeros([])

    current.experimental_distribute_values_from_function(record)
    return ids


def shard_map(function, arrays: tuple, current: tf.distribute.Strategy | None = None):
    """``function(*shard)`` on each replica's contiguous shard of ``arrays``, results gathered in the original order.

    ``arrays``: numpy arrays of N rows each; ``function`` takes numpy shards and returns (an array of as many
    rows, an extra Python value). Shard r (global replica id over all workers) holds rows [r·s, (r+1)·s) with
    s = ceil(N / replicas); the last shards are padded by repeating the last row (their results are dropped).
    Each local shard runs eagerly on its own thread under ``tf.device`` of its replica's device (not inside
    ``strategy.run``: a ``tf.random.Generator`` made there would mix the replica id into its stream, and the
    shards must draw what one device would); mirrored variables are read from that device's copy. The
    results are gathered over all replicas (and workers) with ``strategy.gather``.
    Returns (the gathered float32 [N, ...] array, this worker's extras, by replica).
    """
    current = current or strategy()
    count = int(current.num_replicas_in_sync)
    n = len(arrays[0])
    size = -(-n // count)
    padded = [_pad_rows(np.asarray(a), size * count) for a in arrays]
    ids = _local_replica_ids(current)
    devices = list(current.extended.worker_devices)
    outputs, extras, errors = {}, {}, []

    def work(replica: int, device: str) -> None:
        try:
            with tf.device(device):
                out, extra = function(*[a[replica * size:(replica + 1) * size] for a in padded])
            outputs[replica], extras[replica] = np.asarray(out, np.float32), extra
        except BaseException as exc:  # re-raised on the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(r, d)) for r, d in zip(ids, devices)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    values = current.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(outputs[int(ctx.replica_id_in_sync_group)]))
    gathered = current.gather(values, axis=0).numpy()
    return gathered[:n], [extras[r] for r in ids]


def distributed() -> bool:
    """Whether a strategy other than TensorFlow's default one is current (even with one replica)."""
    return strategy() is not _default()


def _build_without_peeking(model, iterator=None, data_batch=None):
    """Keras's symbolic build of ``model`` from its data's element spec, without reading a batch (see below)."""
    if iterator is not None and data_batch is None:
        data_batch, iterator = iterator.data_adapter.get_tf_dataset().element_spec, None
    return _KERAS_SYMBOLIC_BUILD[0](model, iterator=iterator, data_batch=data_batch)


_KERAS_SYMBOLIC_BUILD: list = []


def _stop_keras_peeking() -> None:
    """Under a strategy, Keras 3.15's ``fit`` / ``evaluate`` first read one batch of the data (to build the model
    symbolically) through an iterator of their own. A shuffled stream reshuffles on every new iterator
    (``reshuffle_each_iteration``), so the training iterator then starts at the *second* shuffle order and the
    weights differ from the same training on one device. The build only needs the shapes: it is given the
    data's element spec instead (installed once, process-wide, when a strategy other than the default is used).
    """
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    if not _KERAS_SYMBOLIC_BUILD:
        _KERAS_SYMBOLIC_BUILD.append(TensorFlowTrainer._maybe_symbolic_build)
        TensorFlowTrainer._maybe_symbolic_build = _build_without_peeking
        _mean_scalars_over_workers()


def _mean_scalars_over_workers() -> None:
    """Keras 3.15 averages the step outputs (the logged metrics, scalars) of a multi-worker run with
    ``strategy.reduce("MEAN", v, axis=0)``, which fails on scalars ("Invalid reduction dimension 0"): scalars
    are averaged over the replicas instead (``axis=None``); everything else goes to Keras as before."""
    from keras.src.backend.tensorflow import trainer as keras_trainer

    original = keras_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction not in ("auto", "mean") or not keras_trainer._collective_all_reduce_multi_worker(strategy):
            return original(values, strategy, reduction)

        def reduce(value):
            local = strategy.experimental_local_results(value)[0] \
                if isinstance(value, tf.distribute.DistributedValues) else value
            if isinstance(local, tf.Tensor) and local.shape.rank == 0:
                return strategy.reduce("MEAN", value, axis=None)
            return original(value, strategy, reduction)

        return tf.nest.map_structure(reduce, values)

    keras_trainer.reduce_per_replica = reduce_per_replica


def steps_per_execution(steps: int) -> int:
    """``steps`` on the default strategy; 1 under any other.

    Keras 3.15's multi-step loop (``steps_per_execution > 1``: a ``tf.while_loop`` over ``tf.cond``) fails under
    ``MirroredStrategy`` in TF 2.21 ("You must feed a value for placeholder tensor ... while/cond"), whatever the
    train step. One step per call gives the same steps in the same order (same weights), with a Python round trip
    per step -- small beside a multi-device step.
    """
    return 1 if distributed() else int(steps)
