"""Chunked decoding and vocoding of long latents and mels (used by :mod:`audiogen.pipelines.longform`).

* :func:`encode_chunked`: the VAE encoder (strided convolutions, a bounded reach measured by
  :func:`encoder_context`) encodes chunks of the log-mel with context and keeps their middles: the
  same latent as one-piece encoding up to float rounding.
* :func:`decode_chunked`: the VAE decoder is convolutional with a bounded reach
  (``AudioGenPipeline.decoder_context`` latent frames), so each chunk is decoded with that much
  context on each side and its middle kept: one-piece decoding up to float rounding.
* :func:`vocode_chunked`: overlapping vocoder chunks joined by a crossfade; with a Griffin-Lim
  vocoder each chunk starts from its neighbour's phase on the frames they share.

Both also work round a circle (seamless loops: chunk indices wrap).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

#: Mel frames per vocoder chunk (1024 frames = 11.9 s at 22050 Hz, hop 256).
VOCODER_CHUNK_FRAMES = 1024
#: Extra mel frames of context each side of a vocoder chunk.
VOCODER_CONTEXT_FRAMES = 32
#: Mel frames of the crossfade between vocoder chunks.
VOCODER_FADE_FRAMES = 16
#: Latent frames per decoder chunk (without its context).
DECODER_CHUNK_FRAMES = 256


def _chunk_index(start: int, stop: int, total: int, circular: bool, device: torch.device) -> torch.Tensor:
    index = torch.arange(start, stop, device=device)
    return index % total if circular else index.clamp(0, total - 1)


@torch.no_grad()
def decode_chunked(
    pipe: Any, latent: torch.Tensor, chunk: int | None = None, circular: bool = False
) -> torch.Tensor:
    """Decode ``latent (batch, latent_dim, frames)`` → mel ``(batch, n_mels, frames * td)`` in chunks.

    ``td`` is ``time_downsample``; ``chunk`` defaults to :data:`DECODER_CHUNK_FRAMES`.

    Each chunk of ``chunk`` latent frames is decoded with ``pipe.decoder_context`` frames of context
    each side (the decoder's reach; cut at the clip's ends, or wrapped with ``circular``), and its
    middle kept: the result equals one-piece decoding (``pipe.autoencoder.decode`` or
    ``pipe.decode_circular``) up to float rounding.
    """
    chunk = DECODER_CHUNK_FRAMES if chunk is None else chunk
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
def encode_chunked(pipe: Any, mel: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """Encode ``mel (batch, n_mels, frames)`` → latent ``(batch, latent_dim, latent_frames)`` in chunks.

    The posterior mean, as ``pipe.autoencoder.encode(mel)``. Each chunk of ``chunk`` latent frames
    (``chunk * time_downsample`` mel frames) is encoded with :func:`encoder_context` mel frames of
    context each side, rounded up to whole latent frames (cut at the clip's ends), and its middle
    kept. The chunk edges fall on latent-frame boundaries and the last chunk reaches the end of the
    mel, so the encoder's end padding is the one-piece encoding's: the result equals it up to float
    rounding, with memory bounded by the chunk size.
    """
    chunk = DECODER_CHUNK_FRAMES if chunk is None else chunk
    ae, td = pipe.autoencoder, pipe.time_downsample
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
    pipe: Any,
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
    chunk = VOCODER_CHUNK_FRAMES if chunk is None else chunk
    context = VOCODER_CONTEXT_FRAMES if context is None else context
    fade = VOCODER_FADE_FRAMES if fade is None else fade
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
