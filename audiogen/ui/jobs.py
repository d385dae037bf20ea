"""The web app's jobs, one per tab: check the inputs (with the messages ``audiogen generate`` / ``loop`` /
``variation`` / ``extend`` / ``inpaint`` print), call the same pipeline methods the CLI calls, write a
:class:`~audiogen.ui.results.UIResult`.

No gradio here: each job is a plain function of a :class:`~audiogen.ui.host.ModelHost`, so it can be
tested and reused without the page. Every problem is raised as :class:`~audiogen.ui.host.UIError`
carrying the CLI's one-line message (without its ``error: `` prefix).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiogen.pipelines import checks
from audiogen.pipelines.checks import MAX_SECONDS  # the longest clip, loop or upload, in seconds
from audiogen.ui.host import CancelToken, ModelHost, UIError
from audiogen.ui.results import UIResult, command_line, write_result

#: Largest upload accepted, in bytes.
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
AUDIO_FORMATS = ("wav", "flac")
MAX_CLIPS = 4


@dataclass(frozen=True)
class Sampling:
    """Settings every generating tab shares (the CLI's ``--style --seed --steps --cfg-scale --sampler
    --negative-style``).

    Attributes:
        style: a style of the model, or ``None``/``""`` for unconditional.
        seed: seed of the first clip (>= 0).
        steps: sampler steps in [1, 1000].
        cfg_scale: classifier-free guidance scale (1 = none).
        sampler: ``"dpm++"``, ``"ddim"`` or ``"euler"`` (not ``"ddim"`` for a rectified-flow model).
        audio_format: ``"wav"`` or ``"flac"``.
        negative_style: a style to steer away from (classifier-free guidance pushes from it towards
            ``style``), or ``None``/``""`` for none.
    """

    style: str | None = None
    seed: int = 0
    steps: int = 25
    cfg_scale: float = 1.0
    sampler: str = "dpm++"
    audio_format: str = "wav"
    negative_style: str | None = None

    def config(self) -> Any:
        """The :class:`~audiogen.pipelines.sampling.SamplingConfig` the pipeline methods take."""
        from audiogen.pipelines.sampling import SamplingConfig

        return SamplingConfig(
            self.seed,
            self.steps,
            self.cfg_scale,
            self.style,
            self.sampler,
            progress=True,
            negative_style=self.negative_style or None,
        )

    def flags(self) -> list[Any]:
        """The CLI flags, for :func:`~audiogen.ui.results.command_line`."""
        return [
            "--style",
            self.style,
            "--seed",
            self.seed,
            "--steps",
            self.steps,
            "--cfg-scale",
            float(self.cfg_scale),
            "--sampler",
            self.sampler,
            *(["--negative-style", self.negative_style] if self.negative_style else []),
        ]


def cli_check(check: Any, *args: Any) -> Any:
    """Run one of the shared checks (:mod:`audiogen.pipelines.checks`, which raise
    :class:`~audiogen.errors.InputError`) and raise its message as :class:`UIError`; returns what it
    returns."""
    from audiogen.errors import InputError

    try:
        return check(*args)
    except InputError as e:
        raise UIError(str(e)) from e


def check_sampling(s: Sampling, num: int = 1) -> Sampling:
    """Check :class:`Sampling` as ``audiogen generate`` checks its flags; returns it with ``style`` and
    ``negative_style`` ``None`` where empty. Raises :class:`UIError`.

    The style names are checked against the model once it is loaded (:func:`check_styles`).
    """
    from audiogen.pipelines.sampling import SamplingConfig
    from audiogen.samplers.factory import SAMPLERS

    if s.seed is None or s.seed != int(s.seed):
        raise UIError(f"--seed must be a whole number, got {s.seed}")
    cli_check(checks.check_seed, int(s.seed), num)
    if s.steps is None or not 1 <= s.steps <= 1000:
        raise UIError(f"--steps must be in [1, 1000], got {s.steps}")
    if s.sampler not in SAMPLERS:
        raise UIError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {s.sampler!r}")
    if s.audio_format not in AUDIO_FORMATS:
        raise UIError(f"--format must be one of {', '.join(AUDIO_FORMATS)}, got {s.audio_format!r}")
    cli_check(
        checks.check_number,
        "--cfg-scale",
        math.nan if s.cfg_scale is None else s.cfg_scale,
        0.0,
        checks.MAX_CFG_SCALE,
    )
    style, negative = s.style or None, s.negative_style or None
    cli_check(SamplingConfig(style=style, negative_style=negative).checked)  # the pair, as the CLI checks it
    return Sampling(style, int(s.seed), int(s.steps), float(s.cfg_scale), s.sampler, s.audio_format, negative)


def check_styles(pipe: Any, s: Sampling) -> None:
    """Check the style (unless ``None`` or the edit tab's ``auto``) and the negative style of ``s``
    against ``pipe``'s styles, as ``audiogen`` checks them against the model it loaded.

    Raises:
        UIError: an unknown style (listing the known ones), the field named for the negative style.
    """
    try:
        pipe.style_label(None if s.style == "auto" else s.style or None)
    except ValueError as e:
        raise UIError(str(e)) from e
    try:
        pipe.style_label(s.negative_style or None)
    except ValueError as e:
        raise UIError(f"--negative-style: {e}") from e


def _pipeline(host: ModelHost, model: str | Path | None, s: Sampling) -> Any:
    pipe = host.load(model or host.default_path)
    check_styles(pipe, s)
    return pipe


def _model_flags(host: ModelHost) -> list[Any]:
    flags: list[Any] = []
    if not host.is_bundled(host.pipeline_path):
        flags += ["--checkpoint", str(host.pipeline_path)]
    for lora in host.loras.values():
        flags += ["--lora", f"{lora.path}:{lora.strength:g}"]
    return flags


def _titles(s: Sampling, seeds: list[int], pipe: Any, what: str) -> list[str]:
    away = f" (not {s.negative_style})" if s.negative_style else ""
    return [
        f"{what}: {s.style or 'unconditional'}{away}, seed {k}, {s.steps} {s.sampler} steps, "
        f"cfg {pipe.resolve_cfg_scale(s.cfg_scale):g}"
        for k in seeds
    ]


def _timing(result: Any) -> str:
    t = getattr(result, "timings", None)
    return f" in {t.total:.2f} s" if t is not None else ""


def generate(
    host: ModelHost,
    model: str | Path | None,
    sampling: Sampling,
    seconds: float,
    num: int = 1,
    token: CancelToken | None = None,
) -> UIResult:
    """``num`` clips of ``seconds`` seconds, as ``audiogen generate`` (files ``{style|any}_seed{K:06d}``).

    Raises:
        UIError: a bad input or model (the CLI's message).
        JobCancelled: the token was cancelled.
    """
    if seconds is None or not (math.isfinite(seconds) and 0 < seconds <= MAX_SECONDS):
        raise UIError(f"--seconds must be in (0, {MAX_SECONDS:g}], got {seconds}")
    if num is None or not 1 <= num <= MAX_CLIPS:
        raise UIError(f"--num must be in [1, {MAX_CLIPS}], got {num}")
    s = check_sampling(sampling, int(num))
    num = int(num)
    with host.job(token):
        pipe = _pipeline(host, model, s)
        result = _value_errors(pipe, float(seconds), num, s.config())
        folder = host.new_output_dir("generate")
        stem = checks.style_stem(s.style)
        seeds = [s.seed + i for i in range(num)]
        paths, png = write_result(
            pipe,
            folder,
            [checks.seed_file_stem(stem, k) for k in seeds],
            result.waveforms,
            result.mels,
            _titles(s, seeds, pipe, "generate"),
            s.audio_format,
        )
        command = command_line(
            "generate",
            [
                "--seconds",
                float(seconds),
                "--num",
                num,
                *s.flags(),
                "--format",
                s.audio_format,
                *_model_flags(host),
                "--out",
                "generated",
            ],
        )
    return UIResult(
        paths,
        png,
        seeds,
        result.sample_rate,
        result.num_samples / result.sample_rate,
        command,
        f"{num} clip(s) of {result.num_samples} samples ({result.seconds:.3f} s at {result.sample_rate} Hz)"
        f"{_timing(result)}",
    )


def _value_errors(fn: Any, *args: Any, prefix: str = "", **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except ValueError as e:
        raise UIError(f"{prefix}{e}") from e


def loop(
    host: ModelHost,
    model: str | Path | None,
    sampling: Sampling,
    bars: float,
    bpm: float,
    beats_per_bar: float = 4.0,
    repeat: int = 1,
    token: CancelToken | None = None,
) -> UIResult:
    """A seamless loop of ``bars`` bars at ``bpm``, tiled ``repeat`` times, as ``audiogen loop``.

    Raises:
        UIError: a bad input or model (the CLI's message).
        JobCancelled: the token was cancelled.
    """
    from audiogen.pipelines.loop import loop_samples

    cli_check(checks.check_loop_length, bars, bpm, beats_per_bar, repeat)  # as audiogen loop
    repeat = int(repeat)
    s = check_sampling(sampling)
    with host.job(token):
        pipe = _pipeline(host, model, s)
        samples = loop_samples(bars, bpm, pipe.sample_rate, beats_per_bar)
        granularity = pipe.length_multiple * pipe.samples_per_latent_frame
        if samples < granularity:
            raise UIError(
                f"{bars:g} bars at {bpm:g} bpm is {samples} samples; this model's shortest loop is "
                f"{granularity} samples ({granularity / pipe.sample_rate:.3f} s)"
            )
        result = _value_errors(pipe.loop, samples=samples, repeat=repeat, fit="mel", sampling=s.config())
        folder = host.new_output_dir("loop")
        stem = checks.seed_file_stem(f"loop_{checks.style_stem(s.style)}", s.seed)
        paths, png = write_result(
            pipe,
            folder,
            [stem],
            result.waveforms,
            result.mels,
            _titles(s, [s.seed], pipe, "loop period"),
            s.audio_format,
        )
        command = command_line(
            "loop",
            [
                "--bars",
                float(bars),
                "--bpm",
                float(bpm),
                "--beats-per-bar",
                float(beats_per_bar),
                "--repeat",
                repeat,
                *s.flags(),
                *_model_flags(host),
                "--out",
                f"{stem}.{s.audio_format}",
            ],
        )
    sr = result.sample_rate
    return UIResult(
        paths,
        png,
        [s.seed],
        sr,
        result.num_samples / sr,
        command,
        f"{repeat} x {samples} = {result.num_samples} samples = {result.num_samples / sr:.6f} s at {sr} Hz; "
        f"tempo stretch {result.stretch_ratio:.5f}, pitch {1200 * math.log2(result.pitch_ratio):+.1f} cents"
        f"{_timing(result)}",
    )


def check_upload(path: str | Path | None, flag: str = "AUDIO") -> Any:
    """Check an uploaded file's size and header (``soundfile.info``, nothing decoded) before decoding.

    Returns:
        Its :class:`~audiogen.audio.io.AudioInfo`.

    Raises:
        UIError: no file, a file over :data:`MAX_UPLOAD_BYTES` or :data:`MAX_SECONDS`, or not audio.
    """
    from audiogen.pipelines.checks import check_input_audio

    if not path:
        raise UIError(f"{flag}: no file uploaded")
    path = Path(path)
    if not path.is_file():
        raise UIError(f"{path}: no such file")
    size = os.stat(path).st_size
    if size > MAX_UPLOAD_BYTES:
        raise UIError(
            f"{path.name}: {size / 2**20:.1f} MiB is larger than the {MAX_UPLOAD_BYTES / 2**20:g} MiB limit"
        )
    return cli_check(check_input_audio, path)  # the header only, as audiogen variation checks it


def _seconds(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _load_upload(path: str | Path) -> Any:
    from audiogen.audio.io import AudioLoadError, load_audio

    check_upload(path)
    try:
        return load_audio(path)
    except (AudioLoadError, ValueError) as e:
        raise UIError(str(e)) from e


def variation(
    host: ModelHost,
    model: str | Path | None,
    sampling: Sampling,
    audio: str | Path,
    strength: float = 0.5,
    token: CancelToken | None = None,
) -> UIResult:
    """A variation of the uploaded ``audio`` at ``strength``, as ``audiogen variation``.

    Raises:
        UIError: a bad input, upload or model (the CLI's message).
        JobCancelled: the token was cancelled.
    """
    if strength is None or not 0.0 <= strength <= 1.0:
        raise UIError(f"--strength must be in [0, 1], got {strength}")
    s = check_sampling(sampling)
    clip = _load_upload(audio)
    with host.job(token):
        pipe = _pipeline(host, model, s)
        result = _value_errors(
            pipe.variation,
            clip.waveform,
            clip.sample_rate,
            strength=float(strength),
            sampling=s.config(),
            prefix=f"{audio}: ",
        )
        folder = host.new_output_dir("variation")
        stem = checks.seed_file_stem(f"{Path(audio).stem}_variation", s.seed)
        paths, png = write_result(
            pipe,
            folder,
            [stem],
            result.waveforms,
            result.mels,
            _titles(s, [s.seed], pipe, "variation"),
            s.audio_format,
        )
        command = command_line(
            "variation",
            [
                "",
                str(audio),
                "--strength",
                float(strength),
                *s.flags(),
                *_model_flags(host),
                "--out",
                f"{stem}.{s.audio_format}",
            ],
        )
    return UIResult(
        paths,
        png,
        [s.seed],
        result.sample_rate,
        result.seconds,
        command,
        f"{result.num_samples} samples = {result.seconds:.3f} s at {result.sample_rate} Hz "
        f"(strength {strength:g}){_timing(result)}",
    )
