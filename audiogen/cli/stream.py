"""``audiogen stream``: endless (or SECONDS long) music from the latent sequence model, in real time.

The audio is written as it is generated: ``--out FILE.wav`` is a valid WAV at every moment (its
header is rewritten after each chunk, so Ctrl-C leaves a playable file), ``--out -`` writes raw
16-bit little-endian mono PCM to stdout for a player::

    audiogen stream --style organ --forever --out - | aplay -f S16_LE -r 22050 -c 1
    audiogen stream --style "organ@0,strings@90" --seconds 180 --out organ_to_strings.wav

Bad input (an unknown style in the schedule, times out of order, a prompt that is not audio, an
output that exists without ``--overwrite``) prints one ``error: ...`` line and exits with status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

SEQUENCE = typer.Option(
    None,
    "--sequence",
    help="Sequence model: a run, checkpoint or model folder of `audiogen train sequence`; default: the "
    "pipeline folder's sequence/.",
)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def stream(
    style: str = typer.Option(
        None, "--style", help='Style, or a schedule "organ@0,strings@90" (style@seconds, crossfaded).'
    ),
    seconds: float = typer.Option(None, "--seconds", help="Length in seconds (default 30; see --forever)."),
    forever: bool = typer.Option(False, "--forever", help="Never stop (until Ctrl-C)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (the same seed gives the same stream)."),
    out: str = typer.Option("stream.wav", "--out", help="WAV file written as it grows, or - for raw PCM."),
    prompt: Path = typer.Option(None, "--prompt", help="Audio file to continue from."),
    checkpoint: Path = typer.Option(
        None, "--checkpoint", help="Pipeline folder (decoder, vocoder); default: the bundled model."
    ),
    sequence: Path = SEQUENCE,
    cfg_scale: float = typer.Option(1.0, "--cfg-scale", help="Guidance towards the style (1 = none)."),
    head_steps: int = typer.Option(None, "--head-steps", help="Flow head Euler steps; default: the model's."),
    fade: float = typer.Option(4.0, "--fade", help="Seconds of crossfade at each style change."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out file."),
) -> None:
    """Stream music from the latent sequence model into --out as it is generated."""
    if forever and seconds is not None:
        raise _fail("give --seconds or --forever, not both")
    if seconds is not None and not 0 < seconds < float("inf"):
        raise _fail(f"--seconds must be a positive number, got {seconds}")
    if head_steps is not None and head_steps < 1:
        raise _fail(f"--head-steps must be >= 1, got {head_steps}")
    seconds = None if forever else (30.0 if seconds is None else seconds)
    to_stdout = out == "-"
    path = Path(out)
    if not to_stdout:
        if path.suffix.lower() != ".wav":
            raise _fail(f"--out {out}: the stream is written as WAV; give a .wav name or - for raw PCM")
        if path.is_dir() or (path.exists() and not overwrite):
            raise _fail(f"--out {out} exists; pass --overwrite to replace it")
    if prompt is not None:
        from audiogen.audio.probe import AudioLoadError, probe_audio

        if not prompt.is_file():
            raise _fail(f"--prompt {prompt}: no such file")
        try:
            probe_audio(prompt)
        except AudioLoadError as e:
            raise _fail(f"--prompt: {e}") from None

    import torch

    from audiogen.audio.probe import AudioLoadError
    from audiogen.cli.generate import _load_pipeline

    pipe = _load_pipeline(checkpoint, "cuda" if torch.cuda.is_available() else "cpu", None)
    try:
        chunks = pipe.stream(
            style=style,
            seconds=seconds,
            seed=seed,
            prompt=prompt,
            sequence=sequence if sequence is not None else checkpoint,
            cfg_scale=cfg_scale,
            head_steps=head_steps,
            fade_seconds=fade,
        )
    except (ValueError, FileNotFoundError, AudioLoadError) as e:
        raise _fail(str(e)) from None
    _write(chunks, path, to_stdout, pipe.sample_rate)


def _write(chunks: object, path: Path, to_stdout: bool, sample_rate: int) -> None:
    from audiogen.audio.wav_stream import IncrementalWav, pcm16

    written = 0
    try:
        if to_stdout:
            for chunk in chunks:  # type: ignore[attr-defined]
                sys.stdout.buffer.write(pcm16(chunk))
                sys.stdout.buffer.flush()
            return
        with IncrementalWav(path, sample_rate, channels=1) as wav:
            for chunk in chunks:  # type: ignore[attr-defined]
                wav.write(chunk)
                written += chunk.shape[-1]
        typer.echo(f"{path}: {written / sample_rate:.1f} s")
    except KeyboardInterrupt:
        if not to_stdout:
            typer.echo(f"\nstopped: {path} holds {written / sample_rate:.1f} s", err=True)
        raise typer.Exit(130) from None
    except BrokenPipeError:  # the player went away
        raise typer.Exit(0) from None
