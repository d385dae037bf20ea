import pytest
import torch

from audiogen.models.layers import ConvNeXtBlock1d, Downsample1d, Upsample1d, factorize


@pytest.mark.parametrize("frames", [1, 5, 64])
def test_convnext_block_keeps_shape_and_starts_near_identity(frames):
    block = ConvNeXtBlock1d(8, kernel_size=7, layer_scale_init=1e-6)
    x = torch.randn(2, 8, frames)
    y = block(x)
    assert y.shape == x.shape
    assert (y - x).abs().max() < 1e-3


def test_resampling_layers_invert_each_others_layout():
    x = torch.randn(2, 8, 12)
    down = Downsample1d(8, 4, 3)(x)
    assert down.shape == (2, 4, 4)
    assert Upsample1d(4, 8, 3)(down).shape == x.shape


def test_factorize():
    assert factorize(1) == []
    assert factorize(8) == [2, 2, 2]
    assert factorize(12) == [2, 2, 3]
    with pytest.raises(ValueError):
        factorize(0)
    with pytest.raises(ValueError, match="odd"):
        ConvNeXtBlock1d(4, kernel_size=4)


def test_convnext_block_channels_last_is_the_same_block_transposed():
    torch.manual_seed(0)
    first = ConvNeXtBlock1d(8, kernel_size=5, layer_scale_init=0.5, hidden_dim=12)
    last = ConvNeXtBlock1d(8, kernel_size=5, layer_scale_init=0.5, hidden_dim=12, channels_last=True)
    last.load_state_dict(first.state_dict())
    assert first.pwconv1.out_features == 12
    x = torch.randn(2, 8, 9)
    torch.testing.assert_close(last(x.transpose(1, 2)).transpose(1, 2), first(x))
