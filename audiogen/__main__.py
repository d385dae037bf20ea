"""``python -m audiogen``: the command line (:mod:`audiogen.cli`)."""

from audiogen.cli import main

main()
