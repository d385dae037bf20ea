"""Fine structure of a log-mel, as numbers that need no trained network.

A decoder regressed with L1 predicts the average of the plausible spectra: harmonics turn into
smooth ridges, onsets into ramps and noise into a flat haze. Three measures show that blur directly
on the natural-log mel ``(n_mels, frames)``, averaged over the frames that are not silent:

* ``freq_gradient_db``: mean ``|ln m[f + 1, t] − ln m[f, t]|`` in dB — how sharply the spectrum
  changes from one mel band to the next (harmonic peaks and valleys).
* ``time_gradient_db``: mean ``|ln m[f, t + 1] − ln m[f, t]|`` in dB — how sharply each band
  changes from one frame to the next (onsets, vibrato, noise grain).
* ``spectral_flatness``: mean over frames of the geometric over the arithmetic mean of the mel
  power ``m²`` (Wiener entropy; Johnston 1988, as ``librosa.feature.spectral_flatness`` on a
  power spectrogram), in ``(0, 1]``: 1 for a flat spectrum, near 0 for a few strong partials.

A reconstruction that keeps the input's fine structure has the input's numbers; a blurred one has
lower gradients and a higher flatness.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from audiogen.audio.levels import DB_PER_NEPER, SILENCE_DB


@dataclass(frozen=True)
class Sharpness:
    """Fine-structure measures of one log-mel (see the module docstring); frames counted."""

    freq_gradient_db: float
    time_gradient_db: float
    spectral_flatness: float
    frames: int

    def to_dict(self) -> dict[str, float]:
        """Plain dict for JSON."""
        return asdict(self)


def active_frames(log_mel: torch.Tensor, threshold_db: float = SILENCE_DB) -> torch.Tensor:
    """Frames of ``log_mel (n_mels, frames)`` whose loudest band is within ``|threshold_db|`` of the
    clip's loudest value: a boolean mask ``(frames,)``."""
    peak = log_mel.amax(dim=0)
    return peak >= peak.max() + threshold_db / DB_PER_NEPER


def mel_sharpness(log_mel: torch.Tensor, mask: torch.Tensor | None = None) -> Sharpness:
    """Fine-structure measures of a natural-log mel.

    Args:
        log_mel: ``(n_mels, frames)``, natural-log amplitude (``ln max(mel, floor)``).
        mask: frames to average over, ``(frames,)`` bool (default: :func:`active_frames` of
            ``log_mel``); pass the real clip's mask to compare a reconstruction on the same frames.

    Returns:
        :class:`Sharpness`.

    Raises:
        ValueError: if ``log_mel`` is not 2-D with at least two bands and two frames, or the mask
            has another length or selects fewer than two frames.
    """
    if log_mel.ndim != 2 or min(log_mel.shape) < 2:
        raise ValueError(f"log_mel must be (n_mels >= 2, frames >= 2), got {tuple(log_mel.shape)}")
    x = log_mel.double()
    mask = active_frames(x) if mask is None else mask.to(torch.bool).to(x.device)
    if mask.shape != (x.shape[1],) or int(mask.sum()) < 2:
        raise ValueError(
            f"mask must be ({x.shape[1]},) and select at least 2 frames, got {tuple(mask.shape)}"
        )
    freq = (x[1:] - x[:-1]).abs()[:, mask].mean()
    pair = mask[1:] & mask[:-1]  # frame pairs that are both active
    time = (x[:, 1:] - x[:, :-1]).abs()[:, pair].mean() if bool(pair.any()) else x.new_zeros(())
    log_power = 2 * x[:, mask]  # ln(m²)
    geometric = log_power.mean(dim=0)
    arithmetic = torch.logsumexp(log_power, dim=0) - math.log(log_power.shape[0])
    flatness = torch.exp(geometric - arithmetic).mean()
    return Sharpness(
        freq_gradient_db=float(freq) * DB_PER_NEPER,
        time_gradient_db=float(time) * DB_PER_NEPER,
        spectral_flatness=float(flatness),
        frames=int(mask.sum()),
    )
