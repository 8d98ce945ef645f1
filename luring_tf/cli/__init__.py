"""Command-line plumbing shared by the run_*.py scripts: argument parser, run folders, one-line errors."""
