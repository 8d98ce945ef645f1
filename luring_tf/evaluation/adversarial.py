"""Crafting adversarial sets against T = M∘P with the :mod:`attacks` library, chunk by chunk.

Devices: under a strategy of several replicas (:mod:`luring_tf.training.distribute`), each chunk of the
gradient attacks of :data:`SHARDED_ATTACKS` is split across the replicas (and workers) and the adversarial
examples gathered back in their order (:func:`luring_tf.training.distribute.shard_map`: one thread per
device). Their steps are per example and DIM's random draws are per batch and scalar, so every shard draws what
the whole chunk would: the set does not depend on the number of devices (up to float rounding of the model's
batched matmuls; identical in the tests). PGD (its random start is drawn for the whole chunk's shape), the
black-box SPSA and ECO, and CW-L2 run on one device as before. Models are read where they are: the scripts
load them after setting the strategy process-wide, so their weights are mirrored on every device.
"""

from __future__ import annotations

import numpy as np

import attacks
from luring_tf import inference
from luring_tf.errors import UserError
from luring_tf.finite import check_finite
from luring_tf.training import distribute

SHARDED_ATTACKS = ("fgsm", "mim", "miml2", "dim", "mim-ti", "dim-ti")


def model_name(model, name: str | None = None) -> str:
    """``name`` when given, else the Keras name of ``model`` (for messages)."""
    return name or getattr(model, "name", None) or type(model).__name__


def predict_labels(model, x: np.ndarray, batch_size: int = 500, *, name: str | None = None) -> np.ndarray:
    """Class predictions (argmax) of ``model`` on ``x`` in inference mode, int64 [N].

    ``x``: float32 [N,H,W,C] array, or a ``tf.data`` stream of such batches (``batch_size`` is then the stream's).

    Outputs holding NaN or Inf are a one-line ``UserError`` naming the model (``name``, e.g. the file
    name, else ``model.name``): the argmax of NaN is not a prediction.
    """
    outputs = inference.outputs(model, x, batch_size)
    check_finite(outputs, f"the outputs of model {model_name(model, name)} on {len(outputs)} images")
    return np.argmax(outputs, axis=1).astype(np.int64)


def craft(attack: str, model, x: np.ndarray, y: np.ndarray, eps: float, params: dict,
          batch_size: int = 500, seed: int = 0, verbose: bool = True, *,
          name: str | None = None) -> tuple[np.ndarray, dict]:
    """Run ``attack`` on ``model`` (softmax or logits output) over ``x`` in chunks of ``batch_size``.

    Returns ``(x_adv float32 [N,...] in [0,1], {"iterations": int, "queries": int})``; the labels
    ``y`` are the models' shared clean prediction (= the true label on the evaluation sets). ``eps``: a
    number, or one per image (float [N], for the gradient attacks of :mod:`attacks.gradient`).
    Adversarial examples holding NaN or Inf (non-finite gradients or losses of ``model``) are a
    one-line ``UserError`` naming the attack and the model (``name``, else ``model.name``).
    """
    function = attacks.get(attack)
    if distribute.replicas() > 1 and attacks.canonical(attack) in SHARDED_ATTACKS:
        function = _sharded(function, attack, verbose)
    logits = inference.cached_logits_view(model)
    per_image = np.ndim(eps) > 0
    label = f"eps={eps:g}" if not per_image else f"eps={','.join(f'{e:g}' for e in np.unique(eps))}"
    pieces, iterations, queries = [], 0, 0
    for start in range(0, len(x), batch_size):
        try:
            result = function(logits, x[start:start + batch_size], y[start:start + batch_size],
                              eps=eps[start:start + batch_size] if per_image else eps, seed=seed + start,
                              verbose=verbose, **params)
        except (ValueError, TypeError) as exc:
            raise UserError(f"attack {attack} with {params}: {exc} -- fix it in the config or with --set") from None
        check_finite(result.x_adv, f"the adversarial examples of {attack} ({label}) on model "
                                   f"{model_name(model, name)}")
        pieces.append(result.x_adv)
        iterations = max(iterations, int(result.iterations))
        queries += int(result.queries)
    return np.concatenate(pieces).astype(np.float32), {"iterations": iterations, "queries": queries}


def _sharded(function, name: str, verbose: bool):
    """``function`` (an attack of :data:`SHARDED_ATTACKS`) run on each replica's shard of its batch, gathered.

    Every shard gets the chunk's seed; iterations are the shards' (equal); queries are per example (these
    attacks spend the same on each image), counted for the real images only (padding rows excluded).
    """
    def sharded(model, x, y, **kwargs):
        kwargs["verbose"] = False
        eps = kwargs.pop("eps")
        per_image = np.ndim(eps) > 0

        def one_shard(xs, ys, *eps_shard):
            result = function(model, xs, ys, eps=eps_shard[0] if per_image else eps, **kwargs)
            return result.x_adv, (int(result.iterations), result.queries / len(xs))

        if verbose:
            print(f"[{name}] {len(x)} images on {distribute.replicas()} replicas...", flush=True)
        arrays = (np.asarray(x, np.float32), np.asarray(y)) + ((np.asarray(eps, np.float32),) if per_image else ())
        x_adv, extras = distribute.shard_map(one_shard, arrays)
        return attacks.AttackResult(x_adv, max(e[0] for e in extras), int(round(extras[0][1] * len(x))))

    return sharded


def select_examples(models: dict, x: np.ndarray, y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of ``n`` examples (seeded draw) classified correctly by every model in ``models``.

    ``models``: ``{"M": M, approach: T}`` as the scripts build it (messages name ``M`` and ``<approach>_T``).

    Raises ``UserError`` when no example qualifies; returns fewer than ``n`` when fewer qualify, and says so.
    """
    correct = np.ones(len(y), dtype=bool)
    for key, model in models.items():
        correct &= predict_labels(model, x, name=key if key == "M" else f"{key}_T") == y
    candidates = np.flatnonzero(correct)
    if len(candidates) == 0:
        raise UserError("no test example is classified correctly by every model: check the models (retrain with --retrain)")
    if len(candidates) < n:
        print(f"[luring-tf] note: only {len(candidates)} test images are classified correctly by every model, "
              f"fewer than the {n} asked for (--n-examples or the profile's n_examples): every rate uses "
              f"n = {len(candidates)}", flush=True)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(candidates, size=min(n, len(candidates)), replace=False))
