"""Training losses, each returning a scalar tensor; tasks return them in a dict of named losses.

The names a task gives these (e.g. ``mel_l1``, ``kl``) are the keys of the recipe's
``loss_weights`` section and of the logged scalars (the DAC convention: one name, one weight, one
curve). Every loss is computed in float32 even under autocast.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange

from audiogen.models.autoencoder import DiagonalGaussian


def mel_l1_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error between log-mels ``(batch, n_mels, frames)``, in nats of log amplitude.

    Multiply by ``20 / ln(10) ≈ 8.69`` for dB.

    Raises:
        ValueError: if the shapes differ.
    """
    _same_shape(prediction, target)
    return F.l1_loss(prediction.float(), target.float())


def mel_l2_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error between log-mels ``(batch, n_mels, frames)``, in nats².

    Raises:
        ValueError: if the shapes differ.
    """
    _same_shape(prediction, target)
    return F.mse_loss(prediction.float(), target.float())


def kl_loss(posterior: DiagonalGaussian) -> torch.Tensor:
    """KL divergence of the posterior to N(0, I), nats per latent element, averaged over the batch."""
    return posterior.kl().mean()


@dataclass(frozen=True)
class STFTResolution:
    """One STFT resolution of :func:`multi_resolution_stft_loss` (sizes in samples)."""

    n_fft: int
    hop_length: int
    win_length: int


DEFAULT_RESOLUTIONS = (
    STFTResolution(512, 128, 512),
    STFTResolution(1024, 256, 1024),
    STFTResolution(2048, 512, 2048),
)


def multi_resolution_stft_loss(
    prediction: torch.Tensor,
    target: torch.Tensor,
    resolutions: tuple[STFTResolution, ...] = DEFAULT_RESOLUTIONS,
    eps: float = 1e-7,
) -> torch.Tensor:
    """Spectral convergence + log-magnitude L1, averaged over STFT resolutions.

    Follows Parallel WaveGAN (Yamamoto et al., 2020, eq. 3–5), the usual auxiliary loss of
    waveform vocoders.

    Args:
        prediction: waveform ``(batch, samples)`` or ``(batch, channels, samples)``.
        target: waveform of the same shape.
        resolutions: STFT settings (Hann windows).
        eps: floor of the magnitude before the log.

    Returns:
        A scalar tensor.

    Raises:
        ValueError: if the shapes differ.
    """
    _same_shape(prediction, target)
    pred = rearrange(prediction.float(), "... samples -> (...) samples")
    tgt = rearrange(target.float(), "... samples -> (...) samples")
    total = pred.new_zeros(())
    for r in resolutions:
        window = torch.hann_window(r.win_length, device=pred.device)
        spec = [
            torch.stft(x, r.n_fft, r.hop_length, r.win_length, window, return_complex=True).abs()
            for x in (pred, tgt)
        ]
        spec = [s.clamp_min(eps) for s in spec]
        convergence = torch.linalg.norm(spec[1] - spec[0]) / torch.linalg.norm(spec[1]).clamp_min(eps)
        log_mag = F.l1_loss(spec[0].log(), spec[1].log())
        total = total + convergence + log_mag
    return total / len(resolutions)


def _same_shape(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"prediction {tuple(a.shape)} and target {tuple(b.shape)} differ in shape")
