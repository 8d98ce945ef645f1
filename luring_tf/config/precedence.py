"""One precedence rule for every run's configuration: profile < mode defaults < ``--set`` < explicit flag.

* the **profile** (``luring_tf/configs/<dataset>.yaml``, ``--profile``; a ``--config FILE`` lies over it);
* **mode defaults**: values a mode of the run implies but the user did not write -- e.g. ``--base
  advtrain``'s ε (``train.advtrain.eps``), ``--public trapdoor``'s FGSM in MIM-W, ``--data-dir``'s
  ``data.source=auto``, a user model's defaults; one list of ``key=value`` overrides, in order;
* the ``--set key=value`` overrides, in order (a later one wins);
* the **explicit flags** that name one configuration key (``--seed`` -> ``seed``, ``--eps`` ->
  ``<section>.eps``, ...; :data:`luring_tf.cli.run_folder.FLAG_KEYS`), applied only when given.

So ``--set`` always wins over the profile and over what a mode implies, and a dedicated flag wins
over ``--set``. Every value is checked (:mod:`luring_tf.config.schema`), a flag's by its name.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from luring_tf.config import profiles, schema


def assignment(key: str, value: Any) -> str:
    """``key=value`` as ``--set`` writes it (the value as JSON, which YAML reads back unchanged)."""
    return f"{key}={json.dumps(value)}"


def _as_assignment(item) -> str:
    return item if isinstance(item, str) else assignment(*item)


def put(config: dict, key: str, value: Any) -> None:
    """Set the dotted ``key`` of ``config`` (its parent sections exist) to ``value`` in place."""
    *parents, last = key.split(".")
    node = config
    for part in parents:
        node = node[part]
    node[last] = value


def resolve(dataset: str, profile: str = "quick", defaults: Iterable = (), overrides: Iterable[str] = (),
            flags: Iterable[tuple[str, Any, str]] = (), config_file=None) -> dict:
    """The run's configuration: ``profile`` < ``defaults`` < ``overrides`` (``--set``) < ``flags``.

    ``defaults``: mode defaults, ``"key=value"`` strings or ``(key, value)`` pairs, in order;
    ``overrides``: ``--set`` strings; ``flags``: ``(key, value, flag)`` triples, a ``value`` of None
    meaning the flag was not given; ``config_file``: a user's profile file laid over the shipped one
    (``--config``; default ``$LURING_TF_CONFIG``, :mod:`luring_tf.config.custom`). Returns the validated configuration (a new dict).
    """
    config = profiles.load_config(dataset, profile, [*map(_as_assignment, defaults), *overrides], config_file)
    for key, value, flag in flags:
        if value is None:
            continue
        schema.check_value(key, value, flag)
        put(config, key, value)
    return config
