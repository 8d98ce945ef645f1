#!/usr/bin/env python
"""Black-box defense evaluation (paper Section 4): ``python run_defense.py --help``.

The command lives in :mod:`luring_tf.cli.defend` (installed as ``luring-tf defend``); this file runs it
from a checkout, unchanged.
"""

from luring_tf.cli.defend import ATTACK_CHOICES, PUBLIC_CHOICES, main, parse  # noqa: F401 (tests call main)
from luring_tf.cli.parser import run

if __name__ == "__main__":
    run(main)
