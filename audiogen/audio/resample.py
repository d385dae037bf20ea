"""Sample-rate and channel conversion: :func:`resample` (libsoxr, bounded cost) and
:func:`convert_channels`.

Resampling goes through `soxr <https://github.com/dofuldev/python-soxr>`_ (libsoxr), whose cost per
sample is bounded for every pair of rates (a 44,101 Hz file costs what a 44,100 Hz one does).
:func:`audiogen.audio.io.load_audio` streams the same filter while it decodes;
:mod:`audiogen.audio.io` re-exports both functions.
"""

from __future__ import annotations

import math

import einops
import numpy as np
import torch

__all__ = ["convert_channels", "resample"]

# libsoxr quality recipe used for every resampling (``"HQ"``: 20-bit precision, 91% bandwidth).
_SOXR_QUALITY = "HQ"


def convert_channels(waveform: torch.Tensor, channels: int) -> torch.Tensor:
    """Convert a waveform to a number of channels.

    * same count: returned unchanged (the same tensor);
    * to mono: the mean over channels (mixdown);
    * from mono: the channel repeated;
    * any other change (e.g. 5.1 → stereo, stereo → 4 channels): mono mixdown, then repeated.

    libsndfile does not report channel layouts (which channel is centre, LFE, ...; and Vorbis orders
    5.1 differently from WAV/FLAC), so a layout-aware matrix such as ITU-R BS.775 cannot be applied
    reliably. The mixdown keeps every channel's content (a 5.1 centre dialogue channel would be lost
    by keeping the first two channels), at the cost of the stereo image.

    Args:
        waveform: ``(..., channels, samples)`` floating-point tensor, e.g. ``(channels, samples)``
            or ``(batch, channels, samples)``.
        channels: number of output channels, >= 1.

    Returns:
        ``(..., channels, samples)`` tensor of the input's dtype.

    Raises:
        ValueError: ``channels`` < 1, or ``waveform`` has fewer than 2 axes or 0 channels.
    """
    if int(channels) != channels or channels < 1:
        raise ValueError(f"channels must be a positive integer, got {channels!r}")
    if waveform.ndim < 2 or waveform.shape[-2] < 1:
        raise ValueError(
            f"waveform must be (..., channels, samples) with channels >= 1, got {tuple(waveform.shape)}"
        )
    current = waveform.shape[-2]
    if current == channels:
        return waveform
    mono = waveform if current == 1 else waveform.mean(dim=-2, keepdim=True)
    if channels == 1:
        return mono
    return einops.repeat(mono, "... 1 samples -> ... channels samples", channels=channels)


def resample(waveform: torch.Tensor, orig_sample_rate: int, new_sample_rate: int) -> torch.Tensor:
    """Resample along the last axis with libsoxr (`soxr <https://github.com/dofuldev/python-soxr>`_).

    libsoxr's ``"HQ"`` recipe (20-bit precision, linear phase, passband to 91% of the lower
    Nyquist frequency). Its cost per input sample is bounded for every pair of rates: unlike a
    polyphase kernel built for the ratio reduced by its common factor (``torchaudio``'s, which
    needs gigabytes for 44,101 -> 22,050 Hz), nothing grows with the rates' common factor. The
    output has ``ceil(samples * new_sample_rate / orig_sample_rate)`` samples (libsoxr's rounded
    count, zero-padded by at most one sample) and the input's dtype; computation is on the CPU in
    float32 (float64 for float64 input) and the result goes back to the input's device. Not
    differentiable.

    Args:
        waveform: ``(..., samples)`` floating-point tensor, e.g. ``(channels, samples)`` or
            ``(batch, channels, samples)``.
        orig_sample_rate: the waveform's sample rate in Hz.
        new_sample_rate: the wanted sample rate in Hz.

    Returns:
        ``(..., new_samples)`` tensor; the input tensor itself when the rates are equal.

    Raises:
        ValueError: a rate is not a positive integer, or ``waveform`` is not floating point.
    """
    import soxr

    for name, rate in (("orig_sample_rate", orig_sample_rate), ("new_sample_rate", new_sample_rate)):
        if int(rate) != rate or rate < 1:
            raise ValueError(f"{name} must be a positive integer (Hz), got {rate!r}")
    if orig_sample_rate == new_sample_rate:
        return waveform
    if not waveform.is_floating_point():
        raise ValueError(f"resample needs a floating-point waveform, got {waveform.dtype}")
    samples = waveform.shape[-1]
    out_samples = math.ceil(samples * int(new_sample_rate) / int(orig_sample_rate))
    lead = waveform.shape[:-1]
    work_dtype = torch.float64 if waveform.dtype == torch.float64 else torch.float32
    if samples == 0 or math.prod(lead) == 0:
        return waveform.new_zeros(*lead, out_samples)
    flat = waveform.detach().to(device="cpu", dtype=work_dtype).reshape(-1, samples)
    frames = np.ascontiguousarray(einops.rearrange(flat.numpy(), "rows samples -> samples rows"))
    out = soxr.resample(frames, int(orig_sample_rate), int(new_sample_rate), quality=_SOXR_QUALITY)
    out = _fit_length(out, out_samples)
    result = torch.from_numpy(np.ascontiguousarray(einops.rearrange(out, "samples rows -> rows samples")))
    return result.reshape(*lead, out_samples).to(device=waveform.device, dtype=waveform.dtype)


def _fit_length(frames: np.ndarray, length: int) -> np.ndarray:
    """Cut or zero-pad a ``(samples, channels)`` array to ``length`` samples."""
    if frames.shape[0] >= length:
        return frames[:length]
    pad = np.zeros((length - frames.shape[0], frames.shape[1]), dtype=frames.dtype)
    return np.concatenate([frames, pad], axis=0)
