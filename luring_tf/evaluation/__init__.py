"""Evaluation: adversarial sets, metrics, characterization (Sec. 3), defense (Sec. 4), analysis (Sec. 4.5)."""
