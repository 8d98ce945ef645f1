"""The names the scripts take, in one place and spelled one way (light: no TensorFlow import).

Attack names are lower case with hyphens: ``mim-ti``, ``dim-ti`` and the defense's worst case
``mim-w``; the underscore spellings (``mim_ti``, ``dim_ti``, ``mim_w``) are aliases, accepted by
every script, :mod:`attacks` and :mod:`luring_tf.api` (:func:`canonical_attack`). Configuration keys
keep underscores, as YAML keys: ``defense.attacks.mim_ti``, ``defense.mim_w`` (:func:`attack_key`).
"""

from __future__ import annotations

DEFENSE_ATTACKS = ("spsa", "eco", "fgsm", "mim", "dim", "mim-ti", "dim-ti", "mim-w")  # run_defense.py --attack
CHARACTERIZATION_ATTACKS = ("fgsm", "pgd", "mim", "miml2")  # run_characterization.py --attacks
APPROACHES = ("stack", "auto", "ce", "luring")  # --approaches (each data set runs a subset)
PUBLIC_MODELS = ("mop", "trapdoor")  # run_defense.py --public
BASES = ("standard", "advtrain")  # --base
ANALYSIS_DATASETS = ("mnist", "svhn", "cifar10")  # run_analysis.py: the paper's Appendix D has no ImageNet


def canonical_attack(name) -> str:
    """The one spelling of an attack name: lower case, hyphens (``mim_ti`` / ``MIM-TI`` -> ``mim-ti``)."""
    return str(name).strip().lower().replace("_", "-")


def attack_key(name) -> str:
    """The configuration key of an attack (``mim-ti`` -> ``mim_ti``, as in ``defense.attacks.mim_ti``)."""
    return canonical_attack(name).replace("-", "_")
