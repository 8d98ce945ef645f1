"""Who owns the process's global random state, when several threads train or attack at once (``--jobs``).

Python's ``random``, NumPy's global RNG and TensorFlow's global seed are one per process, and they decide
results: Keras draws every unseeded initializer's seed from Python's ``random``, and a ``tf.data`` shuffle
reads TF's global seed when it is built (the attacks draw from their own seeds: stateless ops or explicit
generators). Two threads that seed and build at the same time would mix their draws. So the thread that
seeds holds :data:`LOCK` until what it built from the seed exists -- the models, their initial weights, their data
streams -- and lets go only around work that draws nothing from the global state
(:func:`unlocked`: a ``fit`` on streams built beforehand). Each thread then sees exactly the sequence of
seeds and draws it would see alone: ``--jobs 2`` gives the models and tables of ``--jobs 1``, bit for bit.

TF op determinism (``deterministic: true``) is process-wide too: :func:`op_determinism` keeps it on while
any thread needs it.
"""

from __future__ import annotations

import contextlib
import threading

LOCK = threading.RLock()
_DETERMINISM = {"users": 0, "was_on": False}
_DETERMINISM_LOCK = threading.Lock()


@contextlib.contextmanager
def unlocked():
    """Let other threads seed while this one runs work that draws nothing from the global random state.

    Inside a block holding :data:`LOCK` (at any depth) it is released for the block and taken back
    after; elsewhere a no-op.
    """
    if not LOCK._is_owned():
        yield
        return
    state = LOCK._release_save()  # the whole recursion level, as threading.Condition does
    try:
        yield
    finally:
        LOCK._acquire_restore(state)


@contextlib.contextmanager
def op_determinism(on: bool):
    """TF op determinism on for the block when ``on``, and back as it was once no thread needs it."""
    if not on:
        yield
        return
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config  # is_/disable_ are not public

    with _DETERMINISM_LOCK:
        if _DETERMINISM["users"] == 0:
            _DETERMINISM["was_on"] = tf_config.is_op_determinism_enabled()
            if not _DETERMINISM["was_on"]:
                tf.config.experimental.enable_op_determinism()
        _DETERMINISM["users"] += 1
    try:
        yield
    finally:
        with _DETERMINISM_LOCK:
            _DETERMINISM["users"] -= 1
            if _DETERMINISM["users"] == 0 and not _DETERMINISM["was_on"]:
                tf_config.disable_op_determinism()
