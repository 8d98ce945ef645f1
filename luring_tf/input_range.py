"""The input range a user's classifier M expects, and its folding into plain Keras layers.

Inside luring-tf every image is float32 in [0,1] (data sources, P, the attacks and their ε).
A user's M may expect another range; ``--input-range`` says which, in one of two forms:

* ``MIN,MAX`` -- M takes ``x_M = MIN + x·(MAX - MIN)`` for an image ``x`` in [0,1]
  (``0,1`` the default, ``0,255``, ``-1,1``);
* ``mean=m1,m2,m3:std=s1,s2,s3`` -- M takes per-channel standardised images
  ``x_M = (x - mean) / std`` computed on [0,1] images (torchvision's ImageNet values are
  ``mean=0.485,0.456,0.406:std=0.229,0.224,0.225``); one value applies to every channel.

Both are one affine map per channel, ``x_M = x·scale + offset``, folded into the saved models with
Keras's built-in ``Rescaling`` layer (no custom objects: the files load with plain
``keras.models.load_model``). The protected model T and the saved P take M's own inputs:
``P_saved = [to_unit, P, from_unit]`` with P working in [0,1] inside; the attacks work on the
[0,1] views ``[from_unit, M]`` and ``[from_unit, T]``, so ε is a fraction of the input range
(ε = 0.03 on a ``0,255`` model is 7.65 of its units).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from luring_tf.errors import UserError

SYNTAX = "MIN,MAX (e.g. 0,255 or -1,1) or mean=M1,M2,M3:std=S1,S2,S3 (per channel, on [0,1] images)"


@dataclass(frozen=True)
class InputRange:
    """``x_M = x·scale + offset`` per channel (``scale``/``offset``: tuples, length 1 or C)."""

    text: str
    scale: tuple
    offset: tuple

    def as_dict(self) -> dict:
        return {"text": self.text, "scale": list(self.scale), "offset": list(self.offset)}

    def span(self) -> tuple[list[float], list[float]]:
        """Per-channel (low, high) of M's inputs: the images of 0 and 1."""
        low = [o + min(s, 0.0) for s, o in zip(self.scale, self.offset)]
        high = [o + max(s, 0.0) for s, o in zip(self.scale, self.offset)]
        return low, high

    def describe_eps(self, eps: float) -> str:
        """``ε`` of the [0,1] scale in words with its value in M's units (per channel when they differ)."""
        units = sorted({round(abs(s) * eps, 6) for s in self.scale})
        values = ", ".join(f"{u:g}" for u in units)
        return f"ε = {eps:g} of the input range [{self.text}] = {values} in your model's units"

    def check_channels(self, channels: int, what: str) -> None:
        if len(self.scale) not in (1, channels):
            raise UserError(f"--input-range {self.text} gives {len(self.scale)} values per channel, {what} has "
                            f"{channels} channels: give 1 or {channels} values")

    def is_identity(self) -> bool:
        return all(s == 1.0 for s in self.scale) and all(o == 0.0 for o in self.offset)

    @staticmethod
    def _vector(values):
        return float(values[0]) if len(values) == 1 else [float(v) for v in values]

    def from_unit(self, name: str = "from_unit"):
        """Layer mapping [0,1] images to M's range (``Rescaling``, built in)."""
        import keras

        return keras.layers.Rescaling(self._vector(self.scale), self._vector(self.offset), name=name)

    def to_unit(self, name: str = "to_unit"):
        """Layer mapping M's inputs back to [0,1] (the inverse affine map)."""
        import keras

        scale = [1.0 / s for s in self.scale]
        offset = [-o / s for s, o in zip(self.scale, self.offset)]
        return keras.layers.Rescaling(self._vector(scale), self._vector(offset), name=name)

    def to_model_units(self, x: np.ndarray) -> np.ndarray:
        """[0,1] images -> M's range, float32 (same arithmetic as :meth:`from_unit`)."""
        return (np.asarray(x, np.float32) * np.asarray(self.scale, np.float32)
                + np.asarray(self.offset, np.float32)).astype(np.float32)


def _floats(text: str, what: str, whole: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise UserError(f"--input-range {whole!r}: {what} {text!r} is not a list of numbers; use {SYNTAX}") from None
    if not values or not all(np.isfinite(values)):
        raise UserError(f"--input-range {whole!r}: {what} must be finite numbers; use {SYNTAX}")
    return values


def parse_input_range(text) -> InputRange:
    """Parse ``--input-range`` (see the module docstring); anything else is a one-line ``UserError``."""
    if isinstance(text, InputRange):
        return text
    whole = str(text).strip().replace(" ", "")
    if "=" in whole:
        parts = dict(part.split("=", 1) for part in whole.split(":") if "=" in part)
        if set(parts) != {"mean", "std"} or whole.count(":") != 1:
            raise UserError(f"--input-range {whole!r} does not parse: use {SYNTAX}")
        mean, std = _floats(parts["mean"], "mean", whole), _floats(parts["std"], "std", whole)
        if len(mean) != len(std) and 1 not in (len(mean), len(std)):
            raise UserError(f"--input-range {whole!r}: {len(mean)} means for {len(std)} stds; give as many of each")
        if any(s <= 0 for s in std):
            raise UserError(f"--input-range {whole!r}: every std must be > 0")
        n = max(len(mean), len(std))
        mean, std = mean * (n if len(mean) == 1 else 1), std * (n if len(std) == 1 else 1)
        return InputRange(whole, tuple(1.0 / s for s in std), tuple(-m / s for m, s in zip(mean, std)))
    values = _floats(whole, "MIN,MAX", whole) if whole else []
    if len(values) != 2:
        raise UserError(f"--input-range {whole!r} does not parse: use {SYNTAX}")
    low, high = values
    if not high > low:
        raise UserError(f"--input-range {whole!r}: MAX must be larger than MIN")
    return InputRange(whole, (high - low,), (low,))
