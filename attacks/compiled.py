"""The gradient attacks' compiled graphs: one per model *architecture*, shared by every model of it.

The characterization attacks four T = M∘P of one architecture (Stack, Auto, C-E, Luring), and tracing an
attack's graph (autograph, the model's layers, the gradient) costs about as much CPU as running it for 10
iterations on 100 MNIST images. So the graph takes the model's weights as arguments (Keras
``stateless_call``) and is kept per (architecture, attack, static settings): models of one architecture
share one trace, and each call passes the weights the model holds now. The results are bit-identical to
calling the model itself (``tests/test_attacks.py``).

An architecture is the model's Keras config with its layer and model names taken out (a functional
model's references to its layers become their positions in it), plus the shapes and dtypes of its
weights: two models share a graph only when these are equal. A model that cannot be described so -- no
config (subclassed), a ``Lambda`` or a layer from outside Keras, whose config may not say what it
computes; a layer not built yet -- and any other callable get a graph of their own that reads the weights
through the model's variables (kept per model, while it lives).
"""

from __future__ import annotations

import json
import threading
import weakref
from typing import Callable

import tensorflow as tf

from attacks.base import is_keras_model, logits_fn

# (architecture, attack key) -> (weak reference to a template model of that architecture, tf.function)
_SHARED: dict = {}
# model -> {attack key: tf.function}, for models without an architecture key (weak keys)
_OWN: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
# model -> its architecture key (None: not shareable), computed once per model
_KEYS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
_NAME_LISTS = ("keras_history", "input_layers", "output_layers")


def _canonical(config, layer_names: set, positions: dict | None = None):
    """``config`` without the names of layers and models; in a functional model's config, a reference to one
    of its layers (``[name, node, tensor]``) becomes the layer's position in its ``layers`` list."""
    if isinstance(config, (list, tuple)):
        return [_canonical(value, layer_names, positions) for value in config]
    if not isinstance(config, dict):
        return config
    if isinstance(config.get("layers"), list):  # a model's config: its own namespace of layer names
        positions = {}
        for i, layer in enumerate(config["layers"]):
            if isinstance(layer, dict):
                positions[layer.get("name") or (layer.get("config") or {}).get("name")] = i
    out = {}
    for key, value in config.items():
        if key == "name" and isinstance(value, str) and value in layer_names:
            continue
        if key in _NAME_LISTS:
            out[key] = _references(value, positions or {})
        else:
            out[key] = _canonical(value, layer_names, positions)
    return out


def _references(value, positions: dict):
    if isinstance(value, (list, tuple)):
        if value and isinstance(value[0], str):
            return [positions.get(value[0], value[0]), *value[1:]]
        return [_references(v, positions) for v in value]
    return value


def architecture_key(model) -> str | None:
    """A name-independent description of what ``model`` computes, or None when it cannot be given (also for
    weights mirrored across devices, which are read where the graph runs)."""
    try:
        variables = model.trainable_variables + model.non_trainable_variables
        if any(isinstance(getattr(v, "value", v), tf.distribute.DistributedValues) for v in variables):
            return None
        layers = list(model._flatten_layers(include_self=True, recursive=True))
        if any(not type(layer).__module__.startswith("keras.") or type(layer).__name__ == "Lambda"
               or not getattr(layer, "built", False) for layer in layers):
            return None  # (Keras's stateless_call needs every layer built)
        config = _canonical(model.get_config(), {layer.name for layer in layers})
        weights = [(tuple(v.shape), str(v.dtype)) for v in variables]
        return json.dumps([type(model).__name__, config, weights], sort_keys=True, default=str)
    except Exception:  # no config (a subclassed model) or one that does not serialise: a graph of its own
        return None


def _weights(model) -> tuple[list, list]:
    return ([tf.convert_to_tensor(v) for v in model.trainable_variables],
            [tf.convert_to_tensor(v) for v in model.non_trainable_variables])


class Compiled:
    """An attack's graph bound to one model: calling it with ``(x, y, nb_iter, *tensors)`` runs it."""

    def __init__(self, function, model=None):
        self.function, self._model = function, model

    def __call__(self, *args):
        if self._model is None:
            return self.function(*args)
        return self.function(*args, _weights(self._model))


def for_model(model, key: tuple, build: Callable) -> Compiled:
    """The attack ``build(logits)`` compiled for ``model``, traced once per (architecture, ``key``).

    ``build(logits)`` returns ``f(x, y, nb_iter, *tensors)``, ``logits(t)`` being the model's logits on ``t``;
    ``key`` names the attack and its static settings (those ``build`` bakes into the graph).
    """
    if not is_keras_model(model):
        return Compiled(tf.function(build(logits_fn(model))))
    with _LOCK:
        if model not in _KEYS:
            _KEYS[model] = architecture_key(model)
        architecture = _KEYS[model]
        if architecture is None:
            per_model = _OWN.setdefault(model, {})
            if key not in per_model:
                ref = weakref.ref(model)
                per_model[key] = tf.function(build(lambda t: ref()(t, training=False)))
            return Compiled(per_model[key])
        template, function = _SHARED.get((architecture, key), (lambda: None, None))
        if template() is None:  # first model of this architecture, or the template was dropped
            for dead in [k for k, (ref, _) in _SHARED.items() if ref() is None]:
                del _SHARED[dead]
            function = tf.function(_stateless(weakref.ref(model), build))
            _SHARED[architecture, key] = (weakref.ref(model), function)
        return Compiled(function, model)


def _stateless(template_ref, build):
    def attack(*args):
        *inputs, (trainable, non_trainable) = args
        template = template_ref()
        return build(lambda t: template.stateless_call(trainable, non_trainable, t, training=False)[0])(*inputs)
    return attack


def tracing_count(model, key: tuple) -> int:
    """How many times the graph of ``key`` serving ``model`` was traced (0: none yet); for tests."""
    architecture = _KEYS.get(model)
    if architecture is None:
        function = _OWN.get(model, {}).get(key)
    else:
        function = _SHARED.get((architecture, key), (None, None))[1]
    return 0 if function is None else function.experimental_get_tracing_count()
