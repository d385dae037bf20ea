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

Ctrl-C (a ``KeyboardInterrupt``, which typer turns into exit status 130) ends the process with one
line on stderr, ``interrupted: ...``, saying what was kept and how to go on: what the command last
told :func:`on_interrupt` (:func:`same_command` gives the command line to repeat), or that it
stopped before finishing.
"""

from __future__ import annotations

import atexit
import os
import shlex
import sys
import threading
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from audiogen.errors import AudiogenError

#: The exit status of a command stopped by Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130

_fast = False
_note: str | None = None


def reset() -> None:
    """Forget an earlier :func:`allow_fast_exit` and :func:`on_interrupt` (called when a command starts)."""
    global _fast, _note
    _fast, _note = False, None


def on_interrupt(note: str) -> None:
    """Say what a Ctrl-C at this point leaves behind and how to go on (one line, see the module docstring)."""
    global _note
    _note = note


def same_command(add: Sequence[str] = ()) -> str:
    """This process's command line as ``audiogen ARGS``, with each flag of ``add`` appended if absent.

    ``add``: flags (``"--resume"``) or flag-value pairs (``"--out", "runs/x"``: appended as a pair
    when the flag is absent).
    """
    args = list(sys.argv[1:])
    extra, i = list(add), 0
    while i < len(extra):
        flag = extra[i]
        value = extra[i + 1] if i + 1 < len(extra) and not extra[i + 1].startswith("--") else None
        if flag not in args and not any(a.startswith(flag + "=") for a in args):
            args += [flag] if value is None else [flag, value]
        i += 1 if value is None else 2
    return "audiogen " + shlex.join(args)


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
    if error.code == INTERRUPTED:
        print(f"interrupted: {_note or 'stopped before the command finished'}", file=sys.stderr)
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


__all__ = [
    "INTERRUPTED",
    "ErrorReportingGroup",
    "allow_fast_exit",
    "leave",
    "on_interrupt",
    "reset",
    "same_command",
]
