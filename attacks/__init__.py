"""Every attack of the paper, behind one registry and one contract (see :mod:`attacks.base`)::

    import attacks
    res = attacks.get("mim-ti")(logits_model, x, eps=0.3, kernel_size=5, nb_iter=1000)
    res.x_adv, res.iterations, res.queries

Characterization (paper Section 3.2, Appendix D.1): ``fgsm``, ``pgd``, ``mim``, ``miml2``.
Defense (Section 4.2, Appendix F): ``fgsm``, ``mim``, ``dim``, ``mim-ti``, ``dim-ti``, ``spsa``, ``eco``.
Distortion analysis (Appendix D.2): ``cwl2``.

Names are spelled with hyphens (``mim-ti``, ``dim-ti``, and the defense's worst case ``mim-w``); the
underscore spellings (``mim_ti``, ``dim_ti``, ``mim_w``) are accepted everywhere as aliases
(:func:`canonical`). The configuration keys keep underscores (``defense.attacks.mim_ti``,
``defense.mim_w``; YAML keys, :func:`config_key`), as do the Python functions (``attacks.mim_ti``).
"""

from __future__ import annotations

from typing import Callable

from luring_tf import names
from attacks.base import AttackResult
from attacks.cwl2 import cwl2
from attacks.eco import eco
from attacks.gradient import fgsm, mim, miml2, pgd
from attacks.spsa import spsa, spsa_gradient_estimate
from attacks.transfer import dim, dim_ti, mim_ti, transfer_mim

_REGISTRY: dict[str, Callable[..., AttackResult]] = {
    "fgsm": fgsm, "pgd": pgd, "mim": mim, "miml2": miml2,
    "dim": dim, "mim-ti": mim_ti, "dim-ti": dim_ti,
    "spsa": spsa, "eco": eco, "cwl2": cwl2,
}
NAMES = tuple(_REGISTRY)


canonical = names.canonical_attack  # ``mim_ti`` / ``MIM-TI`` -> ``mim-ti``
config_key = names.attack_key  # ``mim-ti`` -> ``mim_ti`` (defense.attacks.mim_ti)


def get(name: str) -> Callable[..., AttackResult]:
    """The attack called ``name`` (one of :data:`NAMES`, or its underscore alias), as
    ``attack(model, x, y=None, *, eps, **params)``."""
    try:
        return _REGISTRY[canonical(name)]
    except (KeyError, TypeError):
        raise ValueError(f"unknown attack {name!r}: choose one of {', '.join(NAMES)}") from None


__all__ = ["AttackResult", "NAMES", "canonical", "config_key", "get", "fgsm", "pgd", "mim", "miml2", "dim", "mim_ti", "dim_ti",
           "transfer_mim", "spsa", "spsa_gradient_estimate", "eco", "cwl2"]
