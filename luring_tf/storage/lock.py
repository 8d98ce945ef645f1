"""One run at a time per folder: an advisory ``fcntl.flock`` on ``<folder>/.luring-tf.lock``.

A second run into a locked folder stops at once with a one-line ``UserError`` naming the first
run's pid. The lock is released, and its file removed, when the process exits (the kernel drops
the lock of a killed process; its left-over file is taken over by the next run).
"""

from __future__ import annotations

import atexit
import fcntl
import os
from pathlib import Path

from luring_tf.errors import UserError

LOCK_NAME = ".luring-tf.lock"
_held: dict[Path, int] = {}


def lock_folder(folder, flag: str = "--out") -> Path:
    """Take the lock of ``folder`` (which must exist) for the rest of this process; idempotent."""
    folder = Path(folder).resolve()
    if folder in _held:
        return folder / LOCK_NAME
    path = folder / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = _read_pid(fd)
            os.close(fd)
            who = f"another run (pid {other})" if other else "another run"
            raise UserError(f"{who} is writing to {flag} {folder}: wait for it to finish, or pass another {flag}") \
                from None
        try:  # the holder may have removed the file between our open and our lock: lock the current one
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held[folder] = fd
    return path


def release(folder) -> None:
    """Remove the lock file, then drop the lock (in that order, so no one locks a removed file)."""
    folder = Path(folder).resolve()
    fd = _held.pop(folder, None)
    if fd is None:
        return
    try:
        (folder / LOCK_NAME).unlink()
    except OSError:
        pass
    os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or 0) or None
    except (OSError, ValueError):
        return None


@atexit.register
def release_all() -> None:
    """Release every lock this process holds."""
    for folder in list(_held):
        release(folder)
