"""Checks the commands run on their flags and inputs before loading a model or doing any work.

Every check prints ``error: ...`` (naming the flag or file, and the accepted range) to stderr and
raises :class:`typer.Exit` with a non-zero status; nothing here returns a half-checked value. The
bounds that are a judgement rather than a hard limit are named constants here, in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

#: The longest clip, loop or input file the commands accept, in seconds. It bounds memory and time:
#: 600 s of audio at the model's rate is what a generation or a variation holds at once.
MAX_SECONDS = 600.0


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` to stderr and return the :class:`typer.Exit` to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def check_input_audio(path: Path, code: int = 2, max_seconds: float = MAX_SECONDS) -> Any:
    """Read ``path``'s header (nothing is decoded) and check its length against ``max_seconds``.

    Args:
        path: the input audio file.
        code: exit status on failure.
        max_seconds: the longest accepted file, in seconds.

    Returns:
        The file's :class:`~audiogen.audio.io.AudioInfo` (sample rate in Hz, channels, frames,
        duration in seconds).

    Raises:
        typer.Exit: the file is missing or unreadable, declares an implausible sample rate, or is
            longer than ``max_seconds`` (after printing ``error: PATH: reason``).
    """
    from audiogen.audio.io import AudioLoadError, probe_audio

    try:
        info = probe_audio(path)
    except AudioLoadError as e:
        raise fail(str(e), code) from e
    if info.duration > max_seconds:
        raise fail(
            f"{path}: {info.duration:.1f} s is longer than the {max_seconds:g} s limit "
            "(cut it first, e.g. with sox or ffmpeg)",
            code,
        )
    return info
