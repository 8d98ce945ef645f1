"""The trapdoor's own detector: neuron signatures compared by cosine similarity (Shan et al., CCS 2020; spec ``trapdoor.md`` §3).

* **Layer**: the last hidden layer, the input of M's ``logits`` Dense (MNIST: Dense1024+ReLU;
  SVHN/CIFAR10: the second Dense1024+BN+ReLU), as the authors take their last hidden dense layer.
* **Signature of label t**: the mean feature vector of the signature images (training images, all
  labels included) stamped with t's trigger -- one vector of the layer's width, not normalised.
* **Score**: cosine similarity between an input's features and a signature (an all-zero feature
  vector scores 0.5, as sklearn's ``1 - paired_cosine_distances`` does in the authors' code).
* **Which signature** (untargeted attacks, our choice, spec §3.4): the signature of the label the
  trapdoored model predicts for the input -- every label has a trapdoor, so every label an
  untargeted attack reaches has one. The authors' script only tests targeted attacks, with the
  known target.
* **Threshold at a false-positive rate** ``fpr`` (5 %): per label t, ``tau_t`` = the (1 - fpr)
  quantile of the scores against S_t of the clean *validation* images the model predicts as t, so
  each predicted class, hence the whole clean distribution, is flagged at rate ``fpr``. (The
  authors' script sets the cut on the ROC of at most 64 clean originals of the attacked images
  whose label is not t; for a detector a threshold fixed on held-out clean data is needed, spec
  §3.5.) A label that no validation image is predicted as takes the quantile over all validation
  images. The realised false-positive rate is measured on clean test images by the Table 20 run.

Inputs are float32 ``[N,H,W,C]`` in [0, 1]; the model is the trapdoored model (softmax or logits).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from luring_tf import inference
from luring_tf.evaluation import metrics
from luring_tf.evaluation.adversarial import predict_labels
from luring_tf.storage import files
from luring_tf.storage.fingerprint import weights_digest
from luring_tf.storage.models_io import model_input


def signature_layer(model: keras.Model) -> keras.layers.Layer:
    """The layer whose output is the signature space: the one feeding ``logits`` (else the last Dense's input)."""
    names = [layer.name for layer in model.layers]
    if "logits" in names:
        target = model.get_layer("logits")
    else:
        dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
        if not dense:
            raise ValueError(f"model {model.name} has no Dense layer: no signature layer to read")
        target = dense[-1]
    return target


def feature_extractor(model: keras.Model) -> keras.Model:
    """``x`` -> the signature layer's activations, in inference mode (:func:`features` flattens them)."""
    return keras.Model(model_input(model), signature_layer(model).input, name=f"{model.name}_signature_features")


def features(extractor: keras.Model, x, batch_size: int = 500) -> np.ndarray:
    """Flattened signature-layer features, float64 [N, D]."""
    out = inference.outputs(extractor, np.asarray(x, np.float32), batch_size)
    return np.asarray(out, np.float64).reshape(len(out), -1)


def cosine(feats: np.ndarray, signatures: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of ``feats`` [N,D] and ``signatures`` [N,D]; 0.5 where either row is all zero."""
    dot = np.sum(feats * signatures, axis=1)
    norms = np.linalg.norm(feats, axis=1) * np.linalg.norm(signatures, axis=1)
    out = np.full(len(feats), 0.5)
    np.divide(dot, norms, out=out, where=norms > 0)
    return out


@dataclass(frozen=True)
class SignatureDetector:
    """``signatures`` float64 [K,D], ``thresholds`` float64 [K]; flags x when cos(g(x), S_T(x)) > tau_T(x)."""

    signatures: np.ndarray
    thresholds: np.ndarray
    fpr: float
    key: str = ""

    def scores(self, feats: np.ndarray, labels) -> np.ndarray:
        labels = np.asarray(labels, np.int64)
        return cosine(feats, self.signatures[labels])

    def flag(self, model: keras.Model, x, labels=None, batch_size: int = 500) -> np.ndarray:
        """Boolean [N]: the inputs flagged as adversarial; ``labels`` = the model's predictions when not given."""
        if labels is None:
            labels = predict_labels(model, x, batch_size, name="trapdoored")
        labels = np.asarray(labels, np.int64)
        return self.scores(features(feature_extractor(model), x, batch_size), labels) > self.thresholds[labels]

    def save(self, path) -> Path:
        return files.write_npz(path, signatures=self.signatures, thresholds=self.thresholds,
                               fpr=np.float64(self.fpr), key=np.array(self.key))

    @classmethod
    def load(cls, path) -> "SignatureDetector":
        stored = files.read_npz(path)
        return cls(signatures=stored["signatures"], thresholds=stored["thresholds"], fpr=float(stored["fpr"]),
                   key=str(stored["key"]))


def fit_detector(model: keras.Model, triggers, x_signature, x_clean, fpr: float, key: str = "",
                 batch_size: int = 500) -> SignatureDetector:
    """Signatures from ``x_signature`` stamped with each trigger; thresholds at ``fpr`` on the clean ``x_clean``."""
    extractor = feature_extractor(model)
    n_labels = triggers.n_labels
    signatures = np.stack([
        features(extractor, triggers.stamp(x_signature, np.full(len(x_signature), t)).numpy(), batch_size).mean(axis=0)
        for t in range(n_labels)])
    clean_labels = predict_labels(model, x_clean, batch_size, name="trapdoored")
    clean_feats = features(extractor, x_clean, batch_size)
    thresholds = np.empty(n_labels)
    for t in range(n_labels):
        own = clean_labels == t
        feats = clean_feats[own] if own.any() else clean_feats
        scores = cosine(feats, np.broadcast_to(signatures[t], feats.shape))
        thresholds[t] = np.quantile(scores, 1.0 - fpr)
    return SignatureDetector(signatures=signatures, thresholds=thresholds, fpr=float(fpr), key=key)


def false_positive_rate(detector: SignatureDetector, model: keras.Model, x_clean) -> metrics.Rate:
    """Share of clean images flagged (the realised FPR, to compare with ``detector.fpr``)."""
    flags = detector.flag(model, x_clean)
    return metrics.Rate(int(flags.sum()), int(len(flags)))


def detection_accuracy(y, m_adv, flags) -> metrics.Rate:
    """Signature DAC: share of x' either flagged by the detector or still classified ``y`` by M.

    ``1 - #{not flagged and M(x') != y} / |X'|`` -- Eq. 4 with the signature test in place of
    the disagreement of M and the public model (Table 20, reading (B) of spec ``trapdoor.md`` §5).
    """
    y, m, f = (np.asarray(a).reshape(-1) for a in (y, m_adv, flags))
    return metrics.Rate(int(np.sum(f.astype(bool) | (m == y))), int(len(y)))


def signature_images(x_train, count, seed: int) -> np.ndarray:
    """The training images the signatures average over: all (``count`` None) or a seeded draw of ``count``."""
    if count is None or count >= len(x_train):
        return x_train
    return x_train[np.sort(np.random.default_rng(seed).choice(len(x_train), size=count, replace=False))]


def obtain_detector(model: keras.Model, triggers, data, cfg: dict, path, seed: int) -> SignatureDetector:
    """The detector stored at ``path`` when it was fitted for this model, triggers and settings; else fitted and saved."""
    key = hashlib.sha1(json.dumps({
        "model": weights_digest(model), "fpr": cfg["detector_fpr"], "signature_images": cfg["signature_images"],
        "triggers": hashlib.sha1(triggers.masks.tobytes() + triggers.patterns.tobytes()).hexdigest(),
        "val": hashlib.sha1(np.ascontiguousarray(data.x_val).tobytes()).hexdigest(), "seed": seed,
    }, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(path)
    if path.exists():
        stored = SignatureDetector.load(path)
        if stored.key == key:
            return stored
    x_sig = signature_images(data.x_train, cfg["signature_images"], seed)
    print(f"[luring-tf] fitting the signature detector: signatures over {len(x_sig)} training images, thresholds "
          f"at {cfg['detector_fpr']:g} false-positive rate on {len(data.x_val)} validation images", flush=True)
    detector = fit_detector(model, triggers, x_sig, data.x_val, cfg["detector_fpr"], key)
    detector.save(path)
    return detector
