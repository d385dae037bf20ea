"""Long audio in bounded memory: windowed denoising (MultiDiffusion), chunked encoding, decoding, vocoding.

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

Encoding, decoding and vocoding long inputs run in chunks as well:

* :func:`encode_chunked`: the VAE encoder (strided convolutions, a bounded reach measured by
  :func:`encoder_context`) encodes chunks of the log-mel with context and keeps their middles: the
  same latent as one-piece encoding up to float rounding.
* :func:`decode_chunked`: the VAE decoder is convolutional with a bounded reach
  (:attr:`~audiogen.pipelines.stages.PipelineStages.decoder_context` latent frames), so each
  chunk is decoded with that much latent context on each side and the middle kept: the same mel
  as decoding in one piece, up to float rounding.
* :func:`vocode_chunked`: the bundled vocoder's Griffin-Lim stage couples every frame to every
  other one, so no finite context reproduces the one-piece output; chunks are vocoded one after
  another with ``context`` extra mel frames each side, each chunk's Griffin-Lim starting from the
  previous chunk's phase on the frames they share, and joined with a linear crossfade over
  ``fade`` frames (with independent random starting phases the joints stood out: see
  docs/generation.md).

Both also work around a circle (seamless loops: chunk indices wrap).

:meth:`AudioGenPipeline.__call__ <audiogen.pipelines.audiogen.AudioGenPipeline.__call__>` and
:meth:`~audiogen.pipelines.audiogen.AudioGenPipeline.loop` use these for every length (a latent
within one window, a mel within one chunk, is run in one piece); the helpers take the
:class:`~audiogen.pipelines.stages.PipelineStages` whose models they run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from einops import rearrange
from torch import nn

if TYPE_CHECKING:
    from audiogen.pipelines.stages import PipelineStages

#: Mel frames per vocoder chunk (1024 frames = 11.9 s at 22050 Hz, hop 256).
VOCODER_CHUNK_FRAMES = 1024
#: Extra mel frames of context each side of a vocoder chunk.
VOCODER_CONTEXT_FRAMES = 32
#: Mel frames of the crossfade between vocoder chunks.
VOCODER_FADE_FRAMES = 16
#: Latent frames per decoder chunk (without its context).
DECODER_CHUNK_FRAMES = 256


#: Denoising window in seconds (the default clip length; the bundled denoiser trained on 5 s crops).
WINDOW_SECONDS = 10.0


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

    def __call__(self, latent: torch.Tensor, timestep: Any, labels: Any = None, circular: bool = False):
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
    stages: PipelineStages,
    window_seconds: float = WINDOW_SECONDS,
    overlap_seconds: float | None = None,
    batch_windows: int = 4,
) -> WindowedDenoiser:
    """A :class:`WindowedDenoiser` of the stages' denoiser; window and overlap rounded to length_multiple.

    ``overlap_seconds`` defaults to ``window_seconds / 4`` (2.5 s for the 10 s default window).

    Raises:
        ValueError: an overlap outside ``[0, window_seconds / 2]``.
    """
    m = stages.length_multiple
    frames_per_second = stages.sample_rate / stages.samples_per_latent_frame
    if overlap_seconds is None:
        overlap_seconds = window_seconds / 4
    if not 0 <= overlap_seconds <= window_seconds / 2:
        raise ValueError(f"overlap {overlap_seconds} s must be in [0, half the window ({window_seconds} s)]")
    size = max(2 * m, round(window_seconds * frames_per_second / m) * m)
    overlap = min(size // 2, round(overlap_seconds * frames_per_second / m) * m)
    return WindowedDenoiser(stages.denoiser, size, overlap, batch_windows)


def _chunk_index(start: int, stop: int, total: int, circular: bool, device: torch.device) -> torch.Tensor:
    index = torch.arange(start, stop, device=device)
    return index % total if circular else index.clamp(0, total - 1)


@torch.no_grad()
def decode_chunked(
    stages: PipelineStages, latent: torch.Tensor, chunk: int | None = None, circular: bool = False
) -> torch.Tensor:
    """Decode ``latent (batch, latent_dim, frames)`` → mel ``(batch, n_mels, frames * td)`` in chunks.

    ``td`` is ``time_downsample``; ``chunk`` defaults to :data:`DECODER_CHUNK_FRAMES`.

    Each chunk of ``chunk`` latent frames is decoded with ``stages.decoder_context`` frames of context
    each side (the decoder's reach; cut at the clip's ends, or wrapped with ``circular``), and its
    middle kept: the result equals one-piece decoding (``stages.autoencoder.decode`` or
    ``stages.decode_circular``) up to float rounding.
    """
    chunk = DECODER_CHUNK_FRAMES if chunk is None else chunk
    total = latent.shape[-1]
    if total <= chunk:
        return stages.decode_circular(latent) if circular else stages.autoencoder.decode(latent)
    k, td = stages.decoder_context, stages.time_downsample
    parts = []
    for start in range(0, total, chunk):
        stop = min(start + chunk, total)
        lo, hi = (start - k, stop + k) if circular else (max(0, start - k), min(total, stop + k))
        mel = stages.autoencoder.decode(latent[..., _chunk_index(lo, hi, total, circular, latent.device)])
        parts.append(mel[..., (start - lo) * td : (stop - lo) * td].float())
    return torch.cat(parts, dim=-1)


def encoder_context(encoder: nn.Module) -> int:
    """Receptive-field radius of a strided convolutional encoder, in input (mel) frames.

    Walks ``encoder.modules()`` in definition order (the forward order of the project's
    ``nn.Sequential`` encoders); every ``nn.Conv1d`` adds its whole extent
    ``dilation * (kernel_size - 1)`` at the current input stride (an upper bound that also covers
    unpadded strided convolutions), then multiplies the stride by its own. Pointwise layers add
    nothing.

    Returns:
        ``ceil(radius) + 1`` input frames.

    Raises:
        ValueError: for a layer whose reach cannot be bounded this way (transposed convolution,
            2-D convolution, attention, recurrence).
    """
    radius, stride = 0, 1
    for m in encoder.modules():
        if isinstance(m, nn.Conv1d):
            radius += m.dilation[0] * (m.kernel_size[0] - 1) * stride
            stride *= m.stride[0]
        elif isinstance(m, nn.ConvTranspose1d | nn.MultiheadAttention | nn.RNNBase | nn.Conv2d):
            raise ValueError(f"encoder_context: cannot bound the receptive field of {type(m).__name__}")
    return radius + 1


@torch.no_grad()
def encode_chunked(stages: PipelineStages, mel: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """Encode ``mel (batch, n_mels, frames)`` → latent ``(batch, latent_dim, latent_frames)`` in chunks.

    The posterior mean, as ``stages.autoencoder.encode(mel)``. Each chunk of ``chunk`` latent frames
    (``chunk * time_downsample`` mel frames) is encoded with :func:`encoder_context` mel frames of
    context each side, rounded up to whole latent frames (cut at the clip's ends), and its middle
    kept. The chunk edges fall on latent-frame boundaries and the last chunk reaches the end of the
    mel, so the encoder's end padding is the one-piece encoding's: the result equals it up to float
    rounding, with memory bounded by the chunk size.
    """
    chunk = DECODER_CHUNK_FRAMES if chunk is None else chunk
    ae, td = stages.autoencoder, stages.time_downsample
    total = ae.latent_frames(mel.shape[-1])
    if total <= chunk:
        return ae.encode(mel)
    k = math.ceil(encoder_context(getattr(ae, "encoder", ae)) / td)
    parts = []
    for start in range(0, total, chunk):
        stop = min(start + chunk, total)
        lo, hi = max(0, start - k), min(total, stop + k)
        latent = ae.encode(mel[..., lo * td : hi * td])
        parts.append(latent[..., start - lo : stop - lo])
    return torch.cat(parts, dim=-1)


def _equal_power(n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Fade-out and fade-in gains ``(n,)`` with ``out² + in² = 1``."""
    u = (torch.arange(n, device=device, dtype=torch.float32) + 0.5) / n
    return torch.cos(0.5 * math.pi * u), torch.sin(0.5 * math.pi * u)


@torch.no_grad()
def vocode_chunked(
    stages: PipelineStages,
    mel: torch.Tensor,
    chunk: int | None = None,
    context: int | None = None,
    fade: int | None = None,
    circular: bool = False,
) -> tuple[torch.Tensor, list[int]]:
    """Vocode ``mel (batch, n_mels, M)`` → ``(batch, 1, M * hop_length)`` in overlapping chunks.

    ``chunk``, ``context`` and ``fade`` default to :data:`VOCODER_CHUNK_FRAMES`,
    :data:`VOCODER_CONTEXT_FRAMES` and :data:`VOCODER_FADE_FRAMES` (read at call time).

    Chunk ``j`` renders the mel frames ``[j * chunk - fade / 2, (j + 1) * chunk + fade / 2)`` with
    ``context`` more frames each side (cut at the clip's ends or wrapped with ``circular``); the
    chunks are joined by a crossfade of ``fade * hop_length`` samples centred on each joint. A mel of
    at most ``chunk + 2 * context`` frames is vocoded in one piece (``stages.vocoder`` or
    ``stages.vocode_circular``).

    A vocoder with Griffin-Lim phase retrieval (one with ``analyse(mel, init=...)``,
    :class:`~audiogen.models.vocoder.GLRefineVocoder`) renders the chunks one after another, each
    starting its Griffin-Lim iterations from the previous chunk's phase on the frames they share
    (and, round a circle, the last chunk also from the first chunk's) and holding it fixed on the
    frames that chunk rendered, crossfade included (as RTISI-LA holds the frames already output;
    Zhu, Beauregard and Wyse 2007), so neighbouring chunks agree where they overlap and the
    crossfade is linear; other vocoders' chunks have independent phases
    and are joined with an equal-power crossfade.

    Returns:
        the waveform and the joints (sample positions; a circular joint at 0 included).
    """
    chunk = VOCODER_CHUNK_FRAMES if chunk is None else chunk
    context = VOCODER_CONTEXT_FRAMES if context is None else context
    fade = VOCODER_FADE_FRAMES if fade is None else fade
    frames = mel.shape[-1]
    if frames <= chunk + 2 * context:
        wav = stages.vocode_circular(mel) if circular else stages.vocoder(mel)
        return wav.float(), []
    hop, half = stages.hop_length, fade // 2
    count = math.ceil(frames / chunk)
    if not circular and frames - (count - 1) * chunk < fade:  # a last chunk shorter than the fade
        count -= 1
    joints = [j * chunk for j in range(0 if circular else 1, count)]
    out = torch.zeros(mel.shape[0], 1, frames * hop, device=mel.device)
    coherent = callable(getattr(stages.vocoder, "analyse", None)) and callable(
        getattr(stages.vocoder, "griffin_lim_spectrum", None)
    )
    if coherent:
        fade_in = (torch.arange(fade * hop, device=mel.device, dtype=torch.float32) + 0.5) / (fade * hop)
        fade_out = 1 - fade_in
    else:
        fade_out, fade_in = _equal_power(fade * hop, mel.device)
    # (absolute frame index, GL spectrum, which of those frames the chunk rendered)
    rendered: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
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
            init, hold = None, torch.zeros(len(index), dtype=torch.bool, device=mel.device)
            for known_index, spectrum, played in rendered:  # the previous chunk, round a circle the first
                match = (index[:, None] == known_index[None, :]).nonzero()
                if len(match):
                    if init is None:
                        init = torch.zeros(
                            *spectrum.shape[:2], len(index), dtype=spectrum.dtype, device=mel.device
                        )
                    init[..., match[:, 0]] = spectrum[..., match[:, 1]]
                    hold[match[:, 0]] |= played[match[:, 1]]
            result = stages.vocoder.analyse(part, init=init, hold=hold)
            wav = result.waveform.float()
            played = torch.zeros(len(index), dtype=torch.bool, device=mel.device)
            played[lo - clo : hi - clo] = True
            if j == 0:
                first = (index, result.gl_spectrum, played)
            rendered = ([first] if circular and j > 0 else []) + [(index, result.gl_spectrum, played)]
        else:
            wav = stages.vocoder(part).float()
        piece = wav[..., (lo - clo) * hop : (hi - clo) * hop].clone()
        if lo != start:
            piece[..., : fade * hop] *= fade_in
        if hi != stop:
            piece[..., -fade * hop :] *= fade_out
        positions = torch.arange(lo * hop, hi * hop, device=mel.device) % (frames * hop)
        out.index_add_(-1, positions, piece)
    return out, [j * hop for j in joints]
