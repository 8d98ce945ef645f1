"""Atomic result files: a killed writer's temporary files are cleaned up by the next run in the folder."""

import os
import subprocess
import sys

from luring_tf.storage import files


def test_stale_temporaries_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)  # that process has exited
    stale = tmp_path / "cells" / "luring" / f".mim.json.tmp-{dead_pid}-1"
    stale.parent.mkdir(parents=True)
    stale.write_text("{\"half")
    mine = tmp_path / f".table.md.tmp-{os.getpid()}-2"  # this process's own (a thread writing now)
    mine.write_text("x")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        theirs = tmp_path / f".other.npz.tmp-{live.pid}-3"
        theirs.write_text("x")
        kept = tmp_path / "result.json"
        files.write_json(kept, {"a": 1})
        assert files.remove_stale_temporaries(tmp_path) == [stale]
        assert not stale.exists() and mine.exists() and theirs.exists() and files.read_json(kept) == {"a": 1}
    finally:
        live.kill()
        live.wait()


def test_prepare_output_cleans_what_a_killed_run_left(tmp_path):
    from luring_tf.cli import run_folder

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / "out" / "adversarial" / "luring" / f".mim_eps0.1.npz.tmp-{int(dead.stdout)}-7"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"PK\x03")
    run_folder.prepare_output(tmp_path / "out")
    assert not stale.exists()
