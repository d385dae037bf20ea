"""``audiogen generate``, ``audiogen loop`` and ``audiogen variation``: audio from a pipeline folder.

Every command loads an :class:`~audiogen.pipelines.audiogen.AudioGenPipeline` folder (``--checkpoint DIR``;
default: the bundled model in ``audiogen/assets/default``, :data:`~audiogen.hub.DEFAULT_PIPELINE`).
Bad arguments (a length out of range, an unknown style, a missing model, CUDA asked for but not
there, an output that exists without ``--overwrite``, an output location that is a file, a folder
or not writable) print ``error: ...`` and exit with status 2 before the model is loaded (the
flags' ranges are in :mod:`audiogen.pipelines.checks`); a model folder that exists but cannot be loaded,
or an output that fails to write, exits with status 1.
``--lora DIR[:STRENGTH]`` (repeatable) stacks LoRA adapters on the denoiser
(:meth:`~audiogen.pipelines.audiogen.AudioGenPipeline.load_lora`); an adapter made for another base exits
with status 1 and a one-line message naming its file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer

from audiogen.cli.exit import allow_fast_exit
from audiogen.pipelines import checks
from audiogen.pipelines.checks import MAX_SECONDS, check_input_audio

AUDIO_FORMATS = ("wav", "flac")

CHECKPOINT = typer.Option(
    None,
    "--checkpoint",
    help="Pipeline folder (model_index.json, autoencoder/, denoiser/, scheduler/, vocoder/); "
    "default: the bundled model in audiogen/assets/default.",
)
DEVICE = typer.Option("auto", "--device", help="auto (CUDA if available), cpu or cuda.")
SEED = typer.Option(0, "--seed", help="Random seed (clip i of --num gets seed + i).")
STEPS = typer.Option(
    None,
    "--steps",
    help="Sampler steps; default: the model's (model_index.json generation.steps: 8 for the bundled "
    "model, whose FD at 8 DPM-Solver++ steps matches 25; --steps 25 for the longer path).",
)
CFG_SCALE = typer.Option(
    None,
    "--cfg-scale",
    help="Classifier-free guidance scale (with --style; 1 = none); default: the model's "
    "(model_index.json generation.cfg_scale; the bundled model's is in its MODEL_CARD.md).",
)
STYLE = typer.Option(None, "--style", help="Style name (the model's labels); default: unconditional.")
SAMPLER = typer.Option("dpm++", "--sampler", help="dpm++ (DPM-Solver++ 2M), ddim or euler.")
OVERWRITE = typer.Option(False, "--overwrite", help="Replace existing output files.")
LORA = typer.Option(
    None,
    "--lora",
    help="LoRA adapter DIR[:STRENGTH] (audiogen finetune --lora: the run, RUN/lora or the adapter folder); "
    "repeat to stack; strength 1 by default, 0 = off.",
)


def _fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` to stderr and return the ``typer.Exit`` to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _check_common(seed: int, steps: int | None, sampler: str, device: str) -> str:
    """Validate the shared options; returns the torch device name."""
    import torch

    from audiogen.samplers.factory import SAMPLERS

    checks.check_seed(seed)
    if steps is not None and not 1 <= steps <= 1000:
        raise _fail(f"--steps must be in [1, 1000], got {steps}")
    if sampler not in SAMPLERS:
        raise _fail(f"--sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    if device not in ("auto", "cpu", "cuda"):
        raise _fail(f"--device must be auto, cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise _fail("--device cuda was asked for but CUDA is not available (use --device cpu or auto)")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _check_out_file(out: Path, overwrite: bool) -> None:
    checks.check_out_file(out, overwrite)


def _check_cfg_scale(cfg_scale: float | None) -> None:
    if cfg_scale is not None:
        checks.check_number("--cfg-scale", cfg_scale, 0.0, checks.MAX_CFG_SCALE)


def _check_min_seconds(pipeline: Any, seconds: float) -> None:
    """At least one latent frame of audio (checked once the model, which sets it, is loaded)."""
    shortest = pipeline.samples_per_latent_frame
    if round(seconds * pipeline.sample_rate) < shortest:
        raise _fail(
            f"--seconds must be at least one latent frame, {shortest / pipeline.sample_rate:.4g} s "
            f"({shortest} samples at {pipeline.sample_rate} Hz) for this model, got {seconds}"
        )


def _load_pipeline(
    checkpoint: Path | None, device: str, style: str | None, loras: list[str] | None = None
) -> Any:
    """Load the pipeline and its ``--lora`` adapters, check ``style`` against its labels (exit 2 / 1)."""
    from audiogen import hub
    from audiogen.hub import MODEL_INDEX_NAME
    from audiogen.models.lora import parse_lora_spec
    from audiogen.pipelines.audiogen import AudioGenPipeline

    try:
        specs = [parse_lora_spec(spec) for spec in loras or []]
    except ValueError as e:
        raise _fail(str(e)) from e
    for path, _ in specs:
        if not path.exists():
            raise _fail(f"--lora {path}: no such adapter folder")

    if checkpoint is None:
        default = hub.DEFAULT_PIPELINE
        if not (default / MODEL_INDEX_NAME).is_file():
            raise _fail(
                f"no model: the bundled default model is not installed ({default} has no "
                f"{MODEL_INDEX_NAME}); "
                "pass --checkpoint DIR, a pipeline folder written by AudioGenPipeline.save_pretrained"
            )
        checkpoint = default
    try:
        pipeline = AudioGenPipeline.from_pretrained(checkpoint, device=device)
    except FileNotFoundError as e:
        raise _fail(str(e)) from e
    except ValueError as e:
        raise _fail(f"cannot load the pipeline in {checkpoint}: {e}", code=1) from e
    for path, strength in specs:
        try:
            pipeline.load_lora(path, strength=strength)
        except FileNotFoundError as e:
            raise _fail(str(e)) from e
        except ValueError as e:  # LoraError: corrupt, or made for another base
            raise _fail(str(e), code=1) from e
    try:
        pipeline.style_label(style)
    except ValueError as e:
        raise _fail(str(e)) from e
    return pipeline


REPORT = typer.Option(
    False,
    "--report",
    help="Long (windowed) output: print, per window boundary and vocoder joint, the frame-to-frame log-mel "
    "change there and the clip's own 95th percentile.",
)


def _report(waveform: Any, pipeline: Any, places: Any, scale: float = 1.0) -> None:
    """Print the boundary report of one long clip (``places``: a ``LongReportPlaces`` or ``None``)."""
    from audiogen.evaluation.boundaries import boundary_report, format_report

    if places is None:
        typer.echo("  report: one denoising window, no window boundaries")
        return
    total = waveform.shape[-1]
    marks = [("window", round(p * scale)) for p in places.window_boundaries]
    marks += [("vocoder", round(p * scale)) for p in places.vocoder_joints]
    marks = [(kind, p) for kind, p in marks if 0 < p < total]  # a loop's wrap at 0: see seam_report
    for line in format_report(
        boundary_report(waveform, pipeline.mel_config, sorted(marks, key=lambda m: m[1]))
    ):
        typer.echo("  " + line)


def _safe_name(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text).strip("_") or "style"


def generate(
    seconds: float = typer.Option(10.0, "--seconds", help="Clip length in seconds (0 < S <= 600)."),
    num: int = typer.Option(1, "--num", help="Number of clips."),
    seed: int = SEED,
    steps: int | None = STEPS,
    cfg_scale: float | None = CFG_SCALE,
    style: str = STYLE,
    out: Path = typer.Option(Path("generated"), "--out", help="Output folder."),
    checkpoint: Path = CHECKPOINT,
    device: str = DEVICE,
    audio_format: str = typer.Option("wav", "--format", help="wav or flac."),
    plot: bool = typer.Option(False, "--plot", help="Also write each clip's log-mel spectrogram as a PNG."),
    sampler: str = SAMPLER,
    batch_size: int = typer.Option(
        4, "--batch-size", help="Clips generated at once (at most 256, and at most 600 s of audio)."
    ),
    overwrite: bool = OVERWRITE,
    report: bool = REPORT,
    lora: list[str] = LORA,
) -> None:
    """Generate NUM clips of SECONDS seconds into OUT, one file per seed: {style|any}_seed{K:06d}.wav.

    Clips longer than one 10 s denoising window are denoised in overlapping windows and decoded and
    vocoded in chunks (memory bounded, time linear in the length; audiogen.pipelines.longform).
    """
    import math

    from audiogen.audio.io import save_audio
    from audiogen.evaluation.plotting import save_mel_png

    if not (math.isfinite(seconds) and 0 < seconds <= MAX_SECONDS):
        raise _fail(f"--seconds must be in (0, {MAX_SECONDS:g}], got {seconds}")
    if not 1 <= num <= checks.MAX_NUM:
        raise _fail(f"--num must be >= 1 and at most {checks.MAX_NUM}, got {num}")
    if not 1 <= batch_size <= checks.MAX_BATCH_SIZE:
        raise _fail(f"--batch-size must be >= 1 and at most {checks.MAX_BATCH_SIZE}, got {batch_size}")
    if audio_format not in AUDIO_FORMATS:
        raise _fail(f"--format must be one of {', '.join(AUDIO_FORMATS)}, got {audio_format!r}")
    _check_cfg_scale(cfg_scale)
    checks.check_seed(seed, num)
    dev = _check_common(seed, steps, sampler, device)
    stem = _safe_name(style) if style is not None else "any"
    checks.check_out_dir(out)
    suffixes = (f".{audio_format}", ".png") if plot else (f".{audio_format}",)
    existing = checks.existing_seed_outputs(out, stem, suffixes, seed, num)
    folders = [p for p in existing if p.is_dir()]
    if folders:
        raise _fail(f"{folders[0]} is a folder; a clip cannot replace it (move it or pick another --out)")
    if existing and not overwrite:
        shown = ", ".join(str(p) for p in existing[:5]) + (" ..." if len(existing) > 5 else "")
        raise _fail(f"{len(existing)} output file(s) exist ({shown}); pass --overwrite to replace them")
    pipeline = _load_pipeline(checkpoint, dev, style, lora)
    _check_min_seconds(pipeline, seconds)
    # at most MAX_SECONDS of audio per batch (one longest clip): memory stays bounded whatever
    # --batch-size says, and clips do not change (each has its own seed)
    batch_size = min(batch_size, max(1, int(MAX_SECONDS // seconds)))
    from audiogen.pipelines.longform import generate_long, is_long

    long = is_long(pipeline, pipeline.latent_frames_for(round(seconds * pipeline.sample_rate)))
    places = None
    for first in range(0, num, batch_size):
        count = min(batch_size, num - first)
        kwargs = dict(
            num=count, seed=seed + first, steps=steps, cfg_scale=cfg_scale, style=style, sampler=sampler
        )
        if long:
            result, places = generate_long(pipeline, seconds, **kwargs)
        else:
            result = pipeline(seconds, **kwargs)
        for i in range(count):
            k = seed + first + i
            path = out / f"{stem}_seed{k:06d}.{audio_format}"
            try:
                save_audio(path, result.waveforms[i], result.sample_rate)
                line = f"wrote {path} ({result.num_samples} samples, {result.seconds:.3f} s)"
                if plot:
                    title = (
                        f"{style or 'unconditional'}, seed {k}, "
                        f"{pipeline.resolve_steps(steps)} {sampler} steps, "
                        f"cfg {pipeline.resolve_cfg_scale(cfg_scale):g}"
                    )
                    save_mel_png(path.with_suffix(".png"), result.mels[i], pipeline.mel_config, title=title)
                    line += f" and {path.with_suffix('.png').name}"
            except (OSError, ValueError) as e:
                raise _fail(str(e), 1) from e
            typer.echo(line)
            if report:
                _report(result.waveforms[i], pipeline, places)
        typer.echo(
            f"  {count} clip(s) in {result.timings.total:.2f} s (denoise {result.timings.denoise:.2f} s, "
            f"decode {result.timings.decode:.2f} s, vocode {result.timings.vocode:.2f} s; "
            f"real-time factor {result.real_time_factor:.3f})"
        )
    allow_fast_exit()  # every clip is written and closed


def loop(
    bars: float = typer.Option(..., "--bars", help="Loop length in bars."),
    bpm: float = typer.Option(..., "--bpm", help="Tempo in beats per minute."),
    beats_per_bar: float = typer.Option(4.0, "--beats-per-bar", help="Beats per bar."),
    repeat: int = typer.Option(1, "--repeat", help="Write the loop this many times back to back."),
    out: Path = typer.Option(..., "--out", help="Audio file to write (.wav, .flac, ...)."),
    seed: int = SEED,
    steps: int | None = STEPS,
    cfg_scale: float | None = CFG_SCALE,
    style: str = STYLE,
    checkpoint: Path = CHECKPOINT,
    device: str = DEVICE,
    sampler: str = SAMPLER,
    fit: str = typer.Option(
        "mel",
        "--fit",
        help="mel: re-time the periodic mel to the nearest whole frame count, then resample the rest "
        "(pitch kept within a few cents); resample: resample the generated period (pitch shifts).",
    ),
    overwrite: bool = OVERWRITE,
    report: bool = REPORT,
    lora: list[str] = LORA,
) -> None:
    """Generate a seamless loop of exactly BARS bars at BPM and write it (tiled --repeat times) to OUT.

    Loops longer than one 10 s denoising window are denoised in windows spread round the circle and
    decoded and vocoded in chunks round it (audiogen.pipelines.longform.loop_long).

    The loop is periodic by construction (circular denoising and decoding), generated with the
    achievable period nearest to the exact length, then fitted to it: with --fit mel (default) the
    periodic mel is re-timed to the nearest whole number of frames (tempo changes by the printed
    stretch, pitch does not) and the last fraction of a hop is resampled (pitch ratio within
    hop / 2L, ±2.5 cents for a 4 s loop at 22050 Hz, hop 256); with --fit resample the generated
    period is resampled, shifting pitch by up to half the period granularity over the length
    (4096 samples for the default model: up to 2.3 % for a 4 s loop).
    """
    import math

    from audiogen.audio.io import save_audio
    from audiogen.pipelines.loop import loop_samples

    for name, value, (low, high) in (
        ("--bars", bars, (0.0, checks.MAX_BARS)),
        ("--bpm", bpm, checks.BPM_RANGE),
        ("--beats-per-bar", beats_per_bar, checks.BEATS_PER_BAR_RANGE),
    ):
        if not (math.isfinite(value) and value > 0 and low <= value <= high):
            span = f"(0, {high:g}]" if low == 0 else f"[{low:g}, {high:g}]"
            raise _fail(f"{name} must be a positive number in {span}, got {value}")
    if repeat < 1:
        raise _fail(f"--repeat must be >= 1, got {repeat}")
    if fit not in ("mel", "resample"):
        raise _fail(f"--fit must be mel or resample, got {fit!r}")
    _check_cfg_scale(cfg_scale)
    seconds = bars * beats_per_bar * 60.0 / bpm
    if seconds * repeat > MAX_SECONDS:
        raise _fail(
            f"{bars:g} bars at {bpm:g} bpm x {repeat} is {seconds * repeat:.4g} s; "
            f"the limit is {MAX_SECONDS:g} s"
        )
    dev = _check_common(seed, steps, sampler, device)
    _check_out_file(out, overwrite)
    pipeline = _load_pipeline(checkpoint, dev, style, lora)
    try:
        samples = loop_samples(bars, bpm, pipeline.sample_rate, beats_per_bar)
    except ValueError:
        samples = 0  # shorter than one sample: reported as shorter than the shortest loop below
    granularity = pipeline.length_multiple * pipeline.samples_per_latent_frame
    if samples < granularity:
        raise _fail(
            f"{bars:g} bars at {bpm:g} bpm is {samples} samples; this model's shortest loop is {granularity} "
            f"samples ({granularity / pipeline.sample_rate:.3f} s)"
        )
    from audiogen.pipelines.longform import is_long, loop_long

    kwargs = dict(
        repeat=repeat, seed=seed, steps=steps, cfg_scale=cfg_scale, style=style, sampler=sampler, fit=fit
    )
    places = None
    if is_long(pipeline, pipeline.loop_latent_frames(samples)):
        result, places = loop_long(pipeline, samples, **kwargs)
    else:
        result = pipeline.loop(samples=samples, **kwargs)
    try:
        save_audio(out, result.waveforms[0], result.sample_rate)
    except (OSError, ValueError) as e:
        raise _fail(str(e), 1) from e
    sr = result.sample_rate
    typer.echo(
        f"loop: {samples} samples = {samples / sr:.6f} s at {sr} Hz "
        f"({bars:g} bars of {beats_per_bar:g} beats at {bpm:g} bpm)"
    )
    typer.echo(
        f"wrote {out}: {repeat} x {samples} = {result.num_samples} samples "
        f"= {result.num_samples / sr:.6f} s; "
        f"generated period {result.period_samples} samples, tempo stretch {result.stretch_ratio:.5f}, "
        f"pitch ratio {result.pitch_ratio:.5f} ({1200 * math.log2(result.pitch_ratio):+.1f} cents)"
    )
    if report and places is not None:  # window boundaries in period samples, joints in vocoded samples
        from audiogen.pipelines.longform import LongReportPlaces

        scale = samples / result.period_samples
        joints = [p * result.period_samples / result.vocoded_samples for p in places.vocoder_joints]
        _report(
            result.waveforms[0, :, :samples],
            pipeline,
            LongReportPlaces(places.window_boundaries, joints),
            scale,
        )
    elif report:
        _report(result.waveforms[0], pipeline, None)
    allow_fast_exit()


def variation(
    audio: Path = typer.Argument(..., help="Audio file to vary."),
    strength: float = typer.Option(0.5, "--strength", help="0 = reconstruct the input, 1 = a new clip."),
    out: Path = typer.Option(..., "--out", help="Audio file to write (.wav, .flac, ...)."),
    seed: int = SEED,
    steps: int | None = STEPS,
    cfg_scale: float | None = CFG_SCALE,
    style: str = STYLE,
    checkpoint: Path = CHECKPOINT,
    device: str = DEVICE,
    sampler: str = SAMPLER,
    overwrite: bool = OVERWRITE,
    lora: list[str] = LORA,
) -> None:
    """Write a variation of AUDIO to OUT: encode, noise to --strength, denoise, decode, vocode (SDEdit).

    The input is mixed to mono and resampled to the model's rate; the output has its duration.
    Its length is checked from the header before anything is decoded or loaded, and it is decoded
    straight to mono at the model's rate (streamed), so memory does not grow with its channel
    count or sample rate.
    """
    from audiogen.audio.io import AudioLoadError, load_audio, save_audio

    if not 0.0 <= strength <= 1.0:
        raise _fail(f"--strength must be in [0, 1], got {strength}")
    _check_cfg_scale(cfg_scale)
    if not audio.is_file():
        raise _fail(f"{audio}: no such file")
    check_input_audio(audio)
    dev = _check_common(seed, steps, sampler, device)
    _check_out_file(out, overwrite)
    pipeline = _load_pipeline(checkpoint, dev, style, lora)
    try:
        clip = load_audio(audio, sample_rate=pipeline.sample_rate, channels=1)
    except AudioLoadError as e:
        raise _fail(str(e)) from e
    try:
        result = pipeline.variation(
            clip.waveform,
            clip.sample_rate,
            strength=strength,
            seed=seed,
            steps=steps,
            cfg_scale=cfg_scale,
            style=style,
            sampler=sampler,
        )
    except ValueError as e:
        raise _fail(f"{audio}: {e}") from e
    try:
        save_audio(out, result.waveforms[0], result.sample_rate)
    except (OSError, ValueError) as e:
        raise _fail(str(e), 1) from e
    typer.echo(
        f"wrote {out}: {result.num_samples} samples = {result.seconds:.3f} s at {result.sample_rate} Hz "
        f"(strength {strength:g}, seed {seed})"
    )
    allow_fast_exit()
