"""Identity of a model: a digest of its weights, to key stored results by the models they came from."""

from __future__ import annotations

import hashlib

import numpy as np


def weights_digest(model, length: int = 16) -> str:
    """Hex digest of ``model``'s architecture-independent weights (shapes, dtypes and values, in order).

    Two models with the same weights give the same digest whether trained, loaded from ``.h5`` or
    nested inside another model; a retrained model gives another digest.
    """
    digest = hashlib.sha256()
    for weight in model.get_weights():
        array = np.ascontiguousarray(weight)
        digest.update(str((array.shape, array.dtype.str)).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:length]
