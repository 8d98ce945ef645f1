"""Analyses of the luring effect (paper Section 3.3, Appendices D.2-D.3): pure functions.

* :func:`distortion_statistics` -- mean l2, l-inf and l0 of an adversarial set over its successful
  examples (Table 9). l0 is the spec's per-component count (exact non-zero count of
  ``x_adv - x``); ``l0_pixels`` counts pixels with any changed channel. Figure 3 (left/middle)
  takes l0 from the characterization attacks (spec §6; :mod:`luring_tf.characterization`, drawn
  by :mod:`luring_tf.report.characterization`); :func:`analyze` reports CW-L2's l0 as a separate statistic.
* :func:`saliency_component` -- ∇ₓ Σ_d P(x)_d, the "mapping gradient" of Fig. 3 right;
  :func:`saliency_loss` -- ∇ₓ CE(M(x), y).
* :func:`logit_jacobian`, :func:`omega`, :func:`table10` -- Equation 5: Ω_c(x) = #{d : ∂h^M_c/∂x_d ·
  ∂h^{M∘P}_c/∂x_d < 0} (h = logits) and, per class, the share of examples where Ω_c is higher for
  Luring than for the other approaches.

Everything takes and returns numpy arrays; models are Keras models (or callables) on [N,H,W,C].
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from luring_tf import inference

QUANTUM = 0.5 / 255  # half a grey level: changes below it vanish when the image is stored as 8 bits


def per_example_distortions(x: np.ndarray, x_adv: np.ndarray) -> dict[str, np.ndarray]:
    """Per-example l2, l-inf, l0 (changed components, exact), l0_pixels (pixels with a changed channel)
    and l0_visible (components changed by more than half a grey level, :data:`QUANTUM`).

    ``x`` and ``x_adv`` are [N,H,W,C] (or [N,D], where a pixel is one component). CW-L2 works in
    tanh space, so its exact l0 counts float round-off on untouched components; l0_visible does not.
    """
    x = np.asarray(x, dtype=np.float64)
    delta = np.asarray(x_adv, dtype=np.float64) - x
    flat = delta.reshape(len(x), -1)
    changed = delta != 0
    pixels = changed.reshape(len(x), -1) if delta.ndim <= 3 else changed.any(axis=-1).reshape(len(x), -1)
    return {"l2": np.linalg.norm(flat, axis=1), "linf": np.abs(flat).max(axis=1) if flat.shape[1] else
            np.zeros(len(x)), "l0": np.count_nonzero(flat, axis=1), "l0_pixels": np.count_nonzero(pixels, axis=1),
            "l0_visible": np.count_nonzero(np.abs(flat) > QUANTUM, axis=1)}


def distortion_statistics(x: np.ndarray, x_adv: np.ndarray, success: np.ndarray) -> dict:
    """Means of l2, l-inf, l0 and l0_pixels over the successful examples, with their count ``n``.

    Means are ``None`` when no example is successful. ``n_total`` is the size of the set.
    """
    success = np.asarray(success, dtype=bool)
    per = per_example_distortions(x, x_adv)
    stats = {"n": int(success.sum()), "n_total": int(len(success))}
    for key, values in per.items():
        stats[f"mean_{key}"] = float(values[success].mean()) if success.any() else None
    return stats


def _as_tensor(x) -> tf.Tensor:
    return tf.convert_to_tensor(np.asarray(x, dtype=np.float32))


def saliency_component(component, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """∇ₓ Σ_d P(x)_d per example, same shape as ``x`` (Fig. 3 right, the mapping gradient of P)."""
    pieces = []
    for start in range(0, len(x), batch_size):
        xb = _as_tensor(x[start:start + batch_size])
        with tf.GradientTape() as tape:
            tape.watch(xb)
            total = tf.reduce_sum(component(xb, training=False))
        pieces.append(tape.gradient(total, xb).numpy())
    return np.concatenate(pieces) if pieces else np.zeros_like(x, dtype=np.float32)


def saliency_loss(classifier, x: np.ndarray, y: np.ndarray, from_logits: bool = False,
                  batch_size: int = 256) -> np.ndarray:
    """∇ₓ CE(M(x), y) per example (each example's own loss), same shape as ``x``."""
    pieces = []
    for start in range(0, len(x), batch_size):
        xb = _as_tensor(x[start:start + batch_size])
        yb = tf.convert_to_tensor(np.asarray(y[start:start + batch_size], dtype=np.int64))
        with tf.GradientTape() as tape:
            tape.watch(xb)
            out = classifier(xb, training=False)
            loss = tf.reduce_sum(tf.keras.losses.sparse_categorical_crossentropy(yb, out, from_logits=from_logits))
        pieces.append(tape.gradient(loss, xb).numpy())
    return np.concatenate(pieces) if pieces else np.zeros_like(x, dtype=np.float32)


def logit_jacobian(logits_model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """∂h_c/∂x_d per example: float32 [N, C, D] (D = flattened input size).

    One gradient of Σ_batch h_c per class (examples are independent in inference mode).
    """
    pieces = []
    for start in range(0, len(x), batch_size):
        xb = _as_tensor(x[start:start + batch_size])
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(xb)
            logits = logits_model(xb, training=False)
            sums = [tf.reduce_sum(logits[:, c]) for c in range(int(logits.shape[-1]))]
        grads = [tape.gradient(s, xb).numpy().reshape(len(xb), -1) for s in sums]
        del tape
        pieces.append(np.stack(grads, axis=1))
    return np.concatenate(pieces).astype(np.float32)


def omega(jacobian_m: np.ndarray, jacobian_t: np.ndarray) -> np.ndarray:
    """Ω_c per example: int64 [N, C], the number of components whose class-c derivatives have opposite
    signs for M and for M∘P (product strictly negative; zeros never count)."""
    jm, jt = np.asarray(jacobian_m), np.asarray(jacobian_t)
    if jm.shape != jt.shape:
        raise ValueError(f"Jacobians of M {jm.shape} and M∘P {jt.shape} differ in shape")
    return np.count_nonzero(jm * jt < 0, axis=-1).astype(np.int64)


def table10(omegas: dict, reference: str = "luring", mode: str = "all") -> list[float]:
    """Per class, the share of examples where Ω_c(reference) is higher than for the other approaches.

    ``omegas``: approach -> [N, C] (from :func:`omega`). ``mode="all"``: higher than for EVERY other
    approach (strictly); ``mode="pairwise"``: the average over the other approaches of the share
    where it is strictly higher than for that approach.
    """
    if reference not in omegas:
        raise ValueError(f"no Ω for the reference approach {reference!r}")
    others = [a for a in omegas if a != reference]
    ref = np.asarray(omegas[reference])
    if not others:
        raise ValueError("Table 10 needs at least one approach besides the reference")
    if len(ref) == 0:
        return [None] * ref.shape[1]
    higher = np.stack([ref > np.asarray(omegas[a]) for a in others])  # [A, N, C]
    if mode == "all":
        return [float(v) for v in higher.all(axis=0).mean(axis=0)]
    if mode == "pairwise":
        return [float(v) for v in higher.mean(axis=1).mean(axis=0)]
    raise ValueError(f"mode must be 'all' or 'pairwise', got {mode!r}")


def table10_versus(omegas: dict, reference: str = "luring") -> dict[str, list[float]]:
    """Per other approach, per class, the share of examples where Ω_c(reference) > Ω_c(approach)."""
    ref = np.asarray(omegas[reference])
    return {a: [float(v) for v in (ref > np.asarray(o)).mean(axis=0)] for a, o in omegas.items() if a != reference}


# ---------------------------------------------------------------------------------------------
# The whole analysis on loaded models (used by run_analysis.py): returns (record, arrays).

def _log(message: str) -> None:
    print(f"[luring-tf] {message}", flush=True)


def summary(values) -> dict:
    """``n``, mean, median, quartiles, min and max of ``values`` (None when empty): a box plot's statistics."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(values) == 0:
        return {"n": 0, "mean": None, "median": None, "q1": None, "q3": None, "min": None, "max": None}
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {"n": int(len(values)), "mean": float(values.mean()), "median": float(median),
            "q1": float(q1), "q3": float(q3), "min": float(values.min()), "max": float(values.max())}


def model_digests(models: dict) -> dict[str, str]:
    """Weights digest of every model (:func:`luring_tf.fingerprint.weights_digest`): what results are keyed by."""
    from luring_tf.storage.fingerprint import weights_digest

    return {name: weights_digest(model) for name, model in models.items()}


def analyze(models: dict, components: dict, x: np.ndarray, y: np.ndarray, config: dict,
            verbose: bool = True, n_images: int = 5) -> tuple[dict, dict]:
    """CW-L2 on M and every M∘P (Table 9, and its l0 as a statistic of its own), saliency (Fig. 3 right),
    Ω (Table 10), MIM pairs (Fig. 4).

    ``models``: "M" and approach -> softmax Keras model (T = M∘P); ``components``: approach -> P.
    ``x, y``: the evaluation set (correct for every model). Returns a JSON-ready record (with the
    weights digests of the models under ``models``) and the arrays the figures need (stored as .npz
    by the caller). The CW-L2 l0 is not the paper's Figure 3 (spec §6: that comes from the
    characterization attacks, see :mod:`luring_tf.characterization`).
    """
    import time

    import attacks
    from luring_tf.evaluation.adversarial import craft, predict_labels
    from luring_tf.storage.models_io import logits_view

    section = config["analysis"]
    cw = dict(section["cwl2"])
    batch = int(section["batch_size"])
    approaches = [name for name in models if name != "M"]
    logits = {name: logits_view(model) for name, model in models.items()}
    record, arrays = ({"n_examples": int(len(x)), "models": model_digests(models), "timings_s": {}},
                      {"y": y.astype(np.int64)})

    # Table 9: CW-L2 (Appendix D.2) on M and every M∘P; its l0 is kept as a labelled statistic
    # (Figure 3's l0 is the characterization attacks', spec §6).
    table9, l0 = {}, {}
    function = attacks.get("cwl2")
    for name in ["M", *approaches]:
        start = time.time()
        pieces = []
        for s in range(0, len(x), batch):
            result = function(logits[name], x[s:s + batch], y[s:s + batch], eps=None,
                              seed=int(config["seed"]) + s, verbose=False, **cw)
            pieces.append(np.asarray(result.x_adv, dtype=np.float32))
        x_adv = np.concatenate(pieces)
        pred = np.argmax(inference.outputs(logits[name], x_adv, batch), axis=1)
        success = pred != y
        table9[name] = distortion_statistics(x, x_adv, success)
        per = per_example_distortions(x, x_adv)
        l0[name] = summary(per["l0"][success])
        l0[name]["visible"] = summary(per["l0_visible"][success])
        arrays[f"cw_success_{name}"] = success
        for key in ("l2", "linf", "l0", "l0_pixels", "l0_visible"):
            arrays[f"cw_{key}_{name}"] = per[key]
        record["timings_s"][f"cwl2_{name}"] = round(time.time() - start, 1)
        if verbose:
            s9 = table9[name]
            _log(f"cwl2 on {name}: {s9['n']}/{s9['n_total']} successful, mean l2 {s9['mean_l2']}, "
                 f"l-inf {s9['mean_linf']}, l0 {s9['mean_l0']} ({time.time() - start:.1f}s)")
    record["cwl2"] = {"params": cw, "table9": table9, "l0": l0,
                      "l0_note": "CW-L2 l0 (Appendix D.2 statistic); the paper's Figure 3 l0 is the characterization "
                                 "attacks' (characterization.md / figure3_l0.png)"}
    means = {a: l0[a]["mean"] for a in approaches if l0[a]["mean"] is not None}
    record["cwl2"]["luring_l0_highest"] = (bool(means.get("luring") == max(means.values()))
                                         if "luring" in means else None)
    visible = {a: l0[a]["visible"]["mean"] for a in approaches if l0[a]["visible"]["mean"] is not None}
    record["cwl2"]["luring_l0_visible_highest"] = (bool(visible.get("luring") == max(visible.values()))
                                                 if "luring" in visible else None)

    # Fig. 3 right: saliency of M's loss and of P.
    start = time.time()
    k = min(n_images, len(x))
    arrays["saliency_x"], arrays["saliency_y"] = x[:k], y[:k]
    arrays["saliency_M"] = saliency_loss(models["M"], x[:k], y[:k])
    for name in approaches:
        arrays[f"saliency_{name}"] = saliency_component(components[name], x[:k])
    record["saliency"] = {"n_images": int(k), "approaches": approaches}
    record["timings_s"]["saliency"] = round(time.time() - start, 1)

    # Table 10: Ω_c of every approach (Equation 5).
    start = time.time()
    jac_batch = max(1, min(batch, 100))
    parts = {name: [] for name in approaches}
    for s in range(0, len(x), jac_batch):
        jm = logit_jacobian(logits["M"], x[s:s + jac_batch], jac_batch)
        for name in approaches:
            parts[name].append(omega(jm, logit_jacobian(logits[name], x[s:s + jac_batch], jac_batch)))
    omegas = {name: np.concatenate(parts[name]) for name in approaches}
    for name in approaches:
        arrays[f"omega_{name}"] = omegas[name]
    t10 = {"n": int(len(x)), "mean_omega": {a: [float(v) for v in o.mean(axis=0)] for a, o in omegas.items()}}
    if "luring" in omegas and len(omegas) > 1:
        t10.update(all=table10(omegas, "luring", "all"), pairwise=table10(omegas, "luring", "pairwise"),
                   versus=table10_versus(omegas, "luring"))
    record["table10"] = t10
    record["timings_s"]["omega"] = round(time.time() - start, 1)
    if verbose:
        _log(f"Ω for {', '.join(approaches)} on {len(x)} examples ({time.time() - start:.1f}s)")

    # Fig. 4: clean / adversarial pairs, MIM at the largest ε on the Luring T (or the last approach).
    start = time.time()
    target = "luring" if "luring" in models else approaches[-1]
    eps = float(max(config["characterization"]["eps"]))
    params = dict(config["characterization"]["attacks"].get("mim") or {"nb_iter": 20, "eps_iter": 0.025, "decay": 1.0})
    x_adv, _ = craft("mim", models[target], x[:k], y[:k], eps, params, batch, int(config["seed"]), False,
                     name=f"{target}_T")
    arrays.update(fig4_x=x[:k], fig4_x_adv=x_adv, fig4_y=y[:k],
                  fig4_t=predict_labels(models[target], x_adv, name=f"{target}_T"),
                  fig4_m=predict_labels(models["M"], x_adv, name="M"))
    record["fig4"] = {"attack": "mim", "eps": eps, "params": params, "target": target, "n_images": int(k),
                      "fooled_T": int((arrays["fig4_t"] != y[:k]).sum()),
                      "fooled_M": int((arrays["fig4_m"] != y[:k]).sum())}
    record["timings_s"]["fig4"] = round(time.time() - start, 1)
    return record, arrays
