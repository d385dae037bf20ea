"""Audio in and out and the spectral front end.

:mod:`~audiogen.audio.io` (load / save; :mod:`~audiogen.audio.probe` headers,
:mod:`~audiogen.audio.resample` rates and channels), :mod:`~audiogen.audio.levels` (dB constants and
level helpers), :mod:`~audiogen.audio.filterbank` (mel filterbanks and their inverse operators),
:mod:`~audiogen.audio.features` (batched STFT / mel / log-mel, on :mod:`~audiogen.audio.frontend`),
:mod:`~audiogen.audio.inverse` (mel inversion and Griffin-Lim).
"""
