"""luring_tf.seeding: the global random state belongs to one thread at a time, a fit lets it go.

The end-to-end check (two task threads give the models and tables of one): tests/test_run_characterization.py.
"""

import random
import threading
from types import SimpleNamespace

import keras
import numpy as np

from architectures import mnist
from luring_tf import seeding
from luring_tf.training import trainers


def _draws(seed: int, pause: threading.Event | None = None, go: threading.Event | None = None) -> tuple:
    """Seed, (optionally wait half-way), then draw what a training's setup draws: Python, NumPy, a Keras init."""
    with trainers.reproducible(seed, deterministic=False):
        first = random.random()
        if pause is not None:
            pause.set()
            go.wait(5)
        return first, random.random(), float(np.random.random()), mnist.build_luring_component().get_weights()[0].sum()


def test_a_seeded_block_keeps_the_global_state_until_it_ends():
    alone = _draws(1)
    paused, go, out = threading.Event(), threading.Event(), {}
    worker = threading.Thread(target=lambda: out.setdefault("a", _draws(1, paused, go)))
    worker.start()
    paused.wait(5)
    other = threading.Thread(target=lambda: out.setdefault("b", _draws(2)))
    other.start()
    other.join(0.5)
    assert other.is_alive()  # it waits to seed: the first block still owns the state
    go.set()
    worker.join(10)
    other.join(10)
    assert out["a"] == alone and out["b"] == _draws(2)


def test_fit_lets_other_threads_seed_and_takes_the_lock_back():
    seen = {}

    class Probe(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen["owned"] = seeding.LOCK._is_owned()
            other = threading.Thread(target=lambda: seen.setdefault("other", _draws(3)))
            other.start()
            other.join(10)

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with trainers.reproducible(0, deterministic=False), trainers.reproducible(0, deterministic=False):
        trainers._fit(model, np.zeros((4, 2), np.float32), np.zeros((4, 1), np.float32), epochs=1, verbose=0,
                      callbacks=[Probe()])
        assert seeding.LOCK._is_owned()  # both levels back
    assert seen["owned"] is False and seen["other"] == _draws(3)
    assert not seeding.LOCK._is_owned()


def test_op_determinism_stays_on_while_any_thread_needs_it():
    from tensorflow.python.framework import config as tf_config

    assert not tf_config.is_op_determinism_enabled()
    with seeding.op_determinism(True):
        with seeding.op_determinism(True):
            pass
        assert tf_config.is_op_determinism_enabled()  # the outer user still needs it
    assert not tf_config.is_op_determinism_enabled()


def test_two_threads_share_one_identity_warm_up(monkeypatch):
    calls = []
    original = trainers.identity_warmup

    def counted(*args, **kwargs):
        calls.append(threading.get_ident())
        return original(*args, **kwargs)

    monkeypatch.setattr(trainers, "identity_warmup", counted)
    monkeypatch.setattr(trainers, "_WARM_STARTS", {})
    x = np.random.default_rng(0).random((64, 28, 28, 1), dtype=np.float32)
    data = SimpleNamespace(x_train=x)
    weights = {}

    def warm(name):
        with trainers.reproducible(0, deterministic=False):
            component = mnist.build_luring_component()
        trainers.warm_start(component, data, 4, 16, 0, name=name, section="luring", deterministic=False)
        weights[name] = component.get_weights()

    threads = [threading.Thread(target=warm, args=(name,)) for name in ("ce", "luring")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(calls) == 1
    assert all((a == b).all() for a, b in zip(weights["ce"], weights["luring"]))
