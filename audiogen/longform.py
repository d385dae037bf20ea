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

Decoding and vocoding long latents run in chunks as well:

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

#: Denoising window in seconds (the default clip length; the bundled denoiser trained on 5 s crops).
WINDOW_SECONDS = 10.0
#: Mel frames per vocoder chunk (1024 frames = 11.9 s at 22050 Hz, hop 256).
VOCODER_CHUNK_FRAMES = 1024
#: Extra mel frames of context each side of a vocoder chunk.
VOCODER_CONTEXT_FRAMES = 32
#: Mel frames of the crossfade between vocoder chunks.
VOCODER_FADE_FRAMES = 16
#: Latent frames per decoder chunk (without its context).
DECODER_CHUNK_FRAMES = 256


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
    :mod:`audiogen.models.diffusion` take it in place of the denoiser. Latents of at most ``size``
    frames go to the denoiser unchanged. With ``circular=True`` windows wrap round the end of the
    latent (each window is denoised without wrap-around padding; the circle closes through the
    fusion).

    Attributes:
        denoiser: the :class:`~audiogen.models.diffusion.LatentDenoiser`.
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
# chunked decoding and vocoding
# ------------------------------------------------------------------------------------------------


def _chunk_index(start: int, stop: int, total: int, circular: bool, device: torch.device) -> torch.Tensor:
    index = torch.arange(start, stop, device=device)
    return index % total if circular else index.clamp(0, total - 1)


@torch.no_grad()
def decode_chunked(
    pipe: Any, latent: torch.Tensor, chunk: int = DECODER_CHUNK_FRAMES, circular: bool = False
) -> torch.Tensor:
    """Decode ``latent (batch, latent_dim, frames)`` → mel ``(batch, n_mels, frames * td)`` in chunks.

    ``td`` is ``time_downsample``.

    Each chunk of ``chunk`` latent frames is decoded with ``pipe.decoder_context`` frames of context
    each side (the decoder's reach; cut at the clip's ends, or wrapped with ``circular``), and its
    middle kept: the result equals one-piece decoding (``pipe.autoencoder.decode`` or
    ``pipe.decode_circular``) up to float rounding.
    """
    total = latent.shape[-1]
    if total <= chunk:
        return pipe.decode_circular(latent) if circular else pipe.autoencoder.decode(latent)
    k, td = pipe.decoder_context, pipe.time_downsample
    parts = []
    for start in range(0, total, chunk):
        stop = min(start + chunk, total)
        lo, hi = (start - k, stop + k) if circular else (max(0, start - k), min(total, stop + k))
        mel = pipe.autoencoder.decode(latent[..., _chunk_index(lo, hi, total, circular, latent.device)])
        parts.append(mel[..., (start - lo) * td : (stop - lo) * td].float())
    return torch.cat(parts, dim=-1)


def _equal_power(n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Fade-out and fade-in gains ``(n,)`` with ``out² + in² = 1``."""
    u = (torch.arange(n, device=device, dtype=torch.float32) + 0.5) / n
    return torch.cos(0.5 * math.pi * u), torch.sin(0.5 * math.pi * u)


@torch.no_grad()
def vocode_chunked(
    pipe: Any,
    mel: torch.Tensor,
    chunk: int = VOCODER_CHUNK_FRAMES,
    context: int = VOCODER_CONTEXT_FRAMES,
    fade: int = VOCODER_FADE_FRAMES,
    circular: bool = False,
) -> tuple[torch.Tensor, list[int]]:
    """Vocode ``mel (batch, n_mels, M)`` → ``(batch, 1, M * hop_length)`` in overlapping chunks.

    Chunk ``j`` renders the mel frames ``[j * chunk - fade / 2, (j + 1) * chunk + fade / 2)`` with
    ``context`` more frames each side (cut at the clip's ends or wrapped with ``circular``); the
    chunks are joined by a crossfade of ``fade * hop_length`` samples centred on each joint. A mel of
    at most ``chunk + 2 * context`` frames is vocoded in one piece (``pipe.vocoder`` or
    ``pipe.vocode_circular``).

    A vocoder with Griffin-Lim phase retrieval (one with ``analyse(mel, init=...)``,
    :class:`~audiogen.models.vocoder.GLRefineVocoder`) renders the chunks one after another, each
    starting its Griffin-Lim iterations from the previous chunk's phase on the frames they share
    (and, round a circle, the last chunk also from the first chunk's), so neighbouring chunks agree
    where they overlap and the crossfade is linear; other vocoders' chunks have independent phases
    and are joined with an equal-power crossfade.

    Returns:
        the waveform and the joints (sample positions; a circular joint at 0 included).
    """
    frames = mel.shape[-1]
    if frames <= chunk + 2 * context:
        wav = pipe.vocode_circular(mel) if circular else pipe.vocoder(mel)
        return wav.float(), []
    hop, half = pipe.hop_length, fade // 2
    count = math.ceil(frames / chunk)
    if not circular and frames - (count - 1) * chunk < fade:  # a last chunk shorter than the fade
        count -= 1
    joints = [j * chunk for j in range(0 if circular else 1, count)]
    out = torch.zeros(mel.shape[0], 1, frames * hop, device=mel.device)
    coherent = callable(getattr(pipe.vocoder, "analyse", None)) and callable(
        getattr(pipe.vocoder, "griffin_lim_spectrum", None)
    )
    if coherent:
        fade_in = (torch.arange(fade * hop, device=mel.device, dtype=torch.float32) + 0.5) / (fade * hop)
        fade_out = 1 - fade_in
    else:
        fade_out, fade_in = _equal_power(fade * hop, mel.device)
    rendered: list[tuple[torch.Tensor, torch.Tensor]] = []  # (absolute frame index, GL spectrum)
    for j in range(count):
        start, stop = j * chunk, frames if (j == count - 1 and not circular) else (j + 1) * chunk
        lo = start - half if (circular or j > 0) else 0
        hi = stop + half if (circular or j < count - 1) else frames
        clo, chi = (
            (lo - context, hi + context) if circular else (max(0, lo - context), min(frames, hi + context))
        )
        index = _chunk_index(clo, chi, frames, circular, mel.device)
        part = mel[..., index]
        if coherent:
            init = None
            for known_index, spectrum in rendered:  # the previous chunk, and round a circle the first
                match = (index[:, None] == known_index[None, :]).nonzero()
                if len(match):
                    if init is None:
                        init = torch.zeros(
                            *spectrum.shape[:2], len(index), dtype=spectrum.dtype, device=mel.device
                        )
                    init[..., match[:, 0]] = spectrum[..., match[:, 1]]
            result = pipe.vocoder.analyse(part, init=init)
            wav = result.waveform.float()
            if j == 0:
                first = (index, result.gl_spectrum)
            rendered = ([first] if circular and j > 0 else []) + [(index, result.gl_spectrum)]
        else:
            wav = pipe.vocoder(part).float()
        piece = wav[..., (lo - clo) * hop : (hi - clo) * hop].clone()
        if lo != start:
            piece[..., : fade * hop] *= fade_in
        if hi != stop:
            piece[..., -fade * hop :] *= fade_out
        positions = torch.arange(lo * hop, hi * hop, device=mel.device) % (frames * hop)
        out.index_add_(-1, positions, piece)
    return out, [j * hop for j in joints]


# ------------------------------------------------------------------------------------------------
# long generation
# ------------------------------------------------------------------------------------------------


def is_long(pipe: Any, latent_frames: int, window_seconds: float = WINDOW_SECONDS) -> bool:
    """Whether ``latent_frames`` is longer than one denoising window (then windows are used)."""
    return latent_frames > windowed(pipe, window_seconds).size


@dataclass
class LongReportPlaces:
    """Where a long generation has joints, in output samples (for :func:`audiogen.editing.boundary_report`).

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
    steps: int = 25,
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
        a :class:`~audiogen.pipeline.GenerationResult` (``waveforms (num, 1, round(seconds *
        sample_rate))``) and the :class:`LongReportPlaces` of its joints.

    Raises:
        ValueError: as :meth:`AudioGenPipeline.__call__`.
    """
    from audiogen.models.diffusion import make_sampler, sample_latents
    from audiogen.pipeline import GenerationResult, StageTimings, _sync

    pipe._check_seconds(seconds)
    cfg_scale = pipe.resolve_cfg_scale(cfg_scale)
    pipe._check_common(num, steps, cfg_scale, seed)
    label = pipe.style_label(style)
    num_samples = round(seconds * pipe.sample_rate)
    if num_samples < 1:
        raise ValueError(f"seconds={seconds} is shorter than one sample at {pipe.sample_rate} Hz")
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
    steps: int = 25,
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
        a :class:`~audiogen.pipeline.LoopResult` (``waveforms (1, 1, repeat * samples)``) and the
        :class:`LongReportPlaces` of one period (window boundaries and vocoder joints, in samples
        of the generated period before fitting).

    Raises:
        ValueError: as :meth:`AudioGenPipeline.loop`.
    """
    from einops import repeat as einops_repeat

    from audiogen.loops import periodic_resample, periodic_stretch
    from audiogen.models.diffusion import make_sampler, sample_latents
    from audiogen.pipeline import LoopResult, StageTimings, _sync

    if samples < 1 or repeat < 1 or fit not in ("mel", "resample"):
        raise ValueError(
            f"need samples >= 1, repeat >= 1 and fit mel or resample; got {samples}, {repeat}, {fit!r}"
        )
    cfg_scale = pipe.resolve_cfg_scale(cfg_scale)
    pipe._check_common(1, steps, cfg_scale, seed)
    label = pipe.style_label(style)
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
        pitch_ratio=one_period.shape[-1] / samples,
        stretch_ratio=one_period.shape[-1] / period,
        fit=fit,
        repeat=repeat,
    )
    spl = pipe.samples_per_latent_frame
    return result, LongReportPlaces([b * spl for b in denoiser.boundaries], joints)
