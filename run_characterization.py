#!/usr/bin/env python
"""Characterize the luring effect (paper Section 3): ``python run_characterization.py --help``.

The command lives in :mod:`luring_tf.cli.characterize` (installed as ``luring-tf characterize``, and
``luring-tf protect`` for ``--target-model``); this file runs it from a checkout, unchanged.
"""

from luring_tf.cli.characterize import characterization_record, main, parse  # noqa: F401 (tests call main)
from luring_tf.cli.parser import run

if __name__ == "__main__":
    run(main)
