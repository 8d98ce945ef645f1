"""Defenses that act on M, stacked with luring: adversarial training (a trainer), trapdoors (a detector)."""
