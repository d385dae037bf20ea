"""Tests of the mel filterbank (audiogen.audio.filterbank) against librosa, and of its inverse operators.

Tolerances: as torchaudio's librosa-compatibility tests for ``melscale_fbanks`` vs
``librosa.filters.mel`` (``atol=7e-5, rtol=1.3e-6``), and tighter: the float64 filterbank must agree
to ``1e-12`` and the float32 one to ``rtol=1e-6, atol=1e-9``. References are computed by librosa.
"""

from __future__ import annotations

import warnings

import librosa
import numpy as np
import pytest
import torch

from audiogen.audio.filterbank import FilterbankInverse, mel_filterbank
from audiogen.config import MelConfig

TA_FB_ATOL, TA_FB_RTOL = 7e-5, 1.3e-6  # torchaudio: melscale_fbanks vs librosa.filters.mel


@pytest.mark.parametrize("norm", ["slaney", None])
@pytest.mark.parametrize("mel_scale", ["slaney", "htk"])
@pytest.mark.parametrize(
    "sample_rate, n_fft, n_mels, f_min, f_max",
    [
        (22050, 1024, 80, 0.0, None),
        (16000, 512, 40, 0.0, None),
        (44100, 2048, 128, 0.0, None),
        (22050, 2048, 80, 0.0, 8000.0),
        (22050, 1024, 56, 100.0, 9000.0),
        (16000, 400, 64, 55.0, 7600.0),
        (24000, 1024, 100, 30.0, 12000.0),
        (44100, 4096, 128, 2000.0, 5000.0),
    ],
)
def test_filterbank_matches_librosa(sample_rate, n_fft, n_mels, f_min, f_max, mel_scale, norm):
    cfg = MelConfig(
        sample_rate=sample_rate,
        n_fft=n_fft,
        n_mels=n_mels,
        f_min=f_min,
        f_max=f_max,
        mel_scale=mel_scale,
        norm=norm,
    )
    kwargs = {"sr": sample_rate, "n_fft": n_fft, "n_mels": n_mels, "fmin": f_min, "fmax": f_max}
    kwargs |= {"htk": mel_scale == "htk", "norm": norm}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns about empty filters for narrow bands
        ref64 = torch.from_numpy(librosa.filters.mel(**kwargs, dtype=np.float64))
        ref32 = torch.from_numpy(librosa.filters.mel(**kwargs))
    ours64 = mel_filterbank(cfg, dtype=torch.float64)
    ours32 = mel_filterbank(cfg)
    assert ours32.shape == (n_mels, n_fft // 2 + 1) and ours32.dtype == torch.float32
    torch.testing.assert_close(ours64, ref64, atol=1e-12, rtol=1e-9)
    torch.testing.assert_close(ours32, ref32, atol=TA_FB_ATOL, rtol=TA_FB_RTOL)  # torchaudio's bound
    torch.testing.assert_close(ours32, ref32, atol=1e-9, rtol=1e-6)  # and a tighter one


def test_filterbank_inverse_rejects_bad_filterbank():
    with pytest.raises(ValueError, match="n_mels, n_freqs"):
        FilterbankInverse.build(torch.ones(3))
