"""The luring component P for any image shape H×W×C, chosen by rule (``--target-model`` without ``--component``).

The rule, by the side ``S = max(H, W)`` and the channels ``C`` of M's input:

* ``S <= 64`` and ``C == 1`` (small grey images): Table 5 (the MNIST component) -- exactly the
  MNIST P for 28×28×1, else the same layers (Conv16-Pool-Conv8-Pool-Conv8/2-Conv8-Up-Conv8-Up-
  Conv16-Up-Conv1, sigmoid) on the image zero-padded to a multiple of 8 and cropped back;
* ``S <= 64`` and ``C != 1`` (small colour images): Table 6 (the SVHN component, three 2×
  poolings) -- exactly SVHN's P for 32×32×3, else on the image padded to a multiple of 8 and
  cropped back, with C output channels; Table 7 (CIFAR10's, one pooling) is reachable with
  ``--component architectures.by_shape:build_table7_component``;
* ``S > 64`` (large images, grey or colour): Table 15 (the ImageNet component, Appendix H.1,
  ``architectures.imagenet``).

Every P maps float32 [N,H,W,C] in [0,1] to [N,H,W,C] in [0,1]; the thresholds are a port
choice (the paper shows one component per data set: 28×28 grey, 32×32 colour, 224×224 colour).
A user builder ``function(input_shape) -> keras.Model`` replaces the rule (``load_builder``).
"""

from __future__ import annotations

import importlib
import os
import sys

import keras
from keras import layers

from architectures import imagenet, mnist, svhn
from architectures.padding import cropped, padded
from architectures.vgg import build_vgg_component

SMALL_SIDE = 64  # largest side of a "small" image


def component_rule(input_shape) -> str:
    """Which paper component the rule picks for ``input_shape``, in words (for logs and records).

    Args:
        input_shape: ``(H, W, C)`` of M's input.

    Returns:
        A sentence naming the table (5, 6 or 15) and why, e.g. ``"Table 5 (MNIST component): grey, side 28 <= 64"``.

    Example:
        >>> component_rule((28, 28, 1))
        'Table 5 (MNIST component): grey, side 28 <= 64'
    """
    height, width, channels = (int(v) for v in input_shape)
    if max(height, width) > SMALL_SIDE:
        return f"Table 15 (ImageNet component): side {max(height, width)} > {SMALL_SIDE}"
    if channels == 1:
        return f"Table 5 (MNIST component): grey, side {max(height, width)} <= {SMALL_SIDE}"
    return f"Table 6 (SVHN component): {channels} channels, side {max(height, width)} <= {SMALL_SIDE}"


def _table5_component(height: int, width: int, channels: int, name: str) -> keras.Sequential:
    stack = [keras.Input((height, width, channels))] + padded(height, width, 8)
    stack += [layers.Conv2D(16, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
              layers.Conv2D(8, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
              layers.Conv2D(8, 3, strides=2, padding="same", activation="relu"),
              layers.Conv2D(8, 3, padding="same", activation="relu"), layers.UpSampling2D(2),
              layers.Conv2D(8, 3, padding="same", activation="relu"), layers.UpSampling2D(2),
              layers.Conv2D(16, 3, padding="same", activation="relu"), layers.UpSampling2D(2),
              layers.Conv2D(channels, 3, padding="same", activation="sigmoid")]
    return keras.Sequential(stack + cropped(height, width, 8), name=name)


def _vgg_padded(pool: int, height: int, width: int, channels: int, dropout: float, name: str) -> keras.Sequential:
    multiple = 8 if pool > 1 else 2
    pad = padded(height, width, multiple)
    inner_shape = (height + (sum(pad[0].padding[0]) if pad else 0), width + (sum(pad[0].padding[1]) if pad else 0),
                   channels)
    inner = build_vgg_component(pool, dropout, inner_shape, f"{name}_core")
    if not pad:
        return keras.Sequential([keras.Input((height, width, channels)), *inner.layers], name=name)
    return keras.Sequential([keras.Input((height, width, channels)), *pad, *inner.layers,
                             *cropped(height, width, multiple)], name=name)


def build_component_for_shape(input_shape, dropout: float = 0.0, name: str = "P") -> keras.Sequential:
    """P for M's input shape, chosen by the rule of this module.

    Args:
        input_shape: ``(H, W, C)`` of M's input.
        dropout: rate of Table 6's two Dropout layers, in [0, 1) (ignored by Tables 5 and 15).
        name: the Keras name of the model.

    Returns:
        A ``keras.Sequential`` mapping float32 [N,H,W,C] in [0,1] to [N,H,W,C] in [0,1]: exactly the
        paper's P for 28x28x1 and 32x32x3, the same layers around zero-padding and a crop for other small
        sizes, Table 15's P for a side above 64.

    Raises:
        ValueError: ``dropout`` is outside [0, 1).

    Example:
        >>> build_component_for_shape((40, 40, 3)).output_shape
        (None, 40, 40, 3)
    """
    height, width, channels = (int(v) for v in input_shape)
    if max(height, width) > SMALL_SIDE:
        return imagenet.build_luring_component((height, width, channels), name=name)
    if channels == 1:
        if (height, width) == mnist.INPUT_SHAPE[:2]:
            return mnist.build_luring_component(name=name)
        return _table5_component(height, width, channels, name)
    if (height, width, channels) == svhn.INPUT_SHAPE:
        return svhn.build_luring_component(dropout=dropout, name=name)
    return _vgg_padded(2, height, width, channels, dropout, name)


def build_table7_component(input_shape, dropout: float = 0.0, name: str = "P") -> keras.Sequential:
    """Table 7 (CIFAR10's P: one 2x pooling) for any H×W×C, for ``--component``.

    Args:
        input_shape: ``(H, W, C)`` of M's input.
        dropout: rate of the two Dropout layers, in [0, 1).
        name: the Keras name of the model.

    Returns:
        A ``keras.Sequential`` mapping float32 [N,H,W,C] in [0,1] to [N,H,W,C] in [0,1].

    Raises:
        ValueError: ``dropout`` is outside [0, 1).

    Example:
        ``--component architectures.by_shape:build_table7_component`` on the command line.
    """
    height, width, channels = (int(v) for v in input_shape)
    return _vgg_padded(1, height, width, channels, dropout, name)


COMPACT = "compact"  # train.luring.component value: the CPU-sized P below


def compact_levels(input_shape) -> int:
    """The number of 2x poolings of the compact P.

    Args:
        input_shape: the image shape (H, W, C).

    Returns:
        1 for sides <= 64, 2 above (a quarter of the pixels in its middle).
    """
    return 1 if max(int(input_shape[0]), int(input_shape[1])) <= SMALL_SIDE else 2


def build_compact_component(input_shape, filters: int = 16, name: str = "P") -> keras.Sequential:
    """A CPU-sized P for any H x W x C (a user's model, issue 22): no BatchNormalization, no Dropout.

    Conv f (ReLU) - [MaxPool2 - Conv 2f]x L - Conv 2f - [Up2 - Conv f]x L - Conv C (sigmoid), 3x3 "same" convs,
    ``filters`` f = 16,
    L = `compact_levels` (the image zero-padded to a multiple of 2**L, cropped back). About 20-30 k weights
    against Table 6's 14.8 M (``benchmarks/user_models.py`` measures the step times of both).

    Args:
        input_shape: the image shape (H, W, C), any size.
        filters: f, the first convolutions' filters.
        name: the Keras name of the model.

    Returns:
        A ``keras.Sequential``: float32 [N,H,W,C] in [0,1] -> [N,H,W,C] in [0,1] (sigmoid).

    Example:
        >>> from architectures import by_shape
        >>> by_shape.build_compact_component((40, 30, 3)).output_shape[1:]
        (40, 30, 3)
    """
    height, width, channels = (int(v) for v in input_shape)
    levels = compact_levels(input_shape)
    multiple = 2 ** levels
    stack = [keras.Input((height, width, channels))] + padded(height, width, multiple)
    stack.append(layers.Conv2D(filters, 3, padding="same", activation="relu"))
    for _ in range(levels):
        stack += [layers.MaxPooling2D(2), layers.Conv2D(2 * filters, 3, padding="same", activation="relu")]
    stack.append(layers.Conv2D(2 * filters, 3, padding="same", activation="relu"))
    for _ in range(levels):
        stack += [layers.UpSampling2D(2), layers.Conv2D(filters, 3, padding="same", activation="relu")]
    stack.append(layers.Conv2D(channels, 3, padding="same", activation="sigmoid"))
    return keras.Sequential(stack + cropped(height, width, multiple), name=name)


def compact_rule(input_shape) -> str:
    """The compact P in words (the record's ``component_rule``).

    Args:
        input_shape: the image shape (H, W, C).

    Returns:
        One sentence naming the P and its pooling levels.
    """
    levels = compact_levels(input_shape)
    return (f"compact P (CPU-sized conv autoencoder, {levels} pooling level{'s' if levels > 1 else ''}, no "
            f"BatchNormalization) for {'x'.join(str(int(v)) for v in input_shape)}")


def load_builder(spec: str):
    """The user's component builder named ``module:function`` (``function(input_shape) -> keras.Model``).

    The current folder is importable (``--component my_p:build`` finds ``./my_p.py``).

    Args:
        spec: ``"module:function"``.

    Returns:
        The function.

    Raises:
        UserError: ``spec`` is not ``module:function``, the module does not import, or it has no such
            callable (one line naming the fix).

    Example:
        >>> build = load_builder("architectures.by_shape:build_table7_component")
    """
    from luring_tf.errors import UserError

    module_name, sep, function_name = str(spec).partition(":")
    if not sep or not module_name or not function_name:
        raise UserError(f"--component {spec!r}: give module:function, e.g. my_components:build_p")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, SyntaxError, anything the module raises on import
        raise UserError(f"--component {spec}: cannot import {module_name} ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}): check the module name and that "
                        "it is importable from the current folder") from None
    builder = getattr(module, function_name, None)
    if not callable(builder):
        raise UserError(f"--component {spec}: {module_name} has no function {function_name}")
    return builder


def build_user_component(spec, input_shape) -> keras.Model:
    """Call the ``--component`` builder and check that its P maps ``input_shape`` to itself.

    Args:
        spec: ``"module:function"`` (``load_builder``), or the builder function itself from Python.
        input_shape: ``(H, W, C)`` of M's input.

    Returns:
        The builder's ``keras.Model`` P.

    Raises:
        UserError: the builder cannot be loaded, fails, returns something else than a ``keras.Model``,
            or its P does not map ``input_shape`` to ``input_shape``.

    Example:
        >>> p = build_user_component("architectures.by_shape:build_table7_component", (32, 32, 3))
    """
    from luring_tf.errors import UserError

    builder = spec if callable(spec) else load_builder(spec)
    spec = getattr(spec, "__name__", spec)
    shape = tuple(int(v) for v in input_shape)
    try:
        component = builder(shape)
    except Exception as exc:
        raise UserError(f"--component {spec} failed on input shape {shape} ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(component, keras.Model):
        raise UserError(f"--component {spec} returned {type(component).__name__}, not a keras.Model")
    got_in = tuple(component.input_shape[1:]) if hasattr(component, "input_shape") else None
    got_out = tuple(component.output_shape[1:]) if hasattr(component, "output_shape") else None
    if got_in != shape or got_out != shape:
        raise UserError(f"--component {spec} maps {got_in} to {got_out}; P must map your model's input shape "
                        f"{shape} to itself")
    return component
