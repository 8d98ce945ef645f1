"""Write the export folder of :mod:`luring_tf.export`: SavedModel, TFLite T, record; measured agreements.

The SavedModel is written with Keras's ``ExportArchive`` (it tracks the Keras variables; a plain
``tf.Module`` holding Keras 3 models converts to TFLite without its weights in TF 2.21). The
TFLite T is converted from a SavedModel of T alone, written in the temporary folder and removed.
"""

from __future__ import annotations

import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np

from luring_tf.errors import UserError
from luring_tf.evaluation import metrics
from luring_tf.images_check import check_images, graph_check
from luring_tf.storage import files

SAVED_MODEL, TFLITE, RECORD = "saved_model", "T.tflite", "export.json"


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


def write_saved_model(protected, folder: Path) -> None:
    """SavedModel with signatures ``predict`` and ``detect`` (inputs: M's own input range)."""
    import keras
    import tensorflow as tf

    from luring_tf.storage.models_io import logits_view

    m_logits, t_logits = logits_view(protected.classifier), logits_view(protected.protected)

    def predict(images):
        images = graph_check(images, protected.input_range)
        logits = m_logits(images, training=False)
        return {"label": tf.argmax(logits, -1), "probabilities": tf.nn.softmax(logits, -1)}

    def detect(images):
        images = graph_check(images, protected.input_range)
        label = tf.argmax(m_logits(images, training=False), -1)
        label_t = tf.argmax(t_logits(images, training=False), -1)
        return {"label": label, "label_T": label_t, "flagged": tf.not_equal(label, label_t)}

    archive = keras.export.ExportArchive()
    archive.track(m_logits)
    archive.track(t_logits)
    archive.add_endpoint(name="predict", fn=predict, input_signature=_signature(protected.image_shape))
    archive.add_endpoint(name="detect", fn=detect, input_signature=_signature(protected.image_shape))
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


def tflite_labels(content: bytes, x: np.ndarray) -> np.ndarray:
    """argmax of the TFLite model's outputs on ``x`` (in the model's input range), int64 [N], one image a call.

    The model is converted at batch 1 (:func:`tflite_model`): its reshapes are static, so it is run
    image by image rather than resized (XNNPACK refuses the resize).
    """
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice (LiteRT is not installed)
        interpreter = tf.lite.Interpreter(model_content=content)
    entry, out = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    interpreter.allocate_tensors()
    labels = np.zeros(len(x), np.int64)
    for i in range(len(x)):
        interpreter.set_tensor(entry, np.ascontiguousarray(x[i:i + 1], np.float32))
        interpreter.invoke()
        labels[i] = int(np.argmax(interpreter.get_tensor(out)[0]))
    return labels


def _detect_agreement(folder: Path, x: np.ndarray, m_pred, t_pred) -> dict:
    """Reload the written SavedModel and compare its ``detect`` with the Keras M and T."""
    import tensorflow as tf

    detect = tf.saved_model.load(str(folder)).signatures["detect"]
    out = {k: [] for k in ("label", "label_T")}
    for start in range(0, len(x), 256):
        result = detect(images=tf.constant(x[start:start + 256]))
        for key in out:
            out[key].append(result[key].numpy())
    label, label_t = (np.concatenate(out[k]) for k in ("label", "label_T"))
    return {"label_vs_keras_M": metrics.agreement(label, m_pred).as_dict(),
            "label_T_vs_keras_T": metrics.agreement(label_t, t_pred).as_dict()}


def export_protected(protected, path, *, images=None, tflite: bool = True, quantize: bool = False,
                     force: bool = False) -> dict:
    """Write the export folder ``path`` (see :mod:`luring_tf.export`); returns its record."""
    from luring_tf.evaluation.adversarial import predict_labels

    path = check_destination(path, force)
    x01 = _test_images(images, protected)
    if tflite and x01 is None:
        raise UserError("the TFLite agreement needs test images: pass images= (or --data-dir)")
    start = time.time()
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        write_saved_model(protected, tmp / SAVED_MODEL)
        rng = protected.input_range
        record = {"target_model": protected.record.get("target_model"), "image_shape": list(protected.image_shape),
                  "input_range": rng.as_dict(), "saved_model": {
                      "folder": SAVED_MODEL, "input": "images: float32 [N,H,W,C] in the model's own input range",
                      "signatures": {"predict": ["label", "probabilities"],
                                     "detect": ["label", "label_T", "flagged"]}},
                  "protection": {k: protected.record.get(k) for k in ("component_rule", "luring_coefficient",
                                                                      "test_agreement", "labels")}}
        if x01 is not None:
            x = rng.to_model_units(x01)
            m_pred = predict_labels(protected.classifier, x, name="M")
            t_pred = predict_labels(protected.protected, x, name="T")
            record["test_images"] = int(len(x))
            record["saved_model"]["detect_agreement"] = _detect_agreement(tmp / SAVED_MODEL, x, m_pred, t_pred)
        if tflite:
            content = tflite_model(protected.protected, protected.image_shape, tmp, quantize)
            (tmp / TFLITE).write_bytes(content)
            agreement = metrics.agreement(tflite_labels(content, x), t_pred)
            record["tflite"] = {"file": TFLITE, "quantized": "dynamic range" if quantize else False,
                                "bytes": len(content), "agreement_with_keras_T": agreement.as_dict()}
        record["seconds"] = round(time.time() - start, 1)
        files.write_json(tmp / RECORD, record)
        _replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    parts = [f"export written to {path}: SavedModel (signatures predict, detect)"]
    if tflite:
        rate = record["tflite"]["agreement_with_keras_T"]
        parts.append(f"{TFLITE}{' (quantized)' if quantize else ''} agreeing with the Keras T on "
                     f"{rate['value']:.4f} of {rate['denominator']} test images")
    record["summary"] = "; ".join(parts)
    return record


def _replace(tmp: Path, path: Path) -> None:
    """Move the finished ``tmp`` folder to ``path``; an old ``path`` (``--force``) is removed only after."""
    old = path.parent / f".{path.name}.old-{os.getpid()}"
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)
