"""The exceptions bad input raises: one-line messages, no printing, no exits.

Checks (:mod:`audiogen.pipelines.checks`, the commands' flag checks, the pipeline's
``check_inputs``) raise these with a message that names the flag, file or field and the problem.
Whoever faces the user turns them into what the user sees, in one place each: the command line
(:class:`audiogen.cli.exit.ErrorReportingGroup`) prints ``error: MESSAGE`` and exits with :attr:`exit_code`;
the web app (:mod:`audiogen.ui`) shows the message on the page.
"""

from __future__ import annotations

__all__ = ["AudiogenError", "InputError", "RunError"]


class AudiogenError(Exception):
    """A problem the user can act on, told in one line (the base of this module's exceptions)."""

    #: the command line's exit status for it
    exit_code = 1


class InputError(AudiogenError, ValueError):
    """Bad input: a flag, an input file or a form field out of range, missing or unreadable (exit 2).

    A :class:`ValueError`, so callers of the library may catch it as one.
    """

    exit_code = 2


class RunError(AudiogenError):
    """A run that cannot go on: a model folder that does not load, an output that cannot be written
    (exit 1)."""

    exit_code = 1
