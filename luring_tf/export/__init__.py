"""Deploy a protected classifier: a SavedModel for TF Serving and a TFLite model of T.

    python -m luring_tf.export --target-model mine.h5 --out exported/mine [--tflite] [--quantize] [--force]
        [--false-alarm 0.05] [--serve-m]
    luring_tf.export(protected, "exported/mine", images=data, tflite=True)    # the same, from Python

Written in ``--out`` (through a temporary folder renamed at the end; an existing folder is kept
unless ``--force``), inputs ``images`` float32 [N,H,W,C] in M's own input range, loadable with
``tf.saved_model.load`` without luring-tf:

* ``public/saved_model/`` -- **serve this one**: T only. ``predict`` = T's ``label`` and
  ``probabilities`` (the public model of the paper's setting); ``detect`` = T's ``label``, or -1 with
  ``flagged`` = true when the detection policy flags the input (default the paper's rule, M(x) != T(x);
  ``--false-alarm RATE``: only when T's probability of M's label is also below a threshold calibrated on
  clean validation images). In every signature NaN / Inf or values outside the range, beyond a 1 %
  tolerance, fail the call with an ``InvalidArgumentError`` instead of answering
  (:func:`luring_tf.images_check.graph_check`);
* ``public/T.tflite`` (with ``--tflite``): T = M∘P for devices, dynamic-range quantized with ``--quantize``;
* ``internal/saved_model/`` -- **never behind a public endpoint**: M's outputs. ``predict`` = M's
  ``label`` and ``probabilities`` (the transferability scheme's answer, paper §4.1); ``detect`` = M's
  ``label``, T's ``label_T``, ``flagged`` and ``probability_T_of_label`` (the detection scheme);
* ``export.json``: the record -- artefacts and where each goes, signatures, input range, the detection
  policy, the clean test images it flags (false alarms, with a 95 % Wilson interval), and, measured on
  the test images, the agreement of each SavedModel with the Keras M and T and of the TFLite T with
  the Keras T (and which TFLite interpreter ran it: LiteRT where installed, else ``tf.lite``).

``--serve-m`` (``serve="legacy"``) writes the former layout instead: one ``saved_model/`` whose
``predict`` and ``detect`` answer with M (as ``internal/`` does), ``T.tflite`` and ``export.json``.

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
