"""Level helpers (audiogen.audio.levels)."""

import pytest
import torch

from audiogen.audio.levels import peak_normalize, rms_db


def test_peak_normalize_and_rms():
    x = torch.stack([0.1 * torch.sin(torch.arange(1000) / 5.0), torch.full((1000,), 1e-5)])
    y = peak_normalize(x)
    assert float(y[0].abs().max()) == pytest.approx(10 ** (-1 / 20), rel=1e-5)
    torch.testing.assert_close(y[1], x[1])  # -100 dBFS: silent, not amplified
    assert float(rms_db(x)[1]) == pytest.approx(-100.0, abs=0.01)
