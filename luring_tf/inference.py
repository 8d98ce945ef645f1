"""A model's outputs on a batch of images: the one way the package predicts.

:func:`outputs` calls the model in inference mode, chunk by chunk, through one compiled function per model
(kept while the model lives). Keras's ``model.predict`` builds a data adapter, an iterator and callbacks
on every call: 0.2 s of overhead on a 100-image batch that the model itself predicts in 0.05 s (quick MNIST
T, loaded 2-CPU machine), paid twice per attack cell. The chunks are the same, so the outputs are
bit-identical to ``model.predict(x, batch_size=batch_size)`` (checked in ``tests/test_inference.py``).
``model.predict`` still serves what it is needed for: ``tf.data`` streams, and strategies of several
replicas (it splits each batch across them). :func:`cached_logits_view` gives a model's logits view, the
same object while the model lives, so the attacks and :func:`outputs` compile it once.
"""

from __future__ import annotations

import weakref

import numpy as np
import tensorflow as tf

from luring_tf.images_check import check_batch_shape
from luring_tf.storage.models_io import logits_view
from luring_tf.training import distribute

# model -> tf.function calling it (through a weak reference, so a dropped model frees its graph)
_COMPILED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _compiled(model):
    function = _COMPILED.get(model)
    if function is None:
        ref = weakref.ref(model)
        function = tf.function(lambda x: ref()(x, training=False), reduce_retracing=True)
        _COMPILED[model] = function
    return function


def _image_shape(model):
    """(H, W, C) of ``model``'s one image input (None entries: any size), None when it is not an image model."""
    shape = getattr(model, "input_shape", None)
    return tuple(shape[1:]) if isinstance(shape, tuple) and len(shape) == 4 else None


def outputs(model, x, batch_size: int = 500) -> np.ndarray:
    """``model``'s outputs on ``x`` in inference mode, as a NumPy array [N, ...].

    ``x``: a float32 [N,H,W,C] array (called in chunks of ``batch_size``) or a ``tf.data`` stream of
    batches (predicted by Keras; ``batch_size`` is then the stream's). No images: an empty array. For a
    model of images, an array that is not [N,H,W,C] of its image shape is a one-line ``UserError``.
    """
    if isinstance(x, np.ndarray) and _image_shape(model) is not None:  # a UserError, not Keras's ValueError
        check_batch_shape(x, f"the images given to model {getattr(model, 'name', 'M')}", _image_shape(model))
    if isinstance(x, np.ndarray) and len(x) == 0:  # model.predict fails on no images
        return np.zeros((0, *model.output_shape[1:]), np.float32)
    if not isinstance(x, np.ndarray) or distribute.replicas() > 1:
        return np.asarray(model.predict(x, batch_size=batch_size if isinstance(x, np.ndarray) else None,
                                        verbose=0))
    function = _compiled(model)
    x = np.asarray(x, np.float32)
    return np.concatenate([function(tf.constant(x[start:start + batch_size])).numpy()
                           for start in range(0, len(x), batch_size)])


# model -> its logits view, kept while the model lives: the attacks compile one graph per view
# (attacks.gradient), so a new view per cell would trace them again for every ε.
_VIEWS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def cached_logits_view(model):
    """:func:`logits_view` of ``model``, the same object on every call while it shares ``model``'s weights.

    Every view of :func:`logits_view` shares them (a fused softmax too); a view holding other weights would be
    rebuilt each call, so it never lags behind a model trained since.
    """
    view = _VIEWS.get(model)
    if view is None:
        view = logits_view(model)
        model_weights = {id(w) for w in model.weights}
        if all(id(w) in model_weights for w in view.weights):
            _VIEWS[model] = view
    return view
