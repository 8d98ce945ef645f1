"""Non-finite values are errors, never results: argmax of NaN is not a prediction."""

from __future__ import annotations

import numpy as np

from luring_tf.errors import UserError


def check_finite(values, what: str, fix: str = "check or retrain that model") -> None:
    """Raise a one-line ``UserError`` when ``values`` (array or list of arrays) hold NaN or Inf.

    ``what`` names the source, e.g. ``"outputs of model luring_T.h5"``; ``fix`` says what to do.
    """
    arrays = values if isinstance(values, (list, tuple)) else [values]
    for array in arrays:
        array = np.asarray(array)
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            n_nan, n_inf = int(np.isnan(array).sum()), int(np.isinf(array).sum())
            raise UserError(f"non-finite values in {what} ({n_nan} NaN, {n_inf} Inf): {fix}")


def check_weights_finite(model, name: str) -> None:
    """Raise a one-line ``UserError`` when a weight of ``model`` is NaN or Inf."""
    check_finite([np.asarray(w) for w in model.get_weights()], f"the weights of {name}",
                 "the model file is damaged or its training diverged; retrain it (lower the learning rate)")
