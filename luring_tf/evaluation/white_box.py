"""AC_M,wb (paper App. H.2, Table 19): the accuracy of M under a white-box PGD-ℓ∞ attack on M itself.

PGD with the paper's 40 iterations of step 0.01 (``defense.white_box`` in the config), a random
start drawn in the ε-ball (Madry et al.'s attack; the paper does not say how it starts), on the
defense evaluation set of M. Stored as a defense cell (:func:`luring_tf.evaluation.defense.run_cell`)
under ``<out>/cells/white_box/``, keyed by M's weights digest, the evaluation set, ε and the
parameters: a finished cell is read back, never recomputed unless ``force``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from luring_tf.evaluation.defense import cell_name, run_cell
from luring_tf.storage.fingerprint import weights_digest

APPROACH = "white_box"  # the cells' folder name; the "T" attacked is M itself


def white_box_params(section: dict) -> dict:
    """PGD parameters of ``defense.white_box`` (nb_iter, eps_iter), random start in the ε-ball."""
    cfg = section.get("white_box") or {}
    return {"nb_iter": int(cfg.get("nb_iter", 40)), "eps_iter": float(cfg.get("eps_iter", 0.01)),
            "rand_init": True, "rand_minmax": None}


def white_box_accuracy(classifier, x: np.ndarray, y: np.ndarray, index, eps: float, config: dict, out_dir,
                       force: bool = False, verbose: bool = True) -> dict:
    """AC_M,wb of ``classifier`` (M) on ``x`` (float32 [N,H,W,C] in [0,1], true labels ``y``) at ``eps``.

    Returns the cell record; ``record["AC_M"]`` (= ``AC_MoP``: the attacked model is M) is the rate
    with its denominator.
    """
    section = config["defense"]
    params = white_box_params(section)
    digest = weights_digest(classifier)
    identity = {"M": digest, "T": digest}
    context = {"dataset": config["dataset"], "batch_size": section["batch_size"], "models": identity,
               "index": hashlib.sha1(np.asarray(index, dtype=np.int64).tobytes()).hexdigest()[:12],
               "pgd_start": "stateless"}  # PGD's random start since it is drawn from the seed: older cells differ
    name = cell_name("pgd", eps, params, context)
    return run_cell({"M": classifier, APPROACH: classifier}, APPROACH, "pgd", params, eps, x, y, index,
                    Path(out_dir), name, {"dataset": config["dataset"]}, section["batch_size"], config["seed"],
                    force, verbose, identity)
