"""M for ImageNet (App. H.1): a pretrained MobileNetV2, obtained -- never trained -- and saved as ``M.h5``.

``config["model"]``: ``arch`` (mobilenetv2), ``image_size`` S, ``alpha``, ``classes`` and ``weights``:

* ``imagenet``: Keras's published weights (``keras.applications`` downloads them once into
  ``~/.keras/models``); when they cannot be obtained (offline, an ``alpha`` Keras does not publish, ...)
  a one-line :class:`~luring_tf.errors.UserError` names ``--set model.weights=PATH`` and ``--target-model``;
* a file path: an ``.h5`` of MobileNetV2 weights (e.g. Keras's
  ``mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5``), or a whole Keras model file
  (``.h5`` / ``.keras``) taken as taking MobileNetV2's [-1,1] images -- unless it is an ``M.h5`` of
  this port (it starts with the range layer), used as it is;
* ``random``: random initialisation from the seed, for tests and pipeline checks only -- a loud
  warning says every number measured with it is meaningless.

The saved M takes [0,1] images (:func:`architectures.imagenet.fold_range`) and loads in plain Keras.
"""

from __future__ import annotations

from pathlib import Path

from architectures import imagenet
from luring_tf.errors import UserError

FIX = ("pass --set model.weights=PATH (a MobileNetV2 weights .h5 or a whole Keras model file), or protect "
       "your own classifier with --target-model")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _log(message: str) -> None:
    print(f"[luring-tf] {message}", flush=True)


def _whole_model(path: Path):
    """The Keras model saved in ``path``, or None when the file holds weights only (or no model)."""
    import keras

    try:
        return keras.models.load_model(path, compile=False)
    except Exception:
        return None


def _check_io(model, cfg: dict, what: str) -> None:
    size, classes = int(cfg["image_size"]), int(cfg["classes"])
    got_in, got_out = tuple(model.input_shape[1:]), model.output_shape[-1]
    if got_in != (size, size, 3) or got_out != classes:
        raise UserError(f"{what} takes inputs {got_in} and scores {got_out} classes, the configuration asks for "
                        f"({size}, {size}, 3) and {classes}: set model.image_size / model.classes to match it, "
                        f"or {FIX}")


def build_pretrained_classifier(cfg: dict, seed: int = 0):
    """M of ``cfg`` (the ``model`` section) on [0,1] images, its weights obtained as the module says."""
    if cfg["arch"] != "mobilenetv2":
        raise UserError(f"model.arch {cfg['arch']!r} is not supported: use mobilenetv2 (App. H.1)")
    weights = str(cfg["weights"])
    size, alpha, classes = int(cfg["image_size"]), float(cfg["alpha"]), int(cfg["classes"])
    if weights == "random":
        from luring_tf.training.trainers import reproducible

        _log("WARNING: model.weights=random -- M is an UNTRAINED MobileNetV2: every accuracy, agreement and "
             "attack number of this run is MEANINGLESS (pipeline check only)")
        with reproducible(seed, deterministic=False):
            return imagenet.build_classifier(size, alpha, None, classes)
    if weights == "imagenet":
        try:
            return imagenet.build_classifier(size, alpha, "imagenet", classes)
        except Exception as exc:  # no network, unpublished alpha/classes, corrupt cache: Keras raises many types
            raise UserError(f"cannot obtain MobileNetV2's ImageNet weights ({_first_line(exc)}): {FIX}") from None
    path = Path(weights).expanduser()
    if not path.is_file():
        raise UserError(f"model.weights={weights}: no such file; {FIX}")
    whole = _whole_model(path)
    if whole is not None:
        model = whole if whole.layers and whole.layers[0].name == imagenet.RANGE_LAYER else imagenet.fold_range(whole)
        _check_io(model, cfg, f"model file {path}")
        return model
    try:
        return imagenet.build_classifier(size, alpha, str(path), classes)
    except Exception as exc:
        raise UserError(f"model.weights={weights} are not MobileNetV2 weights for alpha {alpha:g}, {classes} classes "
                        f"({_first_line(exc)}): {FIX}") from None
