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
from audiogen.cli.options import (
    CHECKPOINT,
    DEVICE,
    OUT_FILE,
    OVERWRITE,
    check_out_file,
    load_pipeline,
    option_group,
    resolve_device,
    sampling_options,
    save,
    styles_phrase,
)
from audiogen.errors import InputError
from audiogen.pipelines import checks
from audiogen.pipelines.checks import MAX_SECONDS

CROSSFADE = typer.Option(
    0.1,
    "--crossfade",
    metavar="SECONDS",
    help="Seconds of equal-power crossfade on the kept side of each boundary (<= 0.5).",
)
STYLE = typer.Option(
    "auto",
    "--style",
    metavar="NAME",
    help=(
        f"Style of the new audio: one of the model's style names{styles_phrase()}; 'auto' (default): the "
        "style the style classifier (the model folder's classifier/, else the bundled one) hears in the "
        "input, "
        "if the model has that style, else unconditional; 'none': unconditional."
    ),
)
HARMONIZE = typer.Option(
    3,
    "--harmonize",
    metavar="PASSES",
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
        raise InputError(f"{audio}: no such file")
    checks.check_input_audio(audio)  # the header's length, before anything is decoded
    try:
        clip = load_audio(audio)
    except AudioLoadError as e:
        raise InputError(str(e)) from e
    if clip.duration > MAX_SECONDS:
        raise InputError(f"{audio}: {clip.duration:.1f} s is longer than the {MAX_SECONDS:g} s limit")
    return clip


#: The options ``extend`` and ``inpaint`` share besides the sampling ones (:func:`option_group`).
EDIT_OPTIONS: dict[str, tuple[Any, Any]] = {
    "out": (Path, OUT_FILE),
    "checkpoint": (Path | None, CHECKPOINT),
    "device": (str, DEVICE),
    "crossfade": (float, CROSSFADE),
    "harmonize": (int, HARMONIZE),
    "match_level": (bool, MATCH_LEVEL),
    "report": (bool, REPORT),
    "overwrite": (bool, OVERWRITE),
}


def _load_checked(audio: Path, edit: dict[str, Any]) -> Any:
    """Check ``--crossfade``, ``--harmonize`` and ``--device``; decode AUDIO."""
    if not 0 <= edit["crossfade"] <= 0.5:
        raise InputError(f"--crossfade must be in [0, 0.5] seconds, got {edit['crossfade']}")
    if edit["harmonize"] < 1:
        raise InputError(f"--harmonize must be at least 1 pass, got {edit['harmonize']}")
    edit["device"] = resolve_device(edit["device"])
    return _load_input(audio)


def _edit(method: str, audio: Path, clip: Any, args: tuple, sampling: Any, edit: dict[str, Any]) -> None:
    """Check ``--out``, load the model, resolve ``--style`` (auto / none), run ``pipeline.<method>``
    and write the result (:func:`_finish`)."""
    import dataclasses

    check_out_file(edit["out"], edit["overwrite"])
    checkpoint, style = edit["checkpoint"], sampling.style
    edit_style = style
    named = None if style in ("auto", "none") else style
    negative = sampling.negative_style if named is not None else None  # checked once the style is known
    pipeline = load_pipeline(
        checkpoint, edit["device"], dataclasses.replace(sampling, style=named, negative_style=negative)
    )
    style, note = _resolve_style(style, checkpoint, pipeline, clip)
    sampling = dataclasses.replace(sampling, style=style)
    if sampling.negative_style is not None and named is None:
        try:
            pipeline.check_inputs(sampling.checked())
        except ValueError as e:  # InputError is a ValueError too
            raise InputError(f"--style {edit_style} -> {style or 'unconditional'}: {e}") from None
    options = {k: edit[k] for k in ("crossfade", "harmonize", "match_level")}
    try:
        result = getattr(pipeline, method)(clip.waveform[None], clip.sample_rate, *args, sampling, **options)
    except ValueError as e:
        raise InputError(f"{audio}: {e}") from e
    what = {"extend": "extended", "inpaint": "inpainted"}[method]
    _finish(result, pipeline, edit["out"], edit["report"], f"{what}, seed {sampling.seed}", note)


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
        raise InputError(str(e)) from e
    if folder is None:
        return None, "style: auto -> unconditional (no style classifier installed)"
    return found, f"style: auto -> {found or 'unconditional'} (style classifier {folder})"


def _finish(result: Any, pipeline: Any, out: Path, report: bool, what: str, note: str = "") -> None:
    """Write the result, say what was written (after ``note``) and print the boundary report if asked."""
    from audiogen.evaluation.boundaries import boundary_report, format_report

    save(out, result.waveforms[0], result.sample_rate)
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
            raise InputError(f"--report: {e}") from e
        for line in format_report(stats):
            typer.echo(line)
    allow_fast_exit()  # the output is written and closed


@option_group("edit", EDIT_OPTIONS)
@sampling_options(style=STYLE)
def extend(
    audio: Path = typer.Argument(..., metavar="AUDIO", help="Audio file to continue."),
    seconds: float = typer.Option(
        0.0, "--seconds", metavar="SECONDS", help="Seconds of new audio after the input."
    ),
    before: float = typer.Option(
        0.0, "--before", metavar="SECONDS", help="Seconds of new audio before the input (outpainting)."
    ),
    sampling: Any = None,
    edit: Any = None,
) -> None:
    """Write AUDIO continued by --seconds (and/or preceded by --before seconds of new audio) to OUT.

    The input is mixed to mono and resampled to the model's rate; outside the crossfade next to the
    new audio the output is the input sample for sample.
    """
    for name, value in (("--seconds", seconds), ("--before", before)):
        if not (math.isfinite(value) and value >= 0):
            raise InputError(f"{name} must be a non-negative number of seconds, got {value}")
    if seconds == 0 and before == 0:
        raise InputError("give --seconds S (new audio after the input) and/or --before S (before it)")
    clip = _load_checked(audio, edit)
    if clip.duration + seconds + before > MAX_SECONDS:
        raise InputError(
            f"{audio}: the result would be {clip.duration + seconds + before:.1f} s; "
            f"the limit is {MAX_SECONDS:g} s"
        )
    _edit("extend", audio, clip, (seconds, before), sampling, edit)


@option_group("edit", EDIT_OPTIONS)
@sampling_options(style=STYLE)
def inpaint(
    audio: Path = typer.Argument(..., metavar="AUDIO", help="Audio file to edit."),
    start: float = typer.Option(
        ..., "--start", metavar="SECONDS", help="Start of the span to regenerate, seconds."
    ),
    end: float = typer.Option(
        ..., "--end", metavar="SECONDS", help="End of the span to regenerate, seconds (exclusive)."
    ),
    sampling: Any = None,
    edit: Any = None,
) -> None:
    """Regenerate the span [--start, --end) seconds of AUDIO, keep the rest, write it to OUT."""
    if not (math.isfinite(start) and math.isfinite(end)):
        raise InputError(f"--start and --end must be finite seconds, got {start} and {end}")
    if start >= end:
        raise InputError(f"--start ({start:g} s) must be before --end ({end:g} s)")
    clip = _load_checked(audio, edit)
    if start < 0 or end > clip.duration:
        raise InputError(f"the span [{start:g}, {end:g}) s is outside {audio} (0 to {clip.duration:.3f} s)")
    _edit("inpaint", audio, clip, (start, end), sampling, edit)
