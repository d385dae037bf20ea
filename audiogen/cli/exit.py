"""Leaving the process once a command has written everything, without tearing the interpreter down.

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


__all__ = ["allow_fast_exit", "leave", "reset"]
