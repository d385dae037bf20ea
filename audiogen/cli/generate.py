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

from pathlib import Path
from typing import Any

import typer

from audiogen.cli.exit import allow_fast_exit, on_interrupt
from audiogen.cli.options import (
    CHECKPOINT,
    DEVICE,
    LORA,
    OUT_FILE,
    OVERWRITE,
    SEEDS,
    check_out_file,
    load_pipeline,
    resolve_device,
    sampling_options,
    save,
)
from audiogen.errors import InputError, RunError
from audiogen.pipelines import checks
from audiogen.pipelines.checks import MAX_SECONDS, check_input_audio

AUDIO_FORMATS = ("wav", "flac")


def _check_min_seconds(pipeline: Any, seconds: float) -> None:
    """At least one latent frame of audio (checked once the model, which sets it, is loaded)."""
    shortest = pipeline.samples_per_latent_frame
    if round(seconds * pipeline.sample_rate) < shortest:
        raise InputError(
            f"--seconds must be at least one latent frame, {shortest / pipeline.sample_rate:.4g} s "
            f"({shortest} samples at {pipeline.sample_rate} Hz) for this model, got {seconds}"
        )


BATCH_SIZE_HELP = (
    "Clips per pipeline call, written together (at most 256, and at most 600 s of audio); each clip is "
    "computed on its own, so its file does not depend on this."
)
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


@sampling_options(seed=SEEDS)
def generate(
    seconds: float = typer.Option(
        10.0, "--seconds", metavar="SECONDS", help="Clip length in seconds, more than 0 and at most 600."
    ),
    num: int = typer.Option(1, "--num", metavar="N", help="Number of clips."),
    sampling: Any = None,
    out: Path = typer.Option(Path("generated"), "--out", metavar="DIR", help="Output folder."),
    checkpoint: Path = CHECKPOINT,
    device: str = DEVICE,
    audio_format: str = typer.Option("wav", "--format", metavar="FORMAT", help="Audio format: wav or flac."),
    plot: bool = typer.Option(False, "--plot", help="Also write each clip's log-mel spectrogram as a PNG."),
    batch_size: int = typer.Option(4, "--batch-size", metavar="N", help=BATCH_SIZE_HELP),
    overwrite: bool = OVERWRITE,
    report: bool = REPORT,
    lora: list[str] = LORA,
) -> None:
    """Generate NUM clips of SECONDS seconds into OUT, one file per seed: {style|any}_seed{K:06d}.wav.

    Clips longer than one 10 s denoising window are denoised in overlapping windows and decoded and
    vocoded in chunks (memory bounded, time linear in the length).
    """
    import dataclasses
    import math

    from audiogen.evaluation.plotting import save_mel_png

    if not (math.isfinite(seconds) and 0 < seconds <= MAX_SECONDS):
        raise InputError(f"--seconds must be in (0, {MAX_SECONDS:g}], got {seconds}")
    if not 1 <= num <= checks.MAX_NUM:
        raise InputError(f"--num must be >= 1 and at most {checks.MAX_NUM}, got {num}")
    if not 1 <= batch_size <= checks.MAX_BATCH_SIZE:
        raise InputError(f"--batch-size must be >= 1 and at most {checks.MAX_BATCH_SIZE}, got {batch_size}")
    if audio_format not in AUDIO_FORMATS:
        raise InputError(f"--format must be one of {', '.join(AUDIO_FORMATS)}, got {audio_format!r}")
    sampling.checked(num)
    seed, style = sampling.seed, sampling.style
    dev = resolve_device(device)
    stem = checks.style_stem(style)
    checks.check_out_dir(out)
    suffixes = (f".{audio_format}", ".png") if plot else (f".{audio_format}",)
    existing = checks.existing_seed_outputs(out, stem, suffixes, seed, num)
    folders = [p for p in existing if p.is_dir()]
    if folders:
        raise InputError(
            f"{folders[0]} is a folder; a clip cannot replace it (move it or pick another --out)"
        )
    if existing and not overwrite:
        shown = ", ".join(str(p) for p in existing[:5]) + (" ..." if len(existing) > 5 else "")
        raise InputError(f"{len(existing)} output file(s) exist ({shown}); pass --overwrite to replace them")
    pipeline = load_pipeline(checkpoint, dev, sampling, lora)
    _check_min_seconds(pipeline, seconds)
    # at most MAX_SECONDS of audio per batch (one longest clip): memory stays bounded whatever
    # --batch-size says, and clips do not change (each has its own seed)
    batch_size = min(batch_size, max(1, int(MAX_SECONDS // seconds)))
    on_interrupt(f"no clip was written to {out}; run the same command again")
    for first in range(0, num, batch_size):
        count = min(batch_size, num - first)
        result = pipeline(seconds, count, dataclasses.replace(sampling, seed=seed + first))
        for i in range(count):
            k = seed + first + i
            path = out / f"{checks.seed_file_stem(stem, k)}.{audio_format}"
            try:
                save(path, result.waveforms[i], result.sample_rate)
                line = f"wrote {path} ({result.num_samples} samples, {result.seconds:.3f} s)"
                if plot:
                    title = (
                        f"{style or 'unconditional'}, seed {k}, "
                        f"{pipeline.resolve_steps(sampling.steps)} {sampling.sampler} steps, "
                        f"cfg {pipeline.resolve_cfg_scale(sampling.cfg_scale):g}"
                    )
                    save_mel_png(path.with_suffix(".png"), result.mels[i], pipeline.mel_config, title=title)
                    line += f" and {path.with_suffix('.png').name}"
            except (OSError, ValueError) as e:  # the spectrogram
                raise RunError(str(e)) from e
            typer.echo(line)
            if k + 1 < seed + num:
                on_interrupt(
                    f"{out} keeps the {k + 1 - seed} clip(s) written (seeds {seed} to {k}), each complete; "
                    f"for the rest run the same command with --seed {k + 1} --num {seed + num - k - 1}"
                )
            if report:
                _report(result.waveforms[i], pipeline, result.joints)
        typer.echo(
            f"  {count} clip(s) in {result.timings.total:.2f} s (denoise {result.timings.denoise:.2f} s, "
            f"decode {result.timings.decode:.2f} s, vocode {result.timings.vocode:.2f} s; "
            f"real-time factor {result.real_time_factor:.3f})"
        )
    allow_fast_exit()  # every clip is written and closed


@sampling_options()
def loop(
    bars: float = typer.Option(..., "--bars", metavar="BARS", help="Loop length in bars."),
    bpm: float = typer.Option(..., "--bpm", metavar="BPM", help="Tempo in beats per minute."),
    beats_per_bar: float = typer.Option(4.0, "--beats-per-bar", metavar="BEATS", help="Beats per bar."),
    repeat: int = typer.Option(
        1, "--repeat", metavar="N", help="Write the loop this many times back to back."
    ),
    out: Path = OUT_FILE,
    sampling: Any = None,
    checkpoint: Path = CHECKPOINT,
    device: str = DEVICE,
    fit: str = typer.Option(
        "mel",
        "--fit",
        metavar="HOW",
        help="mel: re-time the periodic mel to the nearest whole frame count, then resample the rest "
        "(pitch kept within a few cents); resample: resample the generated period (pitch shifts).",
    ),
    overwrite: bool = OVERWRITE,
    report: bool = REPORT,
    lora: list[str] = LORA,
) -> None:
    """Generate a seamless loop of exactly BARS bars at BPM and write it (tiled --repeat times) to OUT.

    Loops longer than one 10 s denoising window are denoised in windows spread round the circle and
    decoded and vocoded in chunks round it.

    The loop is periodic by construction (circular denoising and decoding), generated with the
    achievable period nearest to the exact length, then fitted to it: with --fit mel (default) the
    periodic mel is re-timed to the nearest whole number of frames (tempo changes by the printed
    stretch, pitch does not) and the last fraction of a hop is resampled (pitch ratio within
    hop / 2L, a few cents); with --fit resample the generated period is resampled, shifting pitch
    by up to half the period granularity over the length. The printed ratios say how much.
    """
    import math

    from audiogen.pipelines.loop import check_loop_file, loop_samples

    checks.check_loop_length(bars, bpm, beats_per_bar, repeat)
    if fit not in ("mel", "resample"):
        raise InputError(f"--fit must be mel or resample, got {fit!r}")
    dev = resolve_device(device)
    try:
        check_loop_file(out)
    except ValueError as e:
        raise InputError(f"--out {e}") from e
    check_out_file(out, overwrite)
    pipeline = load_pipeline(checkpoint, dev, sampling, lora)
    try:
        samples = loop_samples(bars, bpm, pipeline.sample_rate, beats_per_bar)
    except ValueError:
        samples = 0  # shorter than one sample: reported as shorter than the shortest loop below
    granularity = pipeline.length_multiple * pipeline.samples_per_latent_frame
    if samples < granularity:
        raise InputError(
            f"{bars:g} bars at {bpm:g} bpm is {samples} samples; this model's shortest loop is {granularity} "
            f"samples ({granularity / pipeline.sample_rate:.3f} s)"
        )
    result = pipeline.loop(samples=samples, repeat=repeat, fit=fit, sampling=sampling)
    save(out, result.waveforms[0], result.sample_rate)
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
    places = result.joints
    if report and places is not None:  # window boundaries in period samples, joints in vocoded samples
        from audiogen.pipelines.outputs import LongReportPlaces

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


@sampling_options()
def variation(
    audio: Path = typer.Argument(..., metavar="AUDIO", help="Audio file to vary."),
    strength: float = typer.Option(
        0.5,
        "--strength",
        metavar="STRENGTH",
        help="How far from the input, 0 to 1: 0 = the input re-synthesised, 1 = a new clip.",
    ),
    out: Path = OUT_FILE,
    sampling: Any = None,
    checkpoint: Path = CHECKPOINT,
    device: str = DEVICE,
    overwrite: bool = OVERWRITE,
    lora: list[str] = LORA,
) -> None:
    """Write a variation of AUDIO to OUT: encode, noise to --strength, denoise, decode, vocode (SDEdit).

    The input is mixed to mono and resampled to the model's rate; the output has its duration.
    Its length is checked from the header before anything is decoded or loaded, and it is decoded
    straight to mono at the model's rate (streamed), so memory does not grow with its channel
    count or sample rate.
    """
    from audiogen.audio.io import AudioLoadError, load_audio

    if not 0.0 <= strength <= 1.0:
        raise InputError(f"--strength must be in [0, 1], got {strength}")
    if not audio.is_file():
        raise InputError(f"{audio}: no such file")
    check_input_audio(audio)
    dev = resolve_device(device)
    check_out_file(out, overwrite)
    pipeline = load_pipeline(checkpoint, dev, sampling, lora)
    try:
        clip = load_audio(audio, sample_rate=pipeline.sample_rate, channels=1)
    except AudioLoadError as e:
        raise InputError(str(e)) from e
    try:
        result = pipeline.variation(clip.waveform, clip.sample_rate, strength, sampling)
    except ValueError as e:
        raise InputError(f"{audio}: {e}") from e
    save(out, result.waveforms[0], result.sample_rate)
    typer.echo(
        f"wrote {out}: {result.num_samples} samples = {result.seconds:.3f} s at {result.sample_rate} Hz "
        f"(strength {strength:g}, seed {sampling.seed})"
    )
    allow_fast_exit()
