"""Deploy a protected classifier: a SavedModel for TF Serving and a TFLite model of T.

    python -m luring_tf.export --target-model mine.h5 --out exported/mine [--tflite] [--quantize] [--force]
    luring_tf.export(protected, "exported/mine", images=data, tflite=True)    # the same, from Python

Written in ``--out`` (through a temporary folder renamed at the end; an existing folder is kept
unless ``--force``):

* ``saved_model/``: signatures ``predict`` (M's ``label`` and ``probabilities``: the
  transferability scheme, paper §4.1) and ``detect`` (M's ``label``, T's ``label_T`` and
  ``flagged`` = M(x) != T(x): the detection scheme), input ``images`` float32 [N,H,W,C] in M's
  own input range (NaN / Inf or values outside the range, beyond a 1 % tolerance, fail the call with an
  ``InvalidArgumentError`` instead of answering: :func:`luring_tf.images_check.graph_check`); loads with
  ``tf.saved_model.load`` without luring-tf;
* ``T.tflite`` (with ``--tflite``): T = M∘P, dynamic-range quantized with ``--quantize``;
* ``export.json``: the record -- signatures, input range, and, measured on the test images, the
  agreement of the SavedModel's ``detect`` with the Keras M and T and of the TFLite T with the Keras T.

This package is callable: ``luring_tf.export(...)`` is :func:`luring_tf.api.export` whether
Python resolves the name to the API function or to this package.
"""

import sys
import types


def export(*args, **kwargs):
    """:func:`luring_tf.api.export`."""
    from luring_tf.api import export as api_export

    return api_export(*args, **kwargs)


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return export(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
