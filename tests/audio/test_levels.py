"""Level helpers (audiogen.audio.levels)."""

import pytest
import torch

from audiogen.audio.levels import limit_peak, peak_normalize, rms_db


def test_peak_normalize_and_rms():
    x = torch.stack([0.1 * torch.sin(torch.arange(1000) / 5.0), torch.full((1000,), 1e-5)])
    y = peak_normalize(x)
    assert float(y[0].abs().max()) == pytest.approx(10 ** (-1 / 20), rel=1e-5)
    torch.testing.assert_close(y[1], x[1])  # -100 dBFS: silent, not amplified
    assert float(rms_db(x)[1]) == pytest.approx(-100.0, abs=0.01)


def test_limit_peak_brings_only_clips_above_full_scale_to_minus_1_dbfs():
    t = torch.arange(4000) / 8000
    loud = torch.stack([1.19 * torch.sin(2 * torch.pi * 440 * t), 0.5 * torch.sin(2 * torch.pi * 330 * t)])
    within = 0.9 * loud / 1.19
    assert limit_peak(within) is within  # within full scale: the user's level is kept
    out = limit_peak(loud)  # (channels, samples): one clip, one gain
    assert float(out.abs().max()) == pytest.approx(10 ** (-1 / 20), rel=1e-5)
    torch.testing.assert_close(out[1] / out[0].abs().max(), loud[1] / loud[0].abs().max())
    batch = limit_peak(torch.stack([loud, within]))  # (batch, channels, samples): per item
    assert float(batch[0].abs().max()) == pytest.approx(10 ** (-1 / 20), rel=1e-5)
    torch.testing.assert_close(batch[1], within)
