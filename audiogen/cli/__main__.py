"""``python -m audiogen.cli`` (what ``accelerate launch -m audiogen.cli ...`` runs)."""

from audiogen.cli import main

main()
