"""The input checks the web app runs, raising ``ValueError`` with the one-line message ``audiogen.checks``
prints for the same value (``audiogen.checks`` prints and exits, which suits a command, not a server).

Once the checks of :mod:`audiogen.checks` raise instead of exiting, these can simply be theirs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from audiogen.checks import MAX_SECONDS, MAX_SEED


def check_number(flag: str, value: float, low: float, high: float, low_open: bool = False) -> float:
    """``value`` finite and in ``[low, high]`` (``(low, high]`` with ``low_open``), else ``ValueError``."""
    inside = (value > low if low_open else value >= low) and value <= high
    if not (math.isfinite(value) and inside):
        span = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise ValueError(f"{flag} must be a finite number in {span}, got {value}")
    return value


def check_seed(seed: int, count: int = 1) -> None:
    """Seeds ``seed .. seed + count - 1`` all in ``[0, MAX_SEED]``, else ``ValueError``."""
    if seed < 0 or seed + count - 1 > MAX_SEED:
        with_num = f" (and --seed + --num - 1 must be too, with --num {count})" if count > 1 else ""
        raise ValueError(f"--seed must be in [0, 2**64 - 1 = {MAX_SEED}]{with_num}, got {seed}")


def check_input_audio(path: Path, max_seconds: float = MAX_SECONDS) -> Any:
    """The header of ``path`` (nothing decoded): its :class:`~audiogen.audio.io.AudioInfo`.

    Raises:
        ValueError: not readable audio, or longer than ``max_seconds``.
    """
    from audiogen.audio.io import AudioLoadError, probe_audio

    try:
        info = probe_audio(path)
    except AudioLoadError as e:
        raise ValueError(str(e)) from e
    if info.duration > max_seconds:
        raise ValueError(
            f"{path}: {info.duration:.1f} s is longer than the {max_seconds:g} s limit "
            "(cut it first, e.g. with sox or ffmpeg)"
        )
    return info
