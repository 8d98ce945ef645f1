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
computes (unless its class says ``config_describes_computation = True``, as the logits view's
``WithoutActivation`` does); a layer not built yet -- and any other callable get a graph of their own that
reads the weights through the model's variables (kept per model, while it lives).

Only variables are arguments: a tensor a layer holds outside its variables is baked into the graph as a
constant when it is traced (an adapted ``Normalization`` computes with ``mean`` / ``variance`` tensors made from
its variables at ``adapt`` / load time). So a graph also belongs to that **state** (:func:`tensor_state`: a digest
of every such tensor's values, read on each call, so a model adapted again gets another graph), and the
template whose constants a shared graph holds must still hold the same state when the graph is used. A layer
holding a lookup table (a resource, not a tensor) is not shareable. BatchNormalization's moving statistics
and a Dropout's seed are variables: arguments like the weights.
"""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
from typing import Callable

import numpy as np
import tensorflow as tf

from attacks.base import is_keras_model, logits_fn

# (architecture, tensor state, attack key) -> (weak reference to a template model of that architecture, tf.function)
_SHARED: dict = {}
# model -> {(attack key, tensor state): tf.function}, for models without an architecture key (weak keys)
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
        if any(not (type(layer).__module__.startswith("keras.")
                    or getattr(type(layer), "config_describes_computation", False))
               or type(layer).__name__ == "Lambda" or not getattr(layer, "built", False) for layer in layers):
            return None  # (Keras's stateless_call needs every layer built)
        config = _canonical(model.get_config(), {layer.name for layer in layers})
        weights = [(tuple(v.shape), str(v.dtype)) for v in variables]
        return json.dumps([type(model).__name__, config, weights], sort_keys=True, default=str)
    except Exception:  # no config (a subclassed model) or one that does not serialise: a graph of its own
        return None


def _tensors(value, depth: int = 0):
    """The tensors (TF or NumPy) in ``value``, an attribute of a layer: itself, or in its lists / dicts (2 levels)."""
    if isinstance(value, (tf.Tensor, np.ndarray)):
        yield value
    elif depth < 2 and isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item, depth + 1)
    elif depth < 2 and isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item, depth + 1)


def tensor_state(model) -> str | None:
    """A digest of the tensors ``model``'s layers hold outside their variables (``""`` when none), None when a
    layer holds what cannot be digested (a lookup table, a symbolic tensor): then no graph is shared."""
    try:
        layers = list(model._flatten_layers(include_self=True, recursive=True))
    except Exception:  # a callable without layers: nothing held
        return ""
    digest, found = hashlib.sha256(), False
    for position, layer in enumerate(layers):
        for name, value in sorted(vars(layer).items()):
            if hasattr(value, "resource_handle"):  # a lookup table: its content is not a tensor
                return None
            for index, tensor in enumerate(_tensors(value)):
                try:
                    array = np.asarray(tensor)
                except Exception:  # a symbolic tensor
                    return None
                digest.update(f"{position}.{name}.{index}:{array.dtype}{array.shape};".encode())
                digest.update(np.ascontiguousarray(array).tobytes())
                found = True
    return digest.hexdigest() if found else ""


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
        architecture, state = _KEYS[model], tensor_state(model)
        if architecture is None or state is None:
            per_model = _OWN.setdefault(model, {})
            if (key, state) not in per_model:  # a model adapted again: another graph
                ref = weakref.ref(model)
                per_model[key, state] = tf.function(build(lambda t: ref()(t, training=False)))
            return Compiled(per_model[key, state])
        template, function = _SHARED.get((architecture, state, key), (lambda: None, None))
        if template() is None or tensor_state(template()) != state:
            # first model of this architecture and state, or the template was dropped or adapted since
            for dead in [k for k, (ref, _) in _SHARED.items() if ref() is None]:
                del _SHARED[dead]
            function = tf.function(_stateless(weakref.ref(model), build))
            _SHARED[architecture, state, key] = (weakref.ref(model), function)
        return Compiled(function, model)


def _stateless(template_ref, build):
    def attack(*args):
        *inputs, (trainable, non_trainable) = args
        template = template_ref()
        return build(lambda t: template.stateless_call(trainable, non_trainable, t, training=False)[0])(*inputs)
    return attack


def tracing_count(model, key: tuple) -> int:
    """How many times the graph of ``key`` serving ``model`` was traced (0: none yet); for tests."""
    architecture, state = _KEYS.get(model), tensor_state(model)
    if architecture is None or state is None:
        function = _OWN.get(model, {}).get((key, state))
    else:
        function = _SHARED.get((architecture, state, key), (None, None))[1]
    return 0 if function is None else function.experimental_get_tracing_count()
