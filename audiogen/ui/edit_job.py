"""The Extend / Inpaint tab's job: ``audiogen extend`` / ``audiogen inpaint`` on an upload, with their
checks and messages (see :mod:`audiogen.ui.jobs`)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from audiogen.errors import InputError
from audiogen.pipelines.checks import seed_file_stem
from audiogen.ui.host import CancelToken, ModelHost, UIError
from audiogen.ui.jobs import (
    MAX_SECONDS,
    Sampling,
    _load_upload,
    _model_flags,
    _pipeline,
    _seconds,
    _timing,
    _titles,
    _value_errors,
    check_sampling,
)
from audiogen.ui.results import UIResult, command_line, write_result


def edit(
    host: ModelHost,
    model: str | Path | None,
    sampling: Sampling,
    audio: str | Path,
    mode: str,
    first: float,
    second: float,
    token: CancelToken | None = None,
) -> UIResult:
    """Extend (``mode="extend"``: ``first`` s before, ``second`` s after) or inpaint (``mode="inpaint"``:
    regenerate ``[first, second)`` s) the uploaded ``audio``, as ``audiogen extend`` / ``inpaint``.

    Needs a pipeline with ``extend`` / ``inpaint``.

    Raises:
        UIError: a bad input, upload or model (the pipeline's message, after the file's name).
        JobCancelled: the token was cancelled.
    """
    if mode not in ("extend", "inpaint"):
        raise UIError(f"mode must be extend or inpaint, got {mode!r}")
    first, second = _seconds(first), _seconds(second)
    if mode == "extend":  # the checks and messages of audiogen extend
        for name, value in (("--seconds", second), ("--before", first)):
            if not (math.isfinite(value) and value >= 0):
                raise UIError(f"{name} must be a non-negative number of seconds, got {value}")
        if second == 0 and first == 0:
            raise UIError("give --seconds S (new audio after the input) and/or --before S (before it)")
    else:  # ... and of audiogen inpaint
        if not (math.isfinite(first) and math.isfinite(second)):
            raise UIError(f"--start and --end must be finite seconds, got {first} and {second}")
        if first >= second:
            raise UIError(f"--start ({first:g} s) must be before --end ({second:g} s)")
    s = check_sampling(sampling)
    clip = _load_upload(audio)
    if mode == "extend" and clip.duration + first + second > MAX_SECONDS:
        raise UIError(
            f"{audio}: the result would be {clip.duration + first + second:.1f} s; "
            f"the limit is {MAX_SECONDS:g} s"
        )
    if mode == "inpaint" and (first < 0 or second > clip.duration):
        raise UIError(f"the span [{first:g}, {second:g}) s is outside {audio} (0 to {clip.duration:.3f} s)")
    with host.job(token):
        pipe = _pipeline(host, model, s)
        if not hasattr(pipe, mode):
            raise UIError(f"this version of audiogen has no {mode}")
        if s.style == "auto":
            s = dataclasses.replace(s, style=_detect_style(host, pipe, clip))
            try:  # a negative style is checked against the style heard, as against one picked
                s.config().checked()
            except InputError as e:
                raise UIError(f"--style auto -> {s.style or 'unconditional'}: {e}") from e
        wave = clip.waveform[None]  # (1, channels, samples)
        # extend takes (seconds after, before); inpaint (start, end)
        args = (float(second), float(first)) if mode == "extend" else (float(first), float(second))
        method = getattr(pipe, mode)
        result = _value_errors(method, wave, clip.sample_rate, *args, s.config(), prefix=f"{audio}: ")
        names = ("--before", "--seconds") if mode == "extend" else ("--start", "--end")
        flags = [names[0], float(first), names[1], float(second)]
        folder = host.new_output_dir(mode)
        stem = seed_file_stem(f"{Path(audio).stem}_{mode}", s.seed)
        paths, png = write_result(
            pipe,
            folder,
            [stem],
            result.waveforms,
            getattr(result, "mels", None),
            _titles(s, [s.seed], pipe, mode),
            s.audio_format,
        )
        command = command_line(
            mode,
            # the commands default to --style auto: an unconditional edit says --style none
            [
                "", str(audio), *flags, *s.flags(), *(["--style", "none"] if s.style is None else []),
                *_model_flags(host), "--out", f"{stem}.{s.audio_format}",
            ],  # fmt: skip
        )
    n = result.waveforms.shape[-1]
    return UIResult(
        paths,
        png,
        [s.seed],
        result.sample_rate,
        n / result.sample_rate,
        command,
        f"{n} samples = {n / result.sample_rate:.3f} s at {result.sample_rate} Hz{_timing(result)}",
    )


def _detect_style(host: ModelHost, pipe: Any, clip: Any) -> str | None:
    """``auto``: the style the model folder's (else the bundled) classifier hears in the upload."""
    from audiogen.evaluation.embedders import style_heard

    try:
        return style_heard(pipe, clip.waveform[None], clip.sample_rate, host.pipeline_path)[0]
    except ValueError as e:
        raise UIError(str(e)) from e
