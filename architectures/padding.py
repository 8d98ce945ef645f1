"""Zero-padding to a multiple of the down-sampling factor, and the crop back (shape-generic P builders)."""

from __future__ import annotations

from keras import layers


def _split(size: int, multiple: int) -> tuple[int, int]:
    extra = (-size) % multiple
    return extra // 2, extra - extra // 2


def padded(height: int, width: int, multiple: int) -> list:
    """The zero-padding that brings H and W up to multiples of ``multiple`` (split evenly, extra at the end).

    Args:
        height: H of the image.
        width: W of the image.
        multiple: the down-sampling factor H and W must be multiples of.

    Returns:
        ``[ZeroPadding2D]``, or ``[]`` when H and W already are multiples.

    Example:
        >>> padded(28, 28, 8)[0].padding
        ((2, 2), (2, 2))
    """
    pad = (_split(height, multiple), _split(width, multiple))
    return [layers.ZeroPadding2D(pad)] if any(sum(p) for p in pad) else []


def cropped(height: int, width: int, multiple: int) -> list:
    """The ``Cropping2D`` undoing ``padded`` for the same arguments.

    Args:
        height: H of the image before padding.
        width: W of the image before padding.
        multiple: the ``multiple`` given to ``padded``.

    Returns:
        ``[Cropping2D]``, or ``[]`` when nothing was padded.
    """
    crop = (_split(height, multiple), _split(width, multiple))
    return [layers.Cropping2D(crop)] if any(sum(c) for c in crop) else []
