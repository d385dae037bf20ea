"""Seamless loops: periodic resampling and re-timing, loop lengths, wrap-around context, seam checks.

Loops (:meth:`AudioGenPipeline.loop <audiogen.pipelines.audiogen.AudioGenPipeline.loop>`) are
periodic by construction, not crossfaded: the denoiser runs in circular mode (wrap-around padding,
so the latent has no start or end), the VAE decoder sees the latent with wrapped context
on both sides (the last ``k`` latent frames before it, the first ``k`` after it, ``k`` ≥ the
decoder's receptive field; the middle is kept), and the vocoder sees the periodic mel the same
way. The waveform is then exactly one period of a periodic signal. The latent period is chosen so
that ``P = latent_frames * time_downsample * hop_length`` samples is as near the requested ``L``
as the denoiser's ``length_multiple`` allows; by default the periodic mel is re-timed to the whole
number of frames nearest ``L / hop_length`` (a tempo change, no pitch change) and only the
remaining fraction of a hop is taken up by an FFT (band-limited, periodic) resampling of the one
period to exactly ``L`` samples, which keeps it periodic and changes pitch by the reported
``pitch_ratio`` (at most ``hop_length / 2L``; ``fit="resample"`` resamples the whole way from
``P``, changing pitch by ``P / L``).

The machinery: the context a convolution stack needs
(:func:`conv_context`), wrap-around padding (``_wrap``), the loop length of bars at a tempo
(:func:`loop_samples`), band-limited periodic resampling (:func:`periodic_resample`) and
re-timing (:func:`periodic_stretch`). How smoothly a loop joins end to start is measured by
:func:`audiogen.evaluation.boundaries.seam_report`.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import torch
from torch import nn


def _wrap(x: torch.Tensor, context: int) -> torch.Tensor:
    """``x (batch, channels, frames)`` with the last ``context`` frames before and the first after.

    Wraps several times round when ``context > frames``. Returns ``(batch, channels,
    frames + 2 * context)``.
    """
    frames = x.shape[-1]
    index = torch.arange(-context, frames + context, device=x.device) % frames
    return x.index_select(-1, index)


def conv_context(module: nn.Module, rate: int = 1) -> int:
    """Receptive-field radius of a convolutional decoder, in input frames (rounded up, plus one).

    Walks ``module.modules()`` in definition order (the forward order of the project's
    ``nn.Sequential`` decoders) and adds ``dilation * (kernel_size - 1) / 2`` of every stride-1
    ``nn.Conv1d``, divided by the current upsampling factor; a module with an integer ``factor``
    attribute (:class:`~audiogen.models.layers.Upsample1d`) multiplies that factor. Pointwise layers
    (linear, layer norm over channels, activations) add nothing. The result bounds how many input
    frames on each side can change an output frame, which is the wrap-around context the loop
    decoders need.

    Args:
        module: the decoder (e.g. ``MelVAE.decoder``, or a whole vocoder).
        rate: output frames per input frame before the first layer.

    Returns:
        ``ceil(radius) + 1`` input frames.

    Raises:
        ValueError: if the module holds a layer whose reach cannot be bounded this way (a strided
            or transposed convolution, attention, recurrence).
    """
    radius = 0.0
    for m in module.modules():
        if isinstance(m, nn.Conv1d):
            if m.stride[0] != 1:
                raise ValueError(f"conv_context: strided {m} in {type(module).__name__}")
            radius += m.dilation[0] * (m.kernel_size[0] - 1) / 2 / rate
        elif isinstance(m, nn.ConvTranspose1d | nn.MultiheadAttention | nn.RNNBase | nn.Conv2d):
            raise ValueError(f"conv_context: cannot bound the receptive field of {type(m).__name__}")
        elif isinstance(getattr(m, "factor", None), int):
            radius += 1.0 / rate  # nearest repetition: up to one frame at the rate before it
            rate *= m.factor
    return math.ceil(radius) + 1


def periodic_resample(waveform: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Resample ONE period of a periodic signal to ``num_samples`` samples with the FFT.

    ``irfft(rfft(x), n=num_samples)`` (``norm="forward"``, so amplitudes are kept): the signal is
    treated as a trigonometric polynomial with period ``samples``, which is re-evaluated at
    ``num_samples`` equally spaced points of the same period. The output is therefore again exactly
    one period of a band-limited periodic signal: tiled, it has no seam. Content is stretched by
    ``num_samples / samples`` (pitch times ``samples / num_samples``). When upsampling an
    even-length period its Nyquist bin is split evenly between the positive and negative frequency
    (as ``scipy.signal.resample``); when downsampling to an even length the new Nyquist bin, which
    cannot hold a sine, is dropped.

    Args:
        waveform: ``(..., samples)`` float tensor holding exactly one period.
        num_samples: output length in samples, ``>= 1``.

    Returns:
        ``(..., num_samples)`` float tensor of the input's dtype.

    Raises:
        ValueError: if ``num_samples < 1`` or the input is empty.
    """
    period = waveform.shape[-1]
    if num_samples < 1 or period < 1:
        raise ValueError(f"periodic_resample: need >= 1 samples in and out, got {period} → {num_samples}")
    if period == num_samples:
        return waveform.clone()
    spec = torch.fft.rfft(waveform.float(), dim=-1, norm="forward")
    keep = min(period, num_samples) // 2 + 1
    spec = spec[..., :keep].clone()
    if num_samples > period and period % 2 == 0:
        spec[..., period // 2] *= 0.5
    elif num_samples < period and num_samples % 2 == 0:
        spec[..., num_samples // 2] = 0
    return torch.fft.irfft(spec, n=num_samples, dim=-1, norm="forward").to(waveform.dtype)


def periodic_stretch(x: torch.Tensor, frames: int) -> torch.Tensor:
    """Linearly re-time ONE period ``(..., M)`` of a periodic sequence (e.g. a log-mel) to ``frames``.

    Output frame ``i`` is read at position ``i * M / frames`` of the period, interpolating linearly
    between the two neighbouring frames, the last one's neighbour being frame 0; so the result is
    again exactly one period. On a log-mel this changes tempo (by ``frames / M``), not pitch.

    Args:
        x: ``(..., M)`` float tensor, e.g. ``(batch, n_mels, M)``.
        frames: output length ``>= 1``.

    Returns:
        ``(..., frames)``.
    """
    period = x.shape[-1]
    if frames == period:
        return x.clone()
    position = torch.arange(frames, device=x.device, dtype=torch.float64) * (period / frames)
    left = position.floor().long()
    weight = (position - left).to(x.dtype)
    return x[..., left] * (1 - weight) + x[..., (left + 1) % period] * weight


def loop_samples(bars: float, bpm: float, sample_rate: int, beats_per_bar: float = 4) -> int:
    """Exact length in samples of ``bars`` bars at ``bpm`` beats per minute.

    ``round(bars * beats_per_bar * 60 / bpm * sample_rate)``, computed with exact fractions (so
    e.g. 2 bars of 4/4 at 120 bpm and 22050 Hz are 88200 samples, not 88199).

    Raises:
        ValueError: if any argument is not positive or the length rounds to 0 samples.
    """
    if min(bars, bpm, sample_rate, beats_per_bar) <= 0 or not all(
        math.isfinite(v) for v in (bars, bpm, beats_per_bar)
    ):
        raise ValueError(
            f"bars, bpm, beats_per_bar and sample_rate must be positive, got {bars}, {bpm}, "
            f"{beats_per_bar}, {sample_rate}"
        )
    n = round(Fraction(bars) * Fraction(beats_per_bar) * 60 * sample_rate / Fraction(bpm))
    if n < 1:
        raise ValueError(f"{bars} bars at {bpm} bpm is shorter than one sample")
    return n


#: The containers a loop file may be written in: lossless, so the file holds the loop's samples
#: exactly (MP3 adds encoder delay and padding at both ends, and lossy coding changes the samples
#: at the wrap, so the file would be neither sample-exact nor seamless).
LOOP_FORMATS = ("WAV", "FLAC", "AIFF")


def check_loop_file(path: Any) -> None:
    """Check that a loop can be written to ``path``: a suffix of a lossless format (:data:`LOOP_FORMATS`).

    Raises:
        ValueError: an unknown suffix, or a lossy one (``.mp3``, ``.ogg``), naming the file.
    """
    from pathlib import Path

    from audiogen.audio.io import SUFFIX_FORMATS

    suffix = Path(path).suffix
    format = SUFFIX_FORMATS.get(suffix.lower())
    if format in LOOP_FORMATS:
        return
    allowed = ", ".join(k for k, v in SUFFIX_FORMATS.items() if v in LOOP_FORMATS)
    if format is None:
        raise ValueError(f"{path}: unsupported suffix {suffix!r}; a loop is written as one of {allowed}")
    raise ValueError(
        f"{path}: a loop is written losslessly ({allowed}); {suffix} is lossy"
        + (" and pads both ends with silence" if format == "MP3" else "")
        + ", so the loop would not be sample-exact or seamless"
    )


__all__ = [
    "LOOP_FORMATS",
    "check_loop_file",
    "conv_context",
    "loop_samples",
    "periodic_resample",
    "periodic_stretch",
]
