import pytest
import torch

from audiogen.training.losses import mel_l1_loss, mel_l2_loss


def test_mel_losses():
    a = torch.zeros(2, 4, 5)
    b = a + 0.5
    assert mel_l1_loss(a, a) == 0
    assert mel_l1_loss(a, b).item() == pytest.approx(0.5)
    assert mel_l2_loss(a, b).item() == pytest.approx(0.25)
    assert mel_l1_loss(a.bfloat16(), b.bfloat16()).dtype == torch.float32
    with pytest.raises(ValueError, match="differ in shape"):
        mel_l1_loss(a, b[..., :4])
