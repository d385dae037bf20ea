"""What every result of the web app carries: audio files, a log-mel spectrogram PNG, the seeds and the
``audiogen`` command line that reproduces it."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class UIResult:
    """One finished job.

    Attributes:
        audio: the audio files written, one per clip (WAV or FLAC at ``sample_rate``).
        spectrogram: PNG of the clips' log-mel spectrograms, stacked.
        seeds: the seed of each clip.
        sample_rate: Hz.
        seconds: length of each clip in seconds.
        command: the ``audiogen`` command line that writes the same audio.
        summary: one line for the page (samples, seconds, timings).
    """

    audio: list[Path]
    spectrogram: Path
    seeds: list[int]
    sample_rate: int
    seconds: float
    command: str
    summary: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def command_line(name: str, args: list[Any]) -> str:
    """``audiogen NAME ARGS...`` quoted for a POSIX shell (``None`` arguments and their flag dropped).

    ``args`` alternate flag and value (a value of ``True`` keeps the flag alone); a bare positional
    argument is given as ``("", value)``.
    """
    words = ["audiogen", *name.split()]
    for flag, value in zip(args[::2], args[1::2], strict=True):
        if value is None or value is False:
            continue
        if flag:
            words.append(flag)
        if value is not True:
            words.append(f"{value:g}" if isinstance(value, float) else str(value))
    return shlex.join(words)


def write_result(
    pipe: Any,
    folder: Path,
    stems: list[str],
    waveforms: Any,
    mels: Any | None,
    titles: list[str],
    audio_format: str,
) -> tuple[list[Path], Path]:
    """Write ``waveforms (batch, channels, samples)`` as ``folder/STEM.FORMAT`` and one PNG of their
    log-mels ``(batch, n_mels, frames)`` (computed from the audio when ``mels`` is ``None``).

    Returns:
        The audio paths and the PNG path.
    """
    from audiogen.audio.io import save_audio
    from audiogen.evaluation.plotting import save_mel_png

    paths = []
    for stem, wave in zip(stems, waveforms, strict=True):
        paths.append(save_audio(folder / f"{stem}.{audio_format}", wave, pipe.sample_rate))
    if mels is None:
        from audiogen.audio.features import LogMelSpectrogram

        mels = LogMelSpectrogram(pipe.mel_config)(waveforms.float().mean(1)).mel  # (batch, n_mels, frames)
    png = save_mel_png(folder / f"{stems[0]}.png", [m for m in mels], pipe.mel_config, title=titles)
    return [Path(p) for p in paths], png
