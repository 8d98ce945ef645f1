"""Tasks for tests/test_workers.py."""

import time

from luring_tf.errors import UserError


def stamp(name: str, seconds: float) -> tuple:
    """Print, sleep ``seconds``; return (name, start, end) wall times."""
    start = time.time()
    print(f"task {name} running")
    time.sleep(seconds)
    return name, start, time.time()


def fail(message: str) -> None:
    print("about to fail")
    raise UserError(message)


def data_size() -> int:
    from luring_tf.workers import worker_data

    return len(worker_data())


def failing_run() -> None:
    """A script's ``main``: one task sleeps a minute, the other fails at once (``python -c`` in a test)."""
    import tempfile

    from luring_tf import workers
    from luring_tf.cli.parser import run

    def main():
        with workers.Workers(2, None) as pool:
            pool.run([("slow", stamp, ("slow", 60.0), ()), ("bad", fail, ("the data are wrong: fix them",), ())],
                     tempfile.mkdtemp())

    run(main)
