"""How a command ends: its errors told in one line, and a fast exit once everything is written.

:class:`ErrorReportingGroup` (the root command group) turns the exceptions of
:mod:`audiogen.errors` into ``error: MESSAGE`` and an exit status, for every command in one place.

Once torch is imported, Python's normal shutdown (clearing every module, collecting their objects,
running the C++ libraries' static destructors) takes about as long as generating a 10 s clip:
0.6–0.7 s on a 2-core VM, measured with ``python -c "import torch"`` with and without
``os._exit`` at the end (docs/benchmarks.md). Commands whose
outputs are all written and closed when they return (``generate``, ``loop``, ``variation``,
``extend``, ``inpaint``) call :func:`allow_fast_exit`; :func:`leave` then runs the ``atexit``
handlers (logging's flush among them), flushes stdout and stderr and ends the process with
``os._exit``. Anything else (an error, another command, a non-daemon thread still running) leaves
the normal way.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import Any

import typer
from typer.core import TyperGroup

from audiogen.errors import AudiogenError

_fast = False


def reset() -> None:
    """Forget an earlier :func:`allow_fast_exit` (called when a command starts)."""
    global _fast
    _fast = False


def allow_fast_exit() -> None:
    """Say that the running command has written and closed all its output (see the module docstring)."""
    global _fast
    _fast = True


def _other_threads() -> bool:
    """Whether a non-daemon thread besides this one is alive (normal shutdown would wait for it)."""
    here = threading.current_thread()
    return any(t is not here and not t.daemon and t.is_alive() for t in threading.enumerate())


def leave(error: SystemExit) -> None:
    """End the process as ``error`` says: fast after :func:`allow_fast_exit` and success, else re-raise it.

    Raises:
        SystemExit: ``error`` itself, unless the process ends here.
    """
    if not _fast or error.code not in (0, None) or _other_threads():
        raise error
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken pipe: nothing more to write anyway
            pass
    os._exit(0)


class ErrorReportingGroup(TyperGroup):
    """The command group that turns an :class:`~audiogen.errors.AudiogenError` into what the user sees.

    The one place where a command's error becomes ``error: MESSAGE`` on stderr and the error's
    exit status (2 for bad input, 1 for a run that cannot go on), without a traceback; any other
    exception is a bug and keeps its traceback. Subcommand groups run inside this group's
    :meth:`invoke`, so it covers every command.
    """

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except AudiogenError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(e.exit_code) from e


__all__ = ["ErrorReportingGroup", "allow_fast_exit", "leave", "reset"]
