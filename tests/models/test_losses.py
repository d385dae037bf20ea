import math

import pytest
import torch

from audiogen.losses import mel_l1_loss, mel_l2_loss, multi_resolution_stft_loss


def test_mel_losses():
    a = torch.zeros(2, 4, 5)
    b = a + 0.5
    assert mel_l1_loss(a, a) == 0
    assert mel_l1_loss(a, b).item() == pytest.approx(0.5)
    assert mel_l2_loss(a, b).item() == pytest.approx(0.25)
    assert mel_l1_loss(a.bfloat16(), b.bfloat16()).dtype == torch.float32
    with pytest.raises(ValueError, match="differ in shape"):
        mel_l1_loss(a, b[..., :4])


def test_multi_resolution_stft_loss_is_zero_for_equal_signals_and_grows_with_error():
    t = torch.arange(8000) / 16000
    x = torch.sin(2 * math.pi * 440 * t)[None, None]
    assert multi_resolution_stft_loss(x, x).item() == pytest.approx(0.0, abs=1e-6)
    small = multi_resolution_stft_loss(x * 0.9, x).item()
    large = multi_resolution_stft_loss(x * 0.3, x).item()
    assert 0 < small < large
