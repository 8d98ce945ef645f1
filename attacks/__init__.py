"""Every attack of the paper, behind one registry and one contract (see :mod:`attacks.base`)::

    import attacks
    res = attacks.get("mim_ti")(logits_model, x, eps=0.3, kernel_size=5, nb_iter=1000)
    res.x_adv, res.iterations, res.queries

Characterization (paper Section 3.2, Appendix D.1): ``fgsm``, ``pgd``, ``mim``, ``miml2``.
Defense (Section 4.2, Appendix F): ``fgsm``, ``mim``, ``dim``, ``mim_ti``, ``dim_ti``, ``spsa``, ``eco``.
Distortion analysis (Appendix D.2): ``cwl2``.
"""

from __future__ import annotations

from typing import Callable

from attacks.base import AttackResult
from attacks.cwl2 import cwl2
from attacks.eco import eco
from attacks.gradient import fgsm, mim, miml2, pgd
from attacks.spsa import spsa, spsa_gradient_estimate
from attacks.transfer import dim, dim_ti, mim_ti, transfer_mim

_REGISTRY: dict[str, Callable[..., AttackResult]] = {
    "fgsm": fgsm, "pgd": pgd, "mim": mim, "miml2": miml2,
    "dim": dim, "mim_ti": mim_ti, "dim_ti": dim_ti,
    "spsa": spsa, "eco": eco, "cwl2": cwl2,
}
NAMES = tuple(_REGISTRY)


def get(name: str) -> Callable[..., AttackResult]:
    """The attack called ``name`` (one of :data:`NAMES`), as ``attack(model, x, y=None, *, eps, **params)``."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown attack {name!r}: choose one of {', '.join(NAMES)}") from None


__all__ = ["AttackResult", "NAMES", "get", "fgsm", "pgd", "mim", "miml2", "dim", "mim_ti", "dim_ti",
           "transfer_mim", "spsa", "spsa_gradient_estimate", "eco", "cwl2"]
