"""``python -m luring_tf COMMAND [flags]``: the ``luring-tf`` command (:mod:`luring_tf.cli.entry`)."""

from luring_tf.cli.entry import main

main()
