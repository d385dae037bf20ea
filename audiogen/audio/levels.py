"""Level constants shared by every stage, defined once.

* :data:`DB_PER_NEPER`: decibels per neper of amplitude, ``20 / ln 10`` (≈ 8.686): a difference of
  natural-log amplitudes (the project's log-mel) times this is a difference in dB.
* :data:`SILENCE_DB`: below this level (dBFS for waveforms, dB under the peak for spectra) audio
  counts as silent.
* :data:`PEAK_DB`: the peak level evaluated clips are normalised to (:func:`peak_normalize`);
  :func:`rms_db` measures a clip's RMS level.
* :func:`limit_peak`: inputs that go above full scale (lossy decoders overshoot: MP3s decode to
  peaks of 1.0-1.2) are brought down to :data:`PEAK_DB`; inputs within full scale are kept as they are.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DB_PER_NEPER = 20 / math.log(10)
SILENCE_DB = -60.0

#: Peak level in dBFS that evaluated clips and training crops are normalised to.
PEAK_DB = -1.0


def rms_db(waveform: torch.Tensor) -> torch.Tensor:
    """RMS level in dBFS per clip of ``waveform`` ``(batch, samples)`` → ``(batch,)`` (-inf-safe: ≥ -240)."""
    return 20 * waveform.double().square().mean(dim=-1).sqrt().clamp_min(1e-12).log10().float()


def peak_normalize(
    waveform: torch.Tensor, peak_db: float = PEAK_DB, silence_db: float = SILENCE_DB
) -> torch.Tensor:
    """Scale each clip of ``waveform`` ``(batch, samples)`` to a peak of ``peak_db`` dBFS.

    Clips with an RMS level below ``silence_db`` (dBFS) are left as they are (never amplified), as
    :class:`~audiogen.data.datasets.SegmentDataset` does.
    """
    peak = waveform.abs().amax(dim=-1, keepdim=True).clamp_min(1e-12)
    gain = (10 ** (peak_db / 20)) / peak
    quiet = (rms_db(waveform) < silence_db)[:, None]
    return waveform * gain.masked_fill(quiet, 1.0)


def limit_peak(waveform: torch.Tensor, peak_db: float = PEAK_DB) -> torch.Tensor:
    """Scale down each clip whose peak is above full scale (``|x| > 1``) to a peak of ``peak_db`` dBFS.

    What the reconstruct / variation / extend / inpaint inputs go through: a clip within full scale
    is returned as it is (its level is the user's), while one that overshoots (MP3 and Vorbis
    decoders return peaks of up to about 1.2 for files mastered to 0 dBFS; resampling can add a
    little) would otherwise be hard-clipped where the result is written as integer PCM. One gain
    per clip keeps the balance of its channels.

    Args:
        waveform: ``(batch, channels, samples)`` (each item a clip), or ``(channels, samples)`` /
            ``(samples,)`` (one clip).
        peak_db: peak level in dBFS an overshooting clip is scaled to.

    Returns:
        A tensor of the same shape and dtype (``waveform`` itself when no clip overshoots).
    """
    import torch

    dims = tuple(range(1, waveform.dim())) if waveform.dim() == 3 else tuple(range(waveform.dim()))
    peak = waveform.detach().abs().amax(dim=dims, keepdim=True)
    over = peak > 1.0
    if not bool(over.any()):
        return waveform
    gain = torch.where(over, (10 ** (peak_db / 20)) / peak, torch.ones_like(peak))
    return waveform * gain
