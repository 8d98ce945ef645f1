"""luring-tf: protect a trained Keras classifier M with a luring component P (T = M∘P).

Public API (imported lazily, so ``import luring_tf`` loads neither TensorFlow nor Keras):

* ``protect(model, data, input_range=..., component=..., ...) -> Protected`` -- train P label-free;
* ``evaluate(protected, data, attack="mim-w", eps=[...]) -> dict`` -- the Section 4 evaluation;
* ``export(protected, path, images=..., tflite=True) -> dict`` -- SavedModel + TFLite T;
* ``detect(protected, x, policy=None) -> DetectionResult`` -- M's answer and the M(x) != T(x) flag;
* ``calibrate_detection(protected, data, false_alarm=0.05)`` -- a detection policy calibrated on clean
  validation images to a target false-alarm rate (for ``detect`` and ``export``);
* ``load_protected(path) -> Protected`` -- a model protected by ``run_characterization.py --target-model``;
* ``characterize(dataset, seeds=[0, 1, 2], ...)``, ``defend(attack, dataset, seeds=...)`` -- the paper's whole
  protocol as run_characterization.py / run_defense.py run it (per seed, then the aggregate over the seeds).

See :mod:`luring_tf.api`.
"""

__version__ = "0.1.0"

__all__ = ["protect", "evaluate", "export", "detect", "calibrate_detection", "load_protected", "Protected",
           "characterize", "defend"]


def __getattr__(name):
    if name in __all__:
        from luring_tf import api

        return getattr(api, name)
    raise AttributeError(f"module 'luring_tf' has no attribute {name!r}")
