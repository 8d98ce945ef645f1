"""``python -m luring_tf.config --diff quick paper --dataset mnist``: the departures list."""

from luring_tf.config.profiles import main

raise SystemExit(main())
