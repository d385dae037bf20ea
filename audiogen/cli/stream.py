"""``audiogen stream``: endless (or SECONDS long) music from the latent sequence model, in real time.

The audio is written as it is generated: ``--out FILE.wav`` is a valid WAV at every moment (its
header is rewritten after each chunk, so Ctrl-C leaves a playable file), ``--out -`` writes raw
16-bit little-endian mono PCM to stdout for a player::

    audiogen stream --style organ --forever --out - | aplay -f S16_LE -r 22050 -c 1
    audiogen stream --style "organ@0,strings@90" --seconds 180 --out organ_to_strings.wav

``--seed``, ``--cfg-scale``, ``--checkpoint`` and ``--device`` are the shared options of
:mod:`audiogen.cli.options`; ``--style`` is too, widened to a schedule. Bad input (an unknown style
in the schedule, times out of order, a prompt that is not audio, an output that exists without
``--overwrite``) raises :class:`~audiogen.errors.InputError`: one ``error: ...`` line, exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from audiogen.cli.options import CHECKPOINT, DEVICE, OVERWRITE, resolve_device, sampling_options
from audiogen.errors import InputError

SEQUENCE = typer.Option(
    None,
    "--sequence",
    metavar="DIR",
    help="Sequence model: a run, checkpoint or model folder of `audiogen train sequence`; default: the "
    "pipeline folder's sequence/.",
)
#: ``--style`` of a stream: a style, or a schedule of styles over time.
STREAM_STYLE = typer.Option(
    None,
    "--style",
    metavar="NAME|SCHEDULE",
    help='Style, or a schedule "organ@0,strings@90" (style@seconds, crossfaded); default: none.',
)


@sampling_options(only=("seed", "cfg_scale", "style"), style=STREAM_STYLE)
def stream(
    sampling: Any,
    seconds: float = typer.Option(
        None, "--seconds", metavar="S", help="Length in seconds (default 30; see --forever)."
    ),
    forever: bool = typer.Option(False, "--forever", help="Never stop (until Ctrl-C)."),
    out: str = typer.Option(
        "stream.wav", "--out", metavar="FILE.wav|-", help="WAV file written as it grows, or - for raw PCM."
    ),
    prompt: Path = typer.Option(None, "--prompt", metavar="AUDIO", help="Audio file to continue from."),
    checkpoint: Path = CHECKPOINT,
    sequence: Path = SEQUENCE,
    head_steps: int = typer.Option(
        None, "--head-steps", metavar="N", help="Flow head Euler steps; default: the model's."
    ),
    head_temperature: float = typer.Option(
        None,
        "--head-temperature",
        metavar="T",
        help="Scale of the flow head's starting noise; above 1 the bundled model's streams stay nearer "
        "the level of real music instead of falling quiet, at a cost in FD. Default: the model's.",
    ),
    stats_guard: float = typer.Option(
        None,
        "--stats-guard",
        metavar="G",
        help="Strength in [0, 1] of the guard that keeps the stream's latent statistics near the "
        "style's training statistics (per channel, over about 10 s), so long streams do not drift "
        "into quiet, smeared stretches; 0: off. Default: the model's.",
    ),
    fade: float = typer.Option(4.0, "--fade", metavar="S", help="Seconds of crossfade at each style change."),
    device: str = DEVICE,
    overwrite: bool = OVERWRITE,
) -> None:
    """Stream music from the latent sequence model into --out as it is generated."""
    if forever and seconds is not None:
        raise InputError("give --seconds or --forever, not both")
    if seconds is not None and not 0 < seconds < float("inf"):
        raise InputError(f"--seconds must be a positive number, got {seconds}")
    if head_steps is not None and head_steps < 1:
        raise InputError(f"--head-steps must be >= 1, got {head_steps}")
    if head_temperature is not None and not 0 < head_temperature < float("inf"):
        raise InputError(f"--head-temperature must be a positive number, got {head_temperature}")
    if stats_guard is not None and not 0 <= stats_guard <= 1:
        raise InputError(f"--stats-guard must be in [0, 1], got {stats_guard}")
    seconds = None if forever else (30.0 if seconds is None else seconds)
    to_stdout = out == "-"
    path = Path(out)
    if not to_stdout:
        if path.suffix.lower() != ".wav":
            raise InputError(f"--out {out}: the stream is written as WAV; give a .wav name or - for raw PCM")
        if path.is_dir() or (path.exists() and not overwrite):
            raise InputError(f"--out {out} exists; pass --overwrite to replace it")
    from audiogen.audio.probe import AudioLoadError, probe_audio

    if prompt is not None:
        if not prompt.is_file():
            raise InputError(f"--prompt {prompt}: no such file")
        try:
            probe_audio(prompt)
        except AudioLoadError as e:
            raise InputError(f"--prompt: {e}") from None

    from audiogen.cli.options import load_pipeline

    pipe = load_pipeline(checkpoint, resolve_device(device))
    try:
        chunks = pipe.stream(
            seconds,
            sampling,
            prompt=prompt,
            sequence=sequence if sequence is not None else checkpoint,
            head_steps=head_steps,
            head_temperature=head_temperature,
            stats_guard=stats_guard,
            fade_seconds=fade,
        )
    except (ValueError, FileNotFoundError, AudioLoadError) as e:
        raise InputError(str(e)) from None
    _write(chunks, path, to_stdout, pipe.sample_rate)


def _write(chunks: Any, path: Path, to_stdout: bool, sample_rate: int) -> None:
    from audiogen.audio.wav_stream import IncrementalWav, pcm16

    written = 0
    try:
        if to_stdout:
            for chunk in chunks:
                sys.stdout.buffer.write(pcm16(chunk))
                sys.stdout.buffer.flush()
            return
        with IncrementalWav(path, sample_rate, channels=1) as wav:
            for chunk in chunks:
                wav.write(chunk)
                written += chunk.shape[-1]
        typer.echo(f"{path}: {written / sample_rate:.1f} s")
    except KeyboardInterrupt:
        if not to_stdout:
            typer.echo(f"\nstopped: {path} holds {written / sample_rate:.1f} s", err=True)
        raise typer.Exit(130) from None
    except BrokenPipeError:  # the player went away
        raise typer.Exit(0) from None
