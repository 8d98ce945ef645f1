"""Zero-padding to a multiple of the down-sampling factor, and the crop back (shape-generic P builders)."""

from __future__ import annotations

from keras import layers


def _split(size: int, multiple: int) -> tuple[int, int]:
    extra = (-size) % multiple
    return extra // 2, extra - extra // 2


def padded(height: int, width: int, multiple: int) -> list:
    """``[ZeroPadding2D]`` bringing H and W up to multiples of ``multiple``; ``[]`` when they are."""
    pad = (_split(height, multiple), _split(width, multiple))
    return [layers.ZeroPadding2D(pad)] if any(sum(p) for p in pad) else []


def cropped(height: int, width: int, multiple: int) -> list:
    """The ``Cropping2D`` undoing :func:`padded` (``[]`` when nothing was padded)."""
    crop = (_split(height, multiple), _split(width, multiple))
    return [layers.Cropping2D(crop)] if any(sum(c) for c in crop) else []
