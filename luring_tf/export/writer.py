"""Write the export folder of :mod:`luring_tf.export`: SavedModels, TFLite T, record; measured agreements.

Two deployments (``serve``):

* ``"public"`` (default): ``public/saved_model`` exposes T only -- ``predict`` = T's label and
  probabilities, ``detect`` = T's label, or :data:`REJECTED` with ``flagged`` when the detection
  policy flags the input -- and ``public/T.tflite``; M's outputs are only in ``internal/saved_model``
  (``predict`` = M's, ``detect`` = M's label, T's, the flag and T's probability of M's label), which
  stays on the defender's side (paper §5: an adversary who can query M attacks M directly).
* ``"legacy"``: the former single ``saved_model/`` (``predict`` and ``detect`` answer with M) and
  ``T.tflite`` (``--serve-m``).

The SavedModels are written with Keras's ``ExportArchive`` (it tracks the Keras variables; a plain
``tf.Module`` holding Keras 3 models converts to TFLite without its weights in TF 2.21). The
TFLite T is converted from a SavedModel of T alone, written in the temporary folder and removed; it
is run with LiteRT's interpreter (``ai_edge_litert``, the ``litert`` extra) where installed, else
with ``tf.lite.Interpreter`` (deprecated in TF 2.21).
"""

from __future__ import annotations

import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np

from luring_tf.errors import UserError
from luring_tf.evaluation import detection_policy, intervals, metrics
from luring_tf.images_check import check_images, graph_check
from luring_tf.storage import files

SAVED_MODEL, TFLITE, RECORD = "saved_model", "T.tflite", "export.json"
PUBLIC, INTERNAL = "public", "internal"  # the folders of serve="public"
SERVE_MODES = ("public", "legacy")
REJECTED = -1  # the public detect's label for a flagged input
LITERT, TF_LITE = "ai_edge_litert", "tf.lite"  # the TFLite interpreters, preferred first


def check_destination(path, force: bool) -> Path:
    """``path`` may be written: absent, or present with ``force``; its parent is writable. Else a ``UserError``."""
    path = Path(path)
    if path.exists() and not force:
        raise UserError(f"export path {path} already exists: pass --force to replace it, or another --out")
    if path.exists() and not path.is_dir():
        raise UserError(f"export path {path} is a file: pass a folder path as --out")
    files.check_writable(path.parent if str(path.parent) else Path("."), "--out (its parent folder)")
    return path


def reload_data(protected, data_dir=None):
    """The data the model was protected with (the folder and split settings of its record), or ``data_dir``'s."""
    from luring_tf.cli.run_folder import load_data

    record = protected.record
    data_dir = data_dir or record.get("data_dir")
    if not record.get("data"):
        raise UserError("the protection record holds no data settings: pass --data-dir with your images")
    config = {"dataset": record["dataset"], "data": dict(record["data"])}
    if data_dir and config["data"].get("source") not in ("folder", "auto"):
        config["data"]["source"] = "auto"
    return load_data(config, data_dir, tuple(protected.image_shape))


def _test_images(images, protected) -> np.ndarray | None:
    """[0,1] test images of M's shape from a Dataset (its test split) or an array; None when not given."""
    if images is None:
        return None
    if not hasattr(images, "x_test") and not hasattr(images, "images"):
        x = images
    else:
        x = images.x_test if getattr(images, "x_test", None) is not None else images.images("test")
    return check_images(x, "the test images of the export (images=)", protected.image_shape)


def _signature(shape, batch=None):
    import tensorflow as tf

    return [tf.TensorSpec([batch, *shape], tf.float32, name="images")]


INTERNAL_SIGNATURES = {"predict": ["label", "probabilities"],
                       "detect": ["label", "label_T", "flagged", "probability_T_of_label"]}
PUBLIC_SIGNATURES = {"predict": ["label", "probabilities"], "detect": ["label", "flagged"]}


def write_saved_model(protected, folder: Path, policy=None, *, public: bool = False) -> None:
    """A SavedModel with signatures ``predict`` and ``detect`` (inputs: M's own input range); ``flagged`` follows
    ``policy`` (default the paper's rule, M(x) != T(x)).

    ``public=False`` -- the INTERNAL (and legacy) one, which exposes M: ``predict`` = M's ``label`` and
    ``probabilities``; ``detect`` = M's ``label``, T's ``label_T``, ``flagged``, ``probability_T_of_label``.
    ``public=True`` -- only T answers: ``predict`` = T's ``label`` and ``probabilities``; ``detect`` = T's
    ``label``, or :data:`REJECTED` where ``flagged`` (M is inside, for the flag, but none of its outputs leaves).
    """
    import keras
    import tensorflow as tf

    from luring_tf.storage.models_io import logits_view

    m_logits, t_logits = logits_view(protected.classifier), logits_view(protected.protected)
    policy = detection_policy.resolve(policy)

    def predict(images):
        images = graph_check(images, protected.input_range)
        logits = (t_logits if public else m_logits)(images, training=False)
        return {"label": tf.argmax(logits, -1), "probabilities": tf.nn.softmax(logits, -1)}

    def detect(images):
        images = graph_check(images, protected.input_range)
        label = tf.argmax(m_logits(images, training=False), -1)
        t_out = t_logits(images, training=False)
        label_t = tf.argmax(t_out, -1)
        score = tf.gather(tf.nn.softmax(t_out, -1), label, batch_dims=1)  # T's probability of M's label
        flagged = tf.not_equal(label, label_t)
        if policy.rule == detection_policy.CONFIDENCE_RULE:
            flagged = tf.logical_and(flagged, score < tf.constant(policy.threshold, score.dtype))
        if public:
            return {"label": tf.where(flagged, tf.constant(REJECTED, label_t.dtype), label_t), "flagged": flagged}
        return {"label": label, "label_T": label_t, "flagged": flagged, "probability_T_of_label": score}

    archive = keras.export.ExportArchive()
    archive.track(m_logits)
    archive.track(t_logits)
    for name, fn in (("predict", predict), ("detect", detect)):
        archive.add_endpoint(name=name, fn=fn, input_signature=_signature(protected.image_shape))
    archive.write_out(str(folder), verbose=False)


def tflite_model(model, shape, workdir: Path, quantize: bool) -> bytes:
    """TFLite flatbuffer of ``model``, dynamic-range quantized when ``quantize``.

    Converted with a batch of 1 (every shape static: with a dynamic batch, UpSampling2D leaves the
    following Conv2D with unknown sizes, which the TFLite built-ins refuse); it takes one image a call.
    """
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name="serve", fn=lambda images: model(images, training=False),
                         input_signature=_signature(shape, batch=1))
    source = workdir / "_T_saved_model"
    archive.write_out(str(source), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(source))
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    content = converter.convert()
    shutil.rmtree(source)
    return content


def tflite_interpreter(content: bytes, runtime: str | None = None):
    """``(interpreter, runtime)`` for a TFLite flatbuffer: LiteRT's (``ai_edge_litert``) where installed, else
    ``tf.lite.Interpreter`` (deprecated in TF 2.21, kept as the fallback). ``runtime`` forces one of them."""
    if runtime not in (None, LITERT, TF_LITE):
        raise ValueError(f"unknown TFLite runtime {runtime!r}: {LITERT} or {TF_LITE}")
    if runtime in (None, LITERT):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            if runtime == LITERT:
                raise UserError("LiteRT is not installed: pip install 'luring-tf[litert]' (ai-edge-litert)") from None
        else:
            return Interpreter(model_content=content), LITERT
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice: the fallback is deliberate
        return tf.lite.Interpreter(model_content=content), TF_LITE


def tflite_labels(content: bytes, x: np.ndarray, runtime: str | None = None) -> tuple[np.ndarray, str]:
    """argmax of the TFLite model's outputs on ``x`` (in the model's input range), int64 [N], one image a call,
    and the interpreter that ran it (:func:`tflite_interpreter`).

    The model is converted at batch 1 (:func:`tflite_model`): its reshapes are static, so it is run
    image by image rather than resized (XNNPACK refuses the resize).
    """
    interpreter, used = tflite_interpreter(content, runtime)
    entry, out = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    interpreter.allocate_tensors()
    labels = np.zeros(len(x), np.int64)
    for i in range(len(x)):
        interpreter.set_tensor(entry, np.ascontiguousarray(x[i:i + 1], np.float32))
        interpreter.invoke()
        labels[i] = int(np.argmax(interpreter.get_tensor(out)[0]))
    return labels, used


def _run_signature(folder: Path, name: str, x: np.ndarray, keys) -> dict:
    """Reload the written SavedModel and run its signature ``name`` on ``x`` in batches of 256."""
    import tensorflow as tf

    fn = tf.saved_model.load(str(folder)).signatures[name]
    out = {k: [] for k in keys}
    for start in range(0, len(x), 256):
        result = fn(images=tf.constant(x[start:start + 256]))
        for key in out:
            out[key].append(result[key].numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def _detect_agreement(folder: Path, x: np.ndarray, scores: detection_policy.Scores, flagged) -> dict:
    """Reload the written internal (or legacy) SavedModel and compare its ``detect`` with the Keras M and T."""
    out = _run_signature(folder, "detect", x, ("label", "label_T", "flagged"))
    return {"label_vs_keras_M": metrics.agreement(out["label"], scores.m_pred).as_dict(),
            "label_T_vs_keras_T": metrics.agreement(out["label_T"], scores.t_pred).as_dict(),
            "flagged_vs_keras": metrics.agreement(out["flagged"], flagged).as_dict()}


def _public_agreement(folder: Path, x: np.ndarray, scores: detection_policy.Scores, flagged) -> dict:
    """Reload the public SavedModel: ``predict`` against the Keras T, ``detect`` against T's label or the reject."""
    predicted = _run_signature(folder, "predict", x, ("label",))
    detected = _run_signature(folder, "detect", x, ("label", "flagged"))
    expected = np.where(flagged, REJECTED, scores.t_pred)
    return {"predict_label_vs_keras_T": metrics.agreement(predicted["label"], scores.t_pred).as_dict(),
            "detect_label_vs_keras": metrics.agreement(detected["label"], expected).as_dict(),
            "flagged_vs_keras": metrics.agreement(detected["flagged"], flagged).as_dict()}


def _policy(policy, protected, images) -> detection_policy.DetectionPolicy:
    """The detection policy to bake in: None (the paper's rule), a policy, or a target false-alarm rate
    calibrated on ``images``' validation split (a Dataset; never its test split)."""
    if isinstance(policy, (int, float)) and not isinstance(policy, bool):
        if images is None or isinstance(images, np.ndarray):
            raise UserError("a target false-alarm rate is calibrated on clean validation images: pass images= "
                            "a Dataset with a validation split (or --data-dir), or a policy from "
                            "luring_tf.calibrate_detection(protected, validation_images, false_alarm=...)")
        from luring_tf.api import calibrate_detection

        return calibrate_detection(protected, images, float(policy))
    return detection_policy.resolve(policy)


DEPLOYMENT = {
    PUBLIC: "serve to users (TF Serving, an API, devices): T only -- predict = T's label and probabilities, "
            "detect = T's label or -1 with flagged = true when the detection policy flags the input",
    INTERNAL: "keep on the defender's side, never behind a public endpoint: its predict and detect return M's "
              "outputs, and an adversary who can query M attacks M directly (paper Section 5)",
    "legacy": "the former single SavedModel (--serve-m): predict and detect answer with M's outputs -- public "
              "only if you accept that M is exposed to queries",
}


def export_protected(protected, path, *, images=None, tflite: bool = True, quantize: bool = False,
                     force: bool = False, serve: str = "public", policy=None) -> dict:
    """Write the export folder ``path`` (see :mod:`luring_tf.export`); returns its record.

    ``serve``: :data:`SERVE_MODES` (module docstring); ``policy``: the detection policy (:func:`_policy`).
    """
    if serve not in SERVE_MODES:
        raise UserError(f"serve={serve!r}: choose 'public' (T only, M in a separate internal artefact) or "
                        "'legacy' (the former single SavedModel answering with M, --serve-m)")
    path = check_destination(path, force)
    x01 = _test_images(images, protected)
    if tflite and x01 is None:
        raise UserError("the TFLite agreement needs test images: pass images= (or --data-dir)")
    policy = _policy(policy, protected, images)
    start = time.time()
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        rng = protected.input_range
        legacy = serve == "legacy"
        folders = ({"legacy": tmp / SAVED_MODEL} if legacy else
                   {PUBLIC: tmp / PUBLIC / SAVED_MODEL, INTERNAL: tmp / INTERNAL / SAVED_MODEL})
        tflite_path = Path(TFLITE) if legacy else Path(PUBLIC) / TFLITE
        if legacy:
            write_saved_model(protected, folders["legacy"], policy)
        else:
            write_saved_model(protected, folders[PUBLIC], policy, public=True)
            write_saved_model(protected, folders[INTERNAL], policy)
        models = {}
        for key, folder in folders.items():
            signatures = PUBLIC_SIGNATURES if key == PUBLIC else INTERNAL_SIGNATURES
            models[key] = {"folder": str(folder.relative_to(tmp)), "where": DEPLOYMENT[key],
                           "input": "images: float32 [N,H,W,C] in the model's own input range",
                           "signatures": signatures}
        record = {"target_model": protected.record.get("target_model"), "image_shape": list(protected.image_shape),
                  "input_range": rng.as_dict(), "serve": serve, "detection_policy": policy.as_dict(),
                  "protection": {k: protected.record.get(k) for k in ("component_rule", "luring_coefficient",
                                                                      "test_agreement", "labels")}}
        if legacy:
            record["saved_model"] = models["legacy"]
        else:
            record.update(public=models[PUBLIC], internal=models[INTERNAL])
        if x01 is not None:
            x = rng.to_model_units(x01)
            s = detection_policy.scores(protected.classifier, protected.protected, x, names=("M", "T"))
            flagged = policy.flags(s.m_pred, s.t_pred, s.t_prob_of_m)
            record["test_images"] = int(len(x))
            # the detection scheme's false alarms on the clean test images, under the exported policy
            record["clean_test_flag_rate"] = metrics.Rate(int(flagged.sum()), int(len(x))).as_dict()
            if policy.rule != detection_policy.PAPER_RULE:
                record["clean_test_flag_rate_paper_rule"] = detection_policy.flag_rate(
                    detection_policy.PAPER, s).as_dict()
            if legacy:
                record["saved_model"]["detect_agreement"] = _detect_agreement(folders["legacy"], x, s, flagged)
            else:
                record[INTERNAL]["detect_agreement"] = _detect_agreement(folders[INTERNAL], x, s, flagged)
                record[PUBLIC]["agreement"] = _public_agreement(folders[PUBLIC], x, s, flagged)
        if tflite:
            content = tflite_model(protected.protected, protected.image_shape, tmp, quantize)
            (tmp / tflite_path).parent.mkdir(parents=True, exist_ok=True)
            (tmp / tflite_path).write_bytes(content)
            labels, runtime = tflite_labels(content, x)
            record["tflite"] = {"file": str(tflite_path), "quantized": "dynamic range" if quantize else False,
                                "bytes": len(content), "interpreter": runtime,
                                "agreement_with_keras_T": metrics.agreement(labels, s.t_pred).as_dict()}
        record["seconds"] = round(time.time() - start, 1)
        files.write_json(tmp / RECORD, record)
        _replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    what = ("SavedModel (signatures predict, detect; M's outputs: --serve-m)" if legacy else
            f"{PUBLIC}/{SAVED_MODEL} (T only: serve this) and {INTERNAL}/{SAVED_MODEL} (M's outputs: keep private)")
    parts = [f"export written to {path}: {what}"]
    if "clean_test_flag_rate" in record:
        parts.append(f"clean test images flagged (false alarms, {policy.describe()}): "
                     f"{intervals.rate_text(record['clean_test_flag_rate'])}")
    if tflite:
        rate = record["tflite"]["agreement_with_keras_T"]
        parts.append(f"{tflite_path}{' (quantized)' if quantize else ''} agreeing with the Keras T on "
                     f"{rate['value']:.4f} of {rate['denominator']} test images ({record['tflite']['interpreter']})")
    record["summary"] = "; ".join(parts)
    return record


def _replace(tmp: Path, path: Path) -> None:
    """Move the finished ``tmp`` folder to ``path``; an old ``path`` (``--force``) is removed only after."""
    old = path.parent / f".{path.name}.old-{os.getpid()}"
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)
