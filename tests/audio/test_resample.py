"""Tests for audiogen.audio.resample: libsoxr resampling and channel conversion."""

from __future__ import annotations

import math

import pytest
import torch

from audiogen.audio.resample import convert_channels, resample
from tests.audio.test_io import peak_frequency


def test_resample_halves_length_and_keeps_frequency():
    sample_rate, n = 44100, 44100
    t = torch.arange(n, dtype=torch.float64) / sample_rate
    x = torch.sin(2 * math.pi * 1000.0 * t).float()[None]
    y = resample(x, 44100, 22050)
    assert y.dtype == torch.float32 and tuple(y.shape) == (1, n // 2)
    # away from the edges the result is the same sine sampled at 22.05 kHz
    t_new = torch.arange(n // 2, dtype=torch.float64) / 22050
    expected = torch.sin(2 * math.pi * 1000.0 * t_new).float()
    assert (y[0, 200:-200] - expected[200:-200]).abs().max() < 1e-2
    assert peak_frequency(y[0].numpy(), 22050) == pytest.approx(1000.0, abs=2.0)


def test_resample_up_length_batch_and_noop():
    x = torch.randn(3, 2, 1600)  # (batch, channels, samples)
    y = resample(x, 16000, 24000)
    assert tuple(y.shape) == (3, 2, math.ceil(1600 * 24000 / 16000))
    assert resample(x, 16000, 16000) is x


@pytest.mark.parametrize("rates", [(0, 16000), (16000, -1), (16000, 22050.5)])
def test_resample_rejects_bad_rates(rates):
    with pytest.raises(ValueError, match="sample_rate"):
        resample(torch.zeros(1, 100), *rates)


def test_resample_rejects_integer_waveform():
    with pytest.raises(ValueError, match="floating"):
        resample(torch.zeros(1, 100, dtype=torch.int16), 16000, 8000)


def test_convert_channels_rules():
    stereo = torch.randn(2, 50)
    mono = convert_channels(stereo, 1)
    assert tuple(mono.shape) == (1, 50)
    assert torch.allclose(mono[0], (stereo[0] + stereo[1]) / 2)

    up = convert_channels(mono, 3)
    assert tuple(up.shape) == (3, 50)
    assert all(torch.equal(up[c], mono[0]) for c in range(3))

    surround = torch.randn(6, 50)  # e.g. 5.1 → stereo: mono mixdown, duplicated
    down = convert_channels(surround, 2)
    assert tuple(down.shape) == (2, 50)
    assert torch.allclose(down[0], surround.mean(dim=0)) and torch.equal(down[0], down[1])

    assert convert_channels(stereo, 2) is stereo
    batch = torch.randn(4, 2, 30)  # (batch, channels, samples)
    assert torch.allclose(convert_channels(batch, 1), batch.mean(dim=1, keepdim=True))


@pytest.mark.parametrize("bad", [0, -2])
def test_convert_channels_rejects_bad_count(bad):
    with pytest.raises(ValueError, match="channels"):
        convert_channels(torch.zeros(2, 10), bad)


def test_convert_channels_rejects_1d():
    with pytest.raises(ValueError, match="channels, samples"):
        convert_channels(torch.zeros(10), 1)
