"""Level constants shared by every stage, defined once.

* :data:`DB_PER_NEPER`: decibels per neper of amplitude, ``20 / ln 10`` (≈ 8.686): a difference of
  natural-log amplitudes (the project's log-mel) times this is a difference in dB.
* :data:`SILENCE_DB`: below this level (dBFS for waveforms, dB under the peak for spectra) audio
  counts as silent.
* :data:`PEAK_DB`: the peak level evaluated clips are normalised to (:func:`peak_normalize`);
  :func:`rms_db` measures a clip's RMS level.
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
