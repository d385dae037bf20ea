"""Checks on flags and inputs, run before loading a model or doing any work.

The command line (:mod:`audiogen.cli`) and the web app (:mod:`audiogen.ui`) share them, so both
refuse the same values with the same messages. Every check raises
:class:`~audiogen.errors.InputError` (a ``ValueError``) with a one-line message naming the flag or
file and the accepted range; nothing here prints, exits or returns a half-checked value. The
bounds that are a judgement rather than a hard limit are named constants here, in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audiogen.errors import InputError
from audiogen.pipelines.sampling import MAX_CFG_SCALE, MAX_SEED, SamplingConfig

__all__ = [
    "BEATS_PER_BAR_RANGE",
    "BPM_RANGE",
    "MAX_BARS",
    "MAX_BATCH_SIZE",
    "MAX_CFG_SCALE",
    "MAX_NUM",
    "MAX_SECONDS",
    "MAX_SEED",
    "check_input_audio",
    "check_loop_length",
    "check_number",
    "check_out_dir",
    "check_out_file",
    "check_seed",
    "check_writable_location",
    "existing_seed_outputs",
    "seed_file_stem",
    "style_stem",
]

#: The longest clip, loop or input file the commands accept, in seconds. It bounds memory and time:
#: 600 s of audio at the model's rate is what a generation or a variation holds at once.
MAX_SECONDS = 600.0



def check_input_audio(path: Path, max_seconds: float = MAX_SECONDS) -> Any:
    """Read ``path``'s header (nothing is decoded) and check its length against ``max_seconds``.

    Args:
        path: the input audio file.
        max_seconds: the longest accepted file, in seconds.

    Returns:
        The file's :class:`~audiogen.audio.io.AudioInfo` (sample rate in Hz, channels, frames,
        duration in seconds).

    Raises:
        InputError: the file is missing or unreadable, declares an implausible sample rate, or is
            longer than ``max_seconds`` (``PATH: reason``).
    """
    from audiogen.audio.io import AudioLoadError, probe_audio

    try:
        info = probe_audio(path)
    except AudioLoadError as e:
        raise InputError(str(e)) from e
    if info.duration > max_seconds:
        raise InputError(
            f"{path}: {info.duration:.1f} s is longer than the {max_seconds:g} s limit "
            "(cut it first, e.g. with sox or ffmpeg)"
        )
    return info


#: The most clips one ``generate`` call writes (seeds ``seed .. seed + num - 1``).
MAX_NUM = 100_000
#: The most clips generated at once (``--batch-size``); memory grows with it.
MAX_BATCH_SIZE = 256
#: Loop tempo range in beats per minute, and the most bars / beats per bar a loop may have (the
#: loop's length is bounded by :data:`MAX_SECONDS` as well).
BPM_RANGE = (1.0, 1000.0)
MAX_BARS = 1000.0
BEATS_PER_BAR_RANGE = (1.0, 64.0)


def check_number(flag: str, value: float, low: float, high: float, low_open: bool = False) -> float:
    """Check that ``value`` is finite and in ``[low, high]`` (``(low, high]`` with ``low_open``).

    Raises:
        InputError: otherwise, after ``error: FLAG must be ... in [LOW, HIGH], got V``.
    """
    import math

    above = value > low if low_open else value >= low
    if not (math.isfinite(value) and above and value <= high):
        bracket = "(" if low_open else "["
        raise InputError(f"{flag} must be a finite number in {bracket}{low:g}, {high:g}], got {value}")
    return value


def check_seed(seed: int, count: int = 1) -> None:
    """Check that the seeds ``seed .. seed + count - 1`` are all in ``[0, MAX_SEED]``.

    Raises:
        InputError: with the range in the message.
    """
    SamplingConfig(seed=seed).checked(count)


def check_loop_length(bars: Any, bpm: Any, beats_per_bar: Any, repeat: Any) -> float:
    """Check a loop's ``--bars``, ``--bpm``, ``--beats-per-bar`` and ``--repeat`` (the tiled length at
    most :data:`MAX_SECONDS`); returns one loop's length in seconds.

    Raises:
        InputError: a value missing, out of range, or a loop too long.
    """
    import math

    for name, value, (low, high) in (
        ("--bars", bars, (0.0, MAX_BARS)),
        ("--bpm", bpm, BPM_RANGE),
        ("--beats-per-bar", beats_per_bar, BEATS_PER_BAR_RANGE),
    ):
        if value is None or not (math.isfinite(value) and value > 0 and low <= value <= high):
            span = f"(0, {high:g}]" if low == 0 else f"[{low:g}, {high:g}]"
            raise InputError(f"{name} must be a positive number in {span}, got {value}")
    if repeat is None or repeat < 1:
        raise InputError(f"--repeat must be >= 1, got {repeat}")
    seconds = bars * beats_per_bar * 60.0 / bpm
    if seconds * repeat > MAX_SECONDS:
        raise InputError(
            f"{bars:g} bars at {bpm:g} bpm x {repeat} is {seconds * repeat:.4g} s; "
            f"the limit is {MAX_SECONDS:g} s"
        )
    return seconds


def _nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (a path under a regular file ends at the file)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable_location(path: Path, flag: str = "--out", is_file: bool = False) -> None:
    """Check, without leaving anything behind, that ``path`` (a folder, or with ``is_file`` a file,
    to create or replace) can be written: the nearest existing folder on its way (``path`` itself
    for a folder that exists) is a folder in which a file can be created. A probe file is created
    there and removed.

    Raises:
        InputError: when an ancestor is a regular file or the folder is not writable
            (read-only file system, permissions).
    """
    import os
    import tempfile

    base = _nearest_existing(Path(path).absolute().parent if is_file else path)
    if not base.is_dir():
        raise InputError(f"{flag} {path}: cannot be created, {base} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".audiogen-write-probe-", dir=base)
    except OSError as e:
        raise InputError(f"{flag} {path}: cannot write in {base} ({e.strerror or e})") from e
    os.close(fd)
    os.unlink(probe)


def check_out_dir(out: Path) -> None:
    """Check an output folder before any work: not an existing file, and creatable / writable.

    Raises:
        InputError: with the reason.
    """
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is an existing file; --out is a folder for the clips")
    check_writable_location(out)


def check_out_file(out: Path, overwrite: bool) -> None:
    """Check an output audio file before any work: a suffix :func:`save_audio` writes, not a folder,
    not an existing file unless ``overwrite``, and a writable location.

    Raises:
        InputError: with the reason.
    """
    from audiogen.audio.io import output_format

    try:
        output_format(out)
    except ValueError as e:
        raise InputError(str(e)) from e
    if out.is_dir():
        raise InputError(f"--out {out} is a folder; give a file name such as {out / 'out.wav'}")
    if out.exists() and not overwrite:
        raise InputError(f"{out} exists; pass --overwrite to replace it")
    check_writable_location(out, is_file=True)


def style_stem(style: str | None) -> str:
    """The file-name stem of a style: ``any`` for none, else the name with anything but letters,
    digits, ``.`` and ``-`` replaced by ``_``."""
    import re

    if not style:
        return "any"
    return re.sub(r"[^\w.-]+", "_", style).strip("_") or "style"


def seed_file_stem(stem: str, seed: int) -> str:
    """``{stem}_seed{seed:06d}``: the name of a generated file, without its suffix."""
    return f"{stem}_seed{seed:06d}"


def existing_seed_outputs(out: Path, stem: str, suffixes: tuple[str, ...], seed: int, num: int) -> list[Path]:
    """Files or folders in ``out`` named ``{stem}_seed{K:06d}{suffix}`` for ``seed <= K < seed + num``.

    Reads the folder listing once instead of building ``num`` paths, so the cost is bounded by
    what is in the folder, not by ``num``. Returns them sorted by name.
    """
    import os
    import re

    if not out.is_dir():
        return []
    pattern = re.compile(rf"{re.escape(stem)}_seed(\d+)({'|'.join(re.escape(s) for s in suffixes)})")
    found = []
    with os.scandir(out) as entries:
        for entry in entries:
            match = pattern.fullmatch(entry.name)
            if match is None:
                continue
            k = int(match.group(1))
            if seed <= k < seed + num and match.group(1) == f"{k:06d}":
                found.append(Path(entry.path))
    return sorted(found)
