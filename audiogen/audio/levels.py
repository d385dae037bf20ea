"""Level constants shared by every stage, defined once.

* :data:`DB_PER_NEPER`: decibels per neper of amplitude, ``20 / ln 10`` (≈ 8.686): a difference of
  natural-log amplitudes (the project's log-mel) times this is a difference in dB.
* :data:`SILENCE_DB`: below this level (dBFS for waveforms, dB under the peak for spectra) audio
  counts as silent.
"""

from __future__ import annotations

import math

DB_PER_NEPER = 20 / math.log(10)
SILENCE_DB = -60.0
