"""``audiogen extend`` and ``audiogen inpaint``: continue a clip or regenerate part of it.

Both keep the input itself outside the edited span (and a short crossfade next to it) and write
the result at the model's rate and channel count (:mod:`audiogen.pipelines.inpaint`). Bad input (a missing
or non-audio file, a span outside the clip, ``--start >= --end``, a span or extension shorter than
one latent frame) prints ``error: ...`` and exits with status 2 before anything is generated.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer

from audiogen.cli.exit import allow_fast_exit
from audiogen.cli.generate import (
    CFG_SCALE,
    CHECKPOINT,
    DEVICE,
    MAX_SECONDS,
    OVERWRITE,
    SAMPLER,
    SEED,
    STEPS,
    _check_common,
    _check_out_file,
    _fail,
    _load_pipeline,
)

CROSSFADE = typer.Option(
    0.1, "--crossfade", help="Seconds of equal-power crossfade on the kept side of each boundary (<= 0.5)."
)
STYLE = typer.Option(
    "auto",
    "--style",
    help=(
        "Style of the new audio: one of the model's style names; 'auto' (default): the style the "
        "style classifier (the model folder's classifier/, else the bundled one) hears in the input, "
        "if the model has that style, else unconditional; 'none': unconditional."
    ),
)
HARMONIZE = typer.Option(
    3,
    "--harmonize",
    help=(
        "Passes per sampler step (RePaint's resampling): each step but the last is noised back and "
        "taken again, so the new audio agrees better with the kept audio; 1 = off. Each extra pass "
        "costs one more denoiser run per step."
    ),
)
MATCH_LEVEL = typer.Option(
    True,
    "--match-level/--no-match-level",
    help=(
        "Bring the new audio to the RMS level of the input's 3 s next to it (ramped in over 0.5 s "
        "from each boundary); the model otherwise generates at the level it was trained at."
    ),
)
REPORT = typer.Option(
    False,
    "--report",
    help="Print, per boundary, the frame-to-frame log-mel change there and the clip's own 95th percentile.",
)


def _load_input(audio: Path) -> Any:
    """Decode AUDIO (exit 2 with a message if it is missing or not audio)."""
    from audiogen.audio.io import AudioLoadError, load_audio

    if not audio.is_file():
        raise _fail(f"{audio}: no such file")
    from audiogen.pipelines.checks import check_input_audio

    check_input_audio(audio)  # the header's length, before anything is decoded
    try:
        clip = load_audio(audio)
    except AudioLoadError as e:
        raise _fail(str(e)) from e
    if clip.duration > MAX_SECONDS:
        raise _fail(f"{audio}: {clip.duration:.1f} s is longer than the {MAX_SECONDS:g} s limit")
    return clip


def _resolve_style(style: str, checkpoint: Path | None, pipeline: Any, clip: Any) -> tuple[str | None, str]:
    """``--style``: ``none`` → unconditional, ``auto`` → what the style classifier hears in the input.

    Returns the style and, for ``auto``, a line saying what was chosen (printed with the result).
    """
    if style == "none":
        return None, ""
    if style != "auto":
        return style, ""
    from audiogen.evaluation.embedders import style_heard

    try:
        found, folder = style_heard(pipeline, clip.waveform[None], clip.sample_rate, checkpoint)
    except ValueError as e:
        raise _fail(str(e)) from e
    if folder is None:
        return None, "style: auto -> unconditional (no style classifier installed)"
    return found, f"style: auto -> {found or 'unconditional'} (style classifier {folder})"


def _finish(result: Any, pipeline: Any, out: Path, report: bool, what: str, note: str = "") -> None:
    """Write the result, say what was written (after ``note``) and print the boundary report if asked."""
    from audiogen.audio.io import save_audio
    from audiogen.evaluation.boundaries import boundary_report, format_report

    try:
        save_audio(out, result.waveforms[0], result.sample_rate)
    except (OSError, ValueError) as e:
        raise _fail(str(e), 1) from e
    if note:
        typer.echo(note)
    sr = result.sample_rate
    spans = ", ".join(f"{a / sr:.3f}-{b / sr:.3f} s" for a, b in result.edited)
    typer.echo(
        f"wrote {out}: {result.num_samples} samples = {result.num_samples / sr:.3f} s at {sr} Hz ({what}; "
        f"new audio {spans}; crossfades {result.crossfade_samples / sr:.3f} s on the kept side)"
    )
    if report:
        try:
            stats = boundary_report(
                result.waveforms[0], pipeline.mel_config, [("edit", b) for b in result.boundaries]
            )
        except ValueError as e:
            raise _fail(f"--report: {e}") from e
        for line in format_report(stats):
            typer.echo(line)
    allow_fast_exit()  # the output is written and closed


def extend(
    audio: Path = typer.Argument(..., help="Audio file to continue."),
    seconds: float = typer.Option(0.0, "--seconds", help="Seconds of new audio after the input."),
    before: float = typer.Option(
        0.0, "--before", help="Seconds of new audio before the input (outpainting)."
    ),
    out: Path = typer.Option(..., "--out", help="Audio file to write (.wav, .flac, ...)."),
    seed: int = SEED,
    steps: int | None = STEPS,
    cfg_scale: float | None = CFG_SCALE,
    style: str = STYLE,
    checkpoint: Path = CHECKPOINT,
    device: str = DEVICE,
    sampler: str = SAMPLER,
    crossfade: float = CROSSFADE,
    harmonize: int = HARMONIZE,
    match_level: bool = MATCH_LEVEL,
    report: bool = REPORT,
    overwrite: bool = OVERWRITE,
) -> None:
    """Write AUDIO continued by --seconds (and/or preceded by --before seconds of new audio) to OUT.

    The input is mixed to mono and resampled to the model's rate; outside the crossfade next to the
    new audio the output is the input sample for sample.
    """
    for name, value in (("--seconds", seconds), ("--before", before)):
        if not (math.isfinite(value) and value >= 0):
            raise _fail(f"{name} must be a non-negative number of seconds, got {value}")
    if seconds == 0 and before == 0:
        raise _fail("give --seconds S (new audio after the input) and/or --before S (before it)")
    if not 0 <= crossfade <= 0.5:
        raise _fail(f"--crossfade must be in [0, 0.5] seconds, got {crossfade}")
    if harmonize < 1:
        raise _fail(f"--harmonize must be at least 1 pass, got {harmonize}")
    dev = _check_common(seed, steps, sampler, device)
    clip = _load_input(audio)
    if clip.duration + seconds + before > MAX_SECONDS:
        raise _fail(
            f"{audio}: the result would be {clip.duration + seconds + before:.1f} s; "
            f"the limit is {MAX_SECONDS:g} s"
        )
    _check_out_file(out, overwrite)
    pipeline = _load_pipeline(checkpoint, dev, None if style in ("auto", "none") else style)
    style, note = _resolve_style(style, checkpoint, pipeline, clip)
    try:
        result = pipeline.extend(
            clip.waveform[None], clip.sample_rate, seconds, before, seed=seed, steps=steps,
            cfg_scale=cfg_scale, style=style, sampler=sampler, crossfade=crossfade, harmonize=harmonize,
            match_level=match_level,
        )  # fmt: skip
    except ValueError as e:
        raise _fail(f"{audio}: {e}") from e
    _finish(result, pipeline, out, report, f"extended, seed {seed}", note)


def inpaint(
    audio: Path = typer.Argument(..., help="Audio file to edit."),
    start: float = typer.Option(..., "--start", help="Start of the span to regenerate, seconds."),
    end: float = typer.Option(..., "--end", help="End of the span to regenerate, seconds (exclusive)."),
    out: Path = typer.Option(..., "--out", help="Audio file to write (.wav, .flac, ...)."),
    seed: int = SEED,
    steps: int | None = STEPS,
    cfg_scale: float | None = CFG_SCALE,
    style: str = STYLE,
    checkpoint: Path = CHECKPOINT,
    device: str = DEVICE,
    sampler: str = SAMPLER,
    crossfade: float = CROSSFADE,
    harmonize: int = HARMONIZE,
    match_level: bool = MATCH_LEVEL,
    report: bool = REPORT,
    overwrite: bool = OVERWRITE,
) -> None:
    """Regenerate the span [--start, --end) seconds of AUDIO, keep the rest, write it to OUT."""
    if not (math.isfinite(start) and math.isfinite(end)):
        raise _fail(f"--start and --end must be finite seconds, got {start} and {end}")
    if start >= end:
        raise _fail(f"--start ({start:g} s) must be before --end ({end:g} s)")
    if not 0 <= crossfade <= 0.5:
        raise _fail(f"--crossfade must be in [0, 0.5] seconds, got {crossfade}")
    if harmonize < 1:
        raise _fail(f"--harmonize must be at least 1 pass, got {harmonize}")
    dev = _check_common(seed, steps, sampler, device)
    clip = _load_input(audio)
    if start < 0 or end > clip.duration:
        raise _fail(f"the span [{start:g}, {end:g}) s is outside {audio} (0 to {clip.duration:.3f} s)")
    _check_out_file(out, overwrite)
    pipeline = _load_pipeline(checkpoint, dev, None if style in ("auto", "none") else style)
    style, note = _resolve_style(style, checkpoint, pipeline, clip)
    try:
        result = pipeline.inpaint(
            clip.waveform[None], clip.sample_rate, start, end, seed=seed, steps=steps, cfg_scale=cfg_scale,
            style=style, sampler=sampler, crossfade=crossfade, harmonize=harmonize,
            match_level=match_level,
        )  # fmt: skip
    except ValueError as e:
        raise _fail(f"{audio}: {e}") from e
    _finish(result, pipeline, out, report, f"inpainted, seed {seed}", note)
