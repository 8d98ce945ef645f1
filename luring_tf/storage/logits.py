"""The logits view of a classifier: the same model without its final softmax, sharing its variables.

The attacks, the luring loss and the export's ``predict`` all need a classifier's **logits**. A Keras classifier
usually ends in a softmax; :func:`logits_view` finds it and returns a model that stops before it:

* a final ``Softmax`` layer, ``Activation('softmax')`` or ``keras.ops.softmax`` (a functional model's op): the
  model up to its input;
* a last layer with a fused softmax (``Dense(K, activation='softmax')``, ...): the same layer without its
  activation, computed from the layer's **own variables** on every call (:class:`WithoutActivation`: nothing is
  copied, so a model trained after the view was made, e.g. by adversarial training, is seen as it is now);
* a last layer that is itself a model -- ``Sequential([P, M])``, ``keras.Model(inp, base(preprocess(inp)))``,
  at any depth: the outer model with that model's own logits view in its place;
* a model of logits: itself.

A model whose output is probabilities (non-negative, each row summing to 1) but whose softmax is out of reach
(inside a ``Lambda``, a subclassed model or a custom layer) is **refused** with a one-line ``UserError``: taking the
log of the probabilities would give logits up to a constant per row, but a float32 softmax saturates (0 and 1
exactly) where the model is confident, and the logarithm would then give infinite logits and zero gradients.
The check runs the model once on 4 seeded uniform [0,1] images of its input shape (models with a fixed shape).
"""

from __future__ import annotations

import keras
import numpy as np

from luring_tf.errors import UserError

PROBE_IMAGES = 4



def model_input(model: keras.Model):
    """``model``'s input as a functional model takes it: the one input tensor, or the list when there are several.

    ``keras.Model(model.inputs, ...)`` with a one-element list expects a one-element list when called, and Keras
    warns ("The structure of `inputs` doesn't match") at every call with a plain tensor.
    """
    inputs = model.inputs
    return inputs[0] if len(inputs) == 1 else inputs

def _is_softmax(activation) -> bool:
    return getattr(activation, "__name__", "") == "softmax"


def _is_softmax_layer(layer) -> bool:
    """A Softmax layer, an Activation('softmax'), or the op ``keras.ops.softmax`` on the last axis."""
    if isinstance(layer, keras.layers.Softmax) or (
            isinstance(layer, keras.layers.Activation) and _is_softmax(layer.activation)):
        return True
    op = type(layer)
    return op.__name__ == "Softmax" and op.__module__.startswith("keras.") and getattr(layer, "axis", None) == -1


class WithoutActivation(keras.layers.Layer):
    """``layer`` (built, with a fused activation) computed without its activation, from ``layer``'s own variables.

    The layer is tracked (the view's weights *are* M's); an untracked twin of it with a linear activation gives the
    computation (``stateless_call`` with ``layer``'s current variable values), so nothing is ever copied. Its
    config (the layer's) says all it computes: the attacks may share one graph between models holding it
    (``config_describes_computation``, read by :func:`attacks.compiled.architecture_key`).
    """

    config_describes_computation = True

    def __init__(self, layer: keras.layers.Layer, **kwargs):
        kwargs.setdefault("name", f"{layer.name}_logits")
        kwargs.setdefault("dtype", layer.dtype_policy)
        super().__init__(**kwargs)
        self.source = layer

    def build(self, input_shape):
        if not self.source.built:
            self.source.build(input_shape)
        config = dict(self.source.get_config(), activation="linear", name=f"{self.source.name}_linear")
        twin = self.source.__class__.from_config(config)
        twin.build(input_shape)
        object.__setattr__(self, "_twin", twin)  # untracked: its own variables are never read
        self.built = True

    def call(self, inputs):
        trainable = [v.value for v in self.source.trainable_variables]
        non_trainable = [v.value for v in self.source.non_trainable_variables]
        outputs, _ = self._twin.stateless_call(trainable, non_trainable, inputs)
        return outputs

    def compute_output_shape(self, input_shape):
        return self.source.compute_output_shape(input_shape)

    def get_config(self):  # for keras.models.clone_model (the trainers' private copy of M)
        return dict(super().get_config(), layer=keras.layers.serialize(self.source))

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(keras.layers.deserialize(config.pop("layer")), **config)


def _call_node(model: keras.Model):
    """(layer, node) computing ``model``'s single output in its graph, or None (no graph: a subclassed model)."""
    outputs = getattr(model, "outputs", None) if getattr(model, "built", False) else None
    if not outputs or len(outputs) != 1 or not hasattr(outputs[0], "_keras_history"):
        return None
    layer, node_index, _ = outputs[0]._keras_history
    return layer, layer._inbound_nodes[node_index]


def _without_softmax(model: keras.Model) -> keras.Model | None:
    """``model`` without its final softmax (see the module docstring), or None where none is found."""
    name = f"{model.name}_logits"
    layers = getattr(model, "layers", None)
    if isinstance(model, keras.Sequential) and layers and isinstance(layers[-1], keras.Model):
        inner = _without_softmax(layers[-1])
        return None if inner is None else keras.Sequential(layers[:-1] + [inner], name=name)
    found = _call_node(model)
    if found is None:
        return None
    layer, node = found
    args, kwargs = node.arguments.args, node.arguments.kwargs
    if _is_softmax_layer(layer):
        return keras.Model(model_input(model), node.input_tensors[0], name=name)
    if _is_softmax(getattr(layer, "activation", None)):
        return keras.Model(model_input(model), WithoutActivation(layer)(*args), name=name)
    if isinstance(layer, keras.Model):
        inner = _without_softmax(layer)
        return None if inner is None else keras.Model(model_input(model), inner(*args, **kwargs), name=name)
    return None


def outputs_probabilities(model: keras.Model) -> bool:
    """Whether ``model``'s outputs on 4 seeded uniform [0,1] images are non-negative rows summing to 1.

    False where it cannot tell (an input shape not fixed, several inputs, a model that fails on such images).
    """
    try:
        shape = model.input_shape
    except (AttributeError, ValueError):  # not built
        return False
    if not isinstance(shape, tuple) or len(shape) < 2 or any(d is None for d in shape[1:]):
        return False
    x = np.random.default_rng(0).uniform(0, 1, (PROBE_IMAGES, *shape[1:])).astype(np.float32)
    try:
        out = np.asarray(model(x, training=False), np.float64)
    except Exception:  # a model that takes other inputs: the check cannot run
        return False
    return bool(out.ndim == 2 and out.shape[1] >= 2 and out.min() >= -1e-6
                and np.allclose(out.sum(axis=1), 1.0, atol=1e-4))


def logits_view(model: keras.Model) -> keras.Model:
    """A model returning the pre-softmax logits of ``model``, sharing its variables (see the module docstring).

    ``model``: a Keras classifier (outputs [N, K]); returned as it is when it outputs logits. Raises a one-line
    ``UserError`` when it outputs probabilities whose softmax cannot be stripped.
    """
    view = _without_softmax(model)
    if view is not None:
        return view
    if outputs_probabilities(model):
        raise UserError(f"model {model.name!r} outputs probabilities (non-negative rows summing to 1) but luring-tf "
                        "finds no softmax to strip (its output does not come from a Softmax / Activation('softmax') "
                        "layer or a layer with activation='softmax'): end the model with one of those, or give it "
                        "without its softmax (logits)")
    return model
