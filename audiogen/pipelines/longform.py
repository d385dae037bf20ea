"""Long audio in bounded memory: windowed denoising (MultiDiffusion), chunked decoding and vocoding.

The latent denoiser was trained on 5 s crops and its self-attention spans the whole input, so one
forward pass over a 10-minute latent (12,920 frames for the bundled model) costs time and memory
that grow with the square of the length, on a length it never saw in training. Long latents are
therefore denoised in overlapping windows that share their context at every step, after
MultiDiffusion (Bar-Tal et al., 2023, "MultiDiffusion: Fusing Diffusion Paths for Controlled Image
Generation"): at every sampler step the denoiser runs on each window, and the predictions are fused
into one prediction for the whole latent by a weighted average of the windows that cover each
frame (trapezoid weights: 1 inside a window, falling linearly over the ``overlap`` frames at a
window edge that another window covers). The sampler then takes one step on the whole latent.
The samplers' update is elementwise in the prediction (DPM-Solver++, DDIM and Euler all are), so
this equals MultiDiffusion's average of per-window steps. Every window boundary is crossed by the
neighbouring window at every step, so no boundary is ever denoised on its own, and time and memory
grow linearly with length (windows are run ``batch_windows`` at a time).

The fused average is computed as a running weighted mean, ``m += (w / W) * (p - m)`` per window in
order (``W`` the weights so far), so where every window predicts the same value the result is that
value exactly: with a denoiser that is the identity, windowed and unwindowed sampling agree bit for
bit (tested).

Decoding and vocoding long latents run in chunks as well (:mod:`audiogen.pipelines.windows`,
re-exported here):

* :func:`decode_chunked`: the VAE decoder is convolutional with a bounded reach
  (:attr:`AudioGenPipeline.decoder_context` latent frames), so each chunk is decoded with that much
  latent context on each side and the middle kept: the same mel as decoding in one piece, up to
  float rounding.
* :func:`vocode_chunked`: the bundled vocoder's Griffin-Lim stage couples every frame to every
  other one, so no finite context reproduces the one-piece output; chunks are vocoded one after
  another with ``context`` extra mel frames each side, each chunk's Griffin-Lim starting from the
  previous chunk's phase on the frames they share, and joined with a linear crossfade over
  ``fade`` frames (with independent random starting phases the joints stood out: see
  docs/generation.md).

Both also work around a circle (seamless loops: chunk indices wrap).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from einops import rearrange
from torch import nn

from audiogen.pipelines.windows import (  # re-exported: part of the long-form API
    DECODER_CHUNK_FRAMES,
    VOCODER_CHUNK_FRAMES,
    VOCODER_CONTEXT_FRAMES,
    VOCODER_FADE_FRAMES,
    decode_chunked,
    vocode_chunked,
)

__all__ = [
    "DECODER_CHUNK_FRAMES",
    "VOCODER_CHUNK_FRAMES",
    "VOCODER_CONTEXT_FRAMES",
    "VOCODER_FADE_FRAMES",
    "WINDOW_SECONDS",
    "LongReportPlaces",
    "WindowedDenoiser",
    "decode_chunked",
    "generate_long",
    "is_long",
    "loop_long",
    "vocode_chunked",
    "window_starts",
    "window_weights",
    "windowed",
]

#: Denoising window in seconds (the default clip length; the bundled denoiser trained on 5 s crops).
WINDOW_SECONDS = 10.0


# ------------------------------------------------------------------------------------------------
# windows
# ------------------------------------------------------------------------------------------------


def window_starts(
    total: int, size: int, overlap: int, multiple: int = 1, circular: bool = False
) -> list[int]:
    """First frame of each denoising window over ``total`` latent frames.

    Windows are ``size`` frames long and overlap their neighbours by at least ``overlap`` frames;
    starts are multiples of ``multiple`` where the length allows. Non-circular: the first starts at
    0, the last ends at ``total``. Circular: windows are spread evenly round the circle (a window
    may run past the end and wrap). ``total <= size`` gives one window, ``[0]``.

    Raises:
        ValueError: ``size < 1``, ``overlap`` outside ``[0, size / 2]``, or ``multiple < 1``.
    """
    if size < 1 or multiple < 1 or not 0 <= overlap <= size // 2:
        raise ValueError(f"window size {size}, overlap {overlap} (<= size / 2), multiple {multiple}")
    if total <= size:
        return [0]
    stride = size - overlap
    if circular:
        count = math.ceil(total / max(1, stride - multiple))
        return [round(i * total / count / multiple) * multiple % total for i in range(count)]
    count = math.ceil((total - size) / max(1, stride - multiple)) + 1  # rounded starts stay <= stride apart
    starts = [
        min(round(i * (total - size) / (count - 1) / multiple) * multiple, total - size) for i in range(count)
    ]
    return sorted(set(starts))


def window_weights(size: int, overlap: int, left_edge: bool, right_edge: bool) -> torch.Tensor:
    """Trapezoid weights ``(size,)`` of one window: 1 inside, falling linearly over ``overlap`` frames.

    The side that is the clip's own edge (``left_edge`` / ``right_edge``) keeps weight 1 up to the
    end. All weights are > 0.
    """
    f = torch.arange(size, dtype=torch.float32) + 0.5
    w = torch.ones(size)
    if overlap > 0:
        if not left_edge:
            w = torch.minimum(w, f / overlap)
        if not right_edge:
            w = torch.minimum(w, (size - f) / overlap)
    return w


@dataclass
class WindowedDenoiser:
    """A denoiser that runs ``denoiser`` on overlapping windows and fuses the predictions (MultiDiffusion).

    It has the denoiser's call signature, ``(latent (batch, latent_dim, frames), timestep, labels,
    circular) → prediction (batch, latent_dim, frames)``, and its ``config``, so the samplers of
    :mod:`audiogen.pipelines.denoise` take it in place of the denoiser. Latents of at most ``size``
    frames go to the denoiser unchanged. With ``circular=True`` windows wrap round the end of the
    latent (each window is denoised without wrap-around padding; the circle closes through the
    fusion).

    Attributes:
        denoiser: the :class:`~audiogen.models.denoiser.LatentDenoiser`.
        size: window length in latent frames.
        overlap: minimum overlap of neighbouring windows in latent frames (``<= size / 2``).
        batch_windows: windows per forward pass (bounds memory).
        boundaries: after a call, the latent frames where the windows' inner edges lay (the middle
            of each overlap), for reports.
    """

    denoiser: nn.Module
    size: int
    overlap: int
    batch_windows: int = 4
    boundaries: list[int] = field(default_factory=list)

    @property
    def config(self) -> Any:
        """The wrapped denoiser's config."""
        return self.denoiser.config

    def parameters(self):
        """The wrapped denoiser's parameters (the samplers read the device from them)."""
        return self.denoiser.parameters()

    def __call__(
        self,
        latent: torch.Tensor,
        timestep: torch.Tensor | float,
        labels: torch.Tensor | None = None,
        circular: bool = False,
    ) -> torch.Tensor:
        """Fused prediction ``(batch, latent_dim, frames)`` for ``latent (batch, latent_dim, frames)``."""
        batch, _, total = latent.shape
        if total <= self.size:
            return self.denoiser(latent, timestep, labels, circular=circular)
        m = self.denoiser.config.length_multiple
        starts = window_starts(total, self.size, self.overlap, m, circular)
        t = torch.as_tensor(timestep, device=latent.device).reshape(-1)
        t = t.expand(batch) if t.numel() == 1 else t
        fused = torch.zeros(latent.shape, dtype=torch.float32, device=latent.device)
        weight_sum = torch.zeros(total, dtype=torch.float32, device=latent.device)
        self.boundaries = []
        for first in range(0, len(starts), self.batch_windows):
            group = starts[first : first + self.batch_windows]
            index = torch.stack(
                [(s + torch.arange(self.size, device=latent.device)) % total for s in group]
            )  # (windows, size)
            windows = rearrange(latent[..., index], "b c n s -> (n b) c s")
            window_labels = None if labels is None else labels.repeat(len(group))
            pred = self.denoiser(windows, t.repeat(len(group)), window_labels, circular=False).float()
            pred = rearrange(pred, "(n b) c s -> n b c s", n=len(group))
            for i, start in enumerate(group):
                left = not circular and start == 0
                right = not circular and start + self.size == total
                w = window_weights(self.size, self.overlap, left, right).to(latent.device)
                idx = index[i]
                new_sum = weight_sum[idx] + w
                current = fused[..., idx]
                fused[..., idx] = current + (w / new_sum) * (pred[i] - current)
                weight_sum[idx] = new_sum
        for a, b in zip(starts, starts[1:] + ([starts[0] + total] if circular else []), strict=False):
            self.boundaries.append(((a + self.size + b) // 2) % total)
        return fused


def windowed(
    pipe: Any,
    window_seconds: float = WINDOW_SECONDS,
    overlap_seconds: float | None = None,
    batch_windows: int = 4,
) -> WindowedDenoiser:
    """A :class:`WindowedDenoiser` for ``pipe``'s denoiser; window and overlap rounded to ``length_multiple``.

    ``overlap_seconds`` defaults to ``window_seconds / 4`` (2.5 s for the 10 s default window).

    Raises:
        ValueError: an overlap outside ``[0, window_seconds / 2]``.
    """
    m = pipe.length_multiple
    frames_per_second = pipe.sample_rate / pipe.samples_per_latent_frame
    if overlap_seconds is None:
        overlap_seconds = window_seconds / 4
    if not 0 <= overlap_seconds <= window_seconds / 2:
        raise ValueError(f"overlap {overlap_seconds} s must be in [0, half the window ({window_seconds} s)]")
    size = max(2 * m, round(window_seconds * frames_per_second / m) * m)
    overlap = min(size // 2, round(overlap_seconds * frames_per_second / m) * m)
    return WindowedDenoiser(pipe.denoiser, size, overlap, batch_windows)


# ------------------------------------------------------------------------------------------------
# long generation
# ------------------------------------------------------------------------------------------------


def is_long(pipe: Any, latent_frames: int, window_seconds: float = WINDOW_SECONDS) -> bool:
    """Whether ``latent_frames`` is longer than one denoising window (then windows are used)."""
    return latent_frames > windowed(pipe, window_seconds).size


@dataclass
class LongReportPlaces:
    """Where a long generation has joints, in output samples (for :mod:`audiogen.evaluation.boundaries`).

    Attributes:
        window_boundaries: the middle of each denoising-window overlap.
        vocoder_joints: the centres of the vocoder chunks' crossfades.
    """

    window_boundaries: list[int]
    vocoder_joints: list[int]


@torch.no_grad()
def generate_long(
    pipe: Any,
    seconds: float,
    num: int = 1,
    seed: int = 0,
    steps: int | None = None,
    cfg_scale: float | None = None,
    style: str | None = None,
    sampler: str = "dpm++",
    progress: bool = True,
    window_seconds: float = WINDOW_SECONDS,
    overlap_seconds: float | None = None,
) -> tuple[Any, LongReportPlaces]:
    """``pipe(seconds, ...)`` for any length in memory that does not grow with it (besides the output).

    Denoises with a :class:`WindowedDenoiser` (clips of at most one window are denoised as
    :meth:`AudioGenPipeline.__call__` does), then decodes with :func:`decode_chunked` and vocodes
    with :func:`vocode_chunked`. Seeds as :meth:`AudioGenPipeline.__call__`.

    Returns:
        a :class:`~audiogen.pipelines.outputs.GenerationResult` (``waveforms (num, 1, round(seconds *
        sample_rate))``) and the :class:`LongReportPlaces` of its joints.

    Raises:
        ValueError: as :meth:`AudioGenPipeline.__call__`.
    """
    from audiogen.pipelines.denoise import sample_latents
    from audiogen.pipelines.outputs import GenerationResult, StageTimings, _sync
    from audiogen.samplers.factory import make_sampler

    steps = pipe.resolve_steps(steps)
    cfg_scale, label = pipe.check_inputs(seconds, num, steps, cfg_scale, seed, style, sampler)
    num_samples = round(seconds * pipe.sample_rate)
    device, timings = pipe.device, StageTimings()
    denoiser = windowed(pipe, window_seconds, overlap_seconds)
    start = time.perf_counter()
    latents = sample_latents(
        denoiser,
        make_sampler(sampler, pipe.scheduler),
        (num, pipe.denoiser.config.latent_dim, pipe.latent_frames_for(num_samples)),
        labels=label,
        cfg_scale=cfg_scale,
        generator=pipe._generators(seed, num),
        progress=progress,
        num_inference_steps=steps,
    )
    _sync(device)
    t1 = time.perf_counter()
    mel = decode_chunked(pipe, latents)
    _sync(device)
    t2 = time.perf_counter()
    waveforms, joints = vocode_chunked(pipe, mel)
    waveforms = waveforms[..., :num_samples]
    _sync(device)
    t3 = time.perf_counter()
    timings.denoise, timings.decode, timings.vocode, timings.total = t1 - start, t2 - t1, t3 - t2, t3 - start
    frames = min(mel.shape[-1], num_samples // pipe.hop_length + 1)
    result = GenerationResult(
        waveforms=waveforms.cpu(),
        sample_rate=pipe.sample_rate,
        latents=latents.float().cpu(),
        mels=mel[..., :frames].cpu(),
        seeds=[seed + i for i in range(num)],
        style=style,
        timings=timings,
    )
    spl = pipe.samples_per_latent_frame
    places = LongReportPlaces(
        window_boundaries=[b * spl for b in denoiser.boundaries if 0 < b * spl < num_samples],
        vocoder_joints=[j for j in joints if 0 < j < num_samples],
    )
    return result, places


@torch.no_grad()
def loop_long(
    pipe: Any,
    samples: int,
    repeat: int = 1,
    seed: int = 0,
    steps: int | None = None,
    cfg_scale: float | None = None,
    style: str | None = None,
    sampler: str = "dpm++",
    progress: bool = True,
    fit: str = "mel",
    window_seconds: float = WINDOW_SECONDS,
) -> tuple[Any, LongReportPlaces]:
    """:meth:`AudioGenPipeline.loop` (one loop of ``samples`` samples) for long loops, in bounded memory.

    The circular latent is denoised in windows spread round the circle (:class:`WindowedDenoiser`
    with ``circular=True``), decoded with :func:`decode_chunked` and vocoded with
    :func:`vocode_chunked` around the circle (the end-to-start joint is one of the chunk joints);
    then fitted to ``samples`` and tiled as :meth:`AudioGenPipeline.loop` does.

    Returns:
        a :class:`~audiogen.pipelines.outputs.LoopResult` (``waveforms (1, 1, repeat * samples)``) and the
        :class:`LongReportPlaces` of one period (window boundaries and vocoder joints, in samples
        of the generated period before fitting).

    Raises:
        ValueError: as :meth:`AudioGenPipeline.loop`.
    """
    from einops import repeat as einops_repeat

    from audiogen.pipelines.denoise import sample_latents
    from audiogen.pipelines.loop import periodic_resample, periodic_stretch
    from audiogen.pipelines.outputs import LoopResult, StageTimings, _sync
    from audiogen.samplers.factory import make_sampler

    steps = pipe.resolve_steps(steps)
    cfg_scale, label = pipe.check_inputs(
        None, 1, steps, cfg_scale, seed, style, sampler, samples=samples, repeat=repeat, fit=fit
    )
    device, timings = pipe.device, StageTimings()
    latent_frames = pipe.loop_latent_frames(samples)
    period = latent_frames * pipe.samples_per_latent_frame
    denoiser = windowed(pipe, window_seconds)
    start = time.perf_counter()
    latents = sample_latents(
        denoiser,
        make_sampler(sampler, pipe.scheduler),
        (1, pipe.denoiser.config.latent_dim, latent_frames),
        labels=label,
        cfg_scale=cfg_scale,
        generator=pipe._generators(seed, 1),
        circular=True,
        progress=progress,
        num_inference_steps=steps,
    )
    _sync(device)
    t1 = time.perf_counter()
    mel = decode_chunked(pipe, latents, circular=True)
    if fit == "mel":
        mel = periodic_stretch(mel, max(1, round(samples / pipe.hop_length)))
    _sync(device)
    t2 = time.perf_counter()
    one_period, joints = vocode_chunked(pipe, mel, circular=True)
    _sync(device)
    t3 = time.perf_counter()
    waveforms = einops_repeat(periodic_resample(one_period, samples), "b c n -> b c (r n)", r=repeat)
    t4 = time.perf_counter()
    timings.denoise, timings.decode, timings.vocode = t1 - start, t2 - t1, t3 - t2
    timings.resample, timings.total = t4 - t3, t4 - start
    result = LoopResult(
        waveforms=waveforms.cpu(),
        sample_rate=pipe.sample_rate,
        latents=latents.float().cpu(),
        mels=mel.float().cpu(),
        seeds=[seed],
        style=style,
        timings=timings,
        loop_samples=samples,
        period_samples=period,
        vocoded_samples=one_period.shape[-1],
        fit=fit,
        repeat=repeat,
    )
    spl = pipe.samples_per_latent_frame
    return result, LongReportPlaces([b * spl for b in denoiser.boundaries], joints)
