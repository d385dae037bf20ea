"""Mel inversion and Griffin-Lim: the no-training inverse of the log-mel front end.

:func:`_invert_filterbank` fits a non-negative linear spectrogram to a linear mel spectrogram
(also used by the GL-refine vocoder); :func:`griffin_lim` adds phase recovery and gives a waveform.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

from audiogen.audio.filterbank import FilterbankInverse, _describe, filterbank_inverse
from audiogen.config import MelConfig

__all__ = ["griffin_lim"]


def _matmul_frames(operator: Tensor, x: Tensor) -> Tensor:
    """``operator`` ``(m, k)`` (dense or sparse CSR) times each frame of ``x`` ``(batch, k, frames)``."""
    out = operator @ rearrange(x, "b k t -> k (b t)")
    return rearrange(out, "m (b t) -> b m t", b=x.shape[0])


def _invert_filterbank(mel: Tensor, filterbank: Tensor | FilterbankInverse, n_steps: int = 10) -> Tensor:
    """Non-negative least-squares estimate of the linear spectrogram from a linear mel spectrogram.

    Starts from the pseudo-inverse solution clamped at a small positive value, then takes
    ``n_steps`` multiplicative updates ``S <- S * (W^T M) / (W^T (W S))`` (Lee & Seung, 2001), which
    keep ``S >= 0`` and never increase ``||W S - M||^2``. Similar in spirit to
    ``librosa.feature.inverse.mel_to_stft`` (which runs an NNLS solver).

    Args:
        mel: ``(batch, n_mels, frames)`` linear mel, non-negative.
        filterbank: ``(n_mels, n_freqs)``, or its :class:`FilterbankInverse` (built once and reused:
            the pseudo-inverse is most of the setup cost).
        n_steps: multiplicative updates after the pseudo-inverse start.

    Returns:
        ``(batch, n_freqs, frames)`` non-negative, in the units of ``mel`` (``|X| ** power``), in
        ``mel``'s dtype.
    """
    if isinstance(filterbank, FilterbankInverse):
        ops = filterbank
    else:
        ops = FilterbankInverse.build(filterbank, mel.dtype)
    dtype = mel.dtype
    mel = mel.to(ops.pinv.dtype)
    floor = 1e-10 * mel.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-30)
    spec = torch.maximum(_matmul_frames(ops.pinv, mel), floor)
    numer = _matmul_frames(ops.wt, mel)
    for _ in range(n_steps):
        # W^T (W S) rather than (W^T W) S, with sparse W: ~2 % of the dense multiply-adds
        spec = spec * numer / _matmul_frames(ops.wt, _matmul_frames(ops.w, spec)).clamp_min(1e-30)
    return spec.to(dtype)


def griffin_lim(
    log_mel: Tensor,
    config: MelConfig,
    n_iter: int = 32,
    length: int | None = None,
    momentum: float = 0.99,
) -> Tensor:
    """Waveform from a log-mel spectrogram: invert the filterbank, then Griffin-Lim phase recovery.

    The linear spectrogram is a non-negative least-squares fit (pseudo-inverse start + multiplicative
    updates, :func:`_invert_filterbank`) to ``exp(log_mel)``; the phase comes from
    ``torchaudio.functional.griffinlim`` (fast Griffin-Lim, Perraudin et al. 2013; Griffin & Lim
    1984) with this config's window, ``n_fft`` and ``hop_length``. This is the no-training baseline
    inverse, not a vocoder: expect phasey audio.

    ``torchaudio``'s Griffin-Lim uses centred frames; for ``center=False`` the result is shifted by
    ``n_fft // 2`` samples (zeros in front) so frame ``t`` again starts at ``t * hop_length``.

    Args:
        log_mel: natural-log mel ``(batch, n_mels, frames)`` as from :class:`LogMelSpectrogram`.
        config: the settings the log-mel was computed with.
        n_iter: Griffin-Lim iterations (>= 1).
        length: output length in samples; None gives ``(frames - 1) * hop_length`` (``center=True``)
            or ``(frames - 1) * hop_length + n_fft`` (``center=False``).
        momentum: fast Griffin-Lim momentum in ``[0, 1)``.

    Returns:
        float32 waveform ``(batch, samples)`` on ``log_mel``'s device.

    Raises:
        ValueError: if ``log_mel`` is not 3-D with ``n_mels`` bands, has no frames, or ``n_iter`` /
            ``length`` is out of range.
    """
    from torchaudio.functional import griffinlim as _ta_griffinlim

    if not isinstance(log_mel, Tensor) or log_mel.dim() != 3 or log_mel.shape[1] != config.n_mels:
        raise ValueError(
            f"griffin_lim: log_mel must be (batch, n_mels={config.n_mels}, frames), got {_describe(log_mel)}"
        )
    if log_mel.shape[-1] == 0:
        raise ValueError("griffin_lim: log_mel has 0 frames")
    if n_iter < 1:
        raise ValueError(f"griffin_lim: n_iter must be >= 1, got {n_iter}")
    if length is not None and length < 1:
        raise ValueError(f"griffin_lim: length must be positive, got {length}")
    frames = log_mel.shape[-1]
    if length is None:
        length = (frames - 1) * config.hop_length + (0 if config.center else config.n_fft)
    device = log_mel.device
    window = torch.hann_window(config.effective_win_length, periodic=True, device=device)
    left = (config.n_fft - config.effective_win_length) // 2
    window = F.pad(window, (left, config.n_fft - config.effective_win_length - left))
    with torch.autocast(device_type=device.type, enabled=False):
        mel = log_mel.float().exp()
        spec = _invert_filterbank(mel, filterbank_inverse(config, str(device)))  # (batch, n_freqs, frames)
        # torchaudio's Griffin-Lim re-analyses with centred frames, so the length it is given must
        # give back ``frames`` frames; other lengths are reached by zero-padding / cropping after.
        shift = 0 if config.center else config.n_fft // 2
        inner_length = length - shift
        if inner_length < 0 or 1 + inner_length // config.hop_length != frames:
            inner_length = (frames - 1) * config.hop_length
        wave = _ta_griffinlim(
            spec,
            window=window,
            n_fft=config.n_fft,
            hop_length=config.hop_length,
            win_length=config.n_fft,
            power=config.power,
            n_iter=n_iter,
            momentum=momentum,
            length=inner_length,
            rand_init=True,
        )
        wave = F.pad(wave, (shift, max(0, length - shift - wave.shape[-1])))[..., :length]
    return wave
