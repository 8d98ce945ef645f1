#!/usr/bin/env python
"""Analyse the luring effect (paper Section 3.3, Appendices D.2-D.3): ``python run_analysis.py --help``.

The command lives in :mod:`luring_tf.cli.analyse` (installed as ``luring-tf analyse``); this file runs it
from a checkout, unchanged.
"""

from luring_tf.cli.analyse import main, parse  # noqa: F401 (tests call main)
from luring_tf.cli.parser import run

if __name__ == "__main__":
    run(main)
