"""The web app's exceptions, in a module of their own so that every part of the app can raise them
without importing the model host (:mod:`audiogen.ui.host` imports the background runs, which raise
them too)."""

from __future__ import annotations

__all__ = ["JobCancelled", "UIError"]


class UIError(Exception):
    """A bad input or a failed job; ``str(e)`` is the one-line message the CLI prints after ``error: ``."""


class JobCancelled(Exception):
    """The running job was cancelled from the page."""
