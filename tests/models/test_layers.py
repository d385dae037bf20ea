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


def test_conditioned_block_needs_emb_and_plain_block_refuses_it():
    plain = ConvNeXtBlock1d(8)
    conditioned = ConvNeXtBlock1d(8, cond_dim=6)
    x, emb = torch.randn(2, 8, 5), torch.randn(2, 6)
    assert {k for k, _ in conditioned.named_parameters()} == {
        "dwconv.weight", "dwconv.bias", "pwconv1.weight", "pwconv1.bias",
        "pwconv2.weight", "pwconv2.bias", "modulation.weight", "modulation.bias",
    }
    assert torch.equal(conditioned(x, emb), x)  # adaLN-Zero: the identity at initialisation
    with pytest.raises(ValueError, match="emb"):
        plain(x, emb)
    with pytest.raises(ValueError, match="emb"):
        conditioned(x)


def test_conditioned_block_is_the_adaln_zero_convnext_block():
    """Against the block written out by hand: dwconv → norm · (1 + scale) + shift → MLP → gate."""
    torch.manual_seed(0)
    block = ConvNeXtBlock1d(8, kernel_size=5, mlp_ratio=1.5, cond_dim=6)
    with torch.no_grad():
        for p in block.parameters():
            p.normal_(0, 0.3)
    x, emb = torch.randn(2, 8, 9), torch.randn(2, 6)
    shift, scale, gate = block.modulation(emb).chunk(3, dim=1)
    h = torch.nn.functional.conv1d(x, block.dwconv.weight, block.dwconv.bias, padding=2, groups=8)
    h = torch.nn.functional.layer_norm(h.transpose(1, 2), (8,), eps=1e-6)
    h = h * (1 + scale[:, None]) + shift[:, None]
    h = block.pwconv2(torch.nn.functional.gelu(block.pwconv1(h))) * gate[:, None]
    torch.testing.assert_close(block(x, emb), x + h.transpose(1, 2))
    # circular: the same as convolving the clip tiled three times and keeping the middle
    tiled = block(torch.cat([x, x, x], dim=-1), emb)[..., 9:18]
    torch.testing.assert_close(block(x, emb, circular=True), tiled)


def test_legacy_conditioned_weights_load_renamed_and_reshaped():
    """A state dict in the denoiser's earlier layout (``dwconv.conv.*``, pointwise ``(out, in, 1)``)
    loads through ``load_state_dict`` (strict) and gives the same block."""
    from audiogen.models.layers import legacy_state, upgrade_legacy_state

    torch.manual_seed(1)
    block = torch.nn.Sequential(ConvNeXtBlock1d(8, cond_dim=4), ConvNeXtBlock1d(8))
    with torch.no_grad():
        for p in block.parameters():
            p.normal_(0, 0.3)
    old = legacy_state(block)
    assert old["0.pwconv1.weight"].shape == (32, 8, 1) and "0.dwconv.conv.weight" in old
    assert "1.dwconv.weight" in old and old["1.pwconv1.weight"].shape == (32, 8)  # plain: unchanged
    fresh = torch.nn.Sequential(ConvNeXtBlock1d(8, cond_dim=4), ConvNeXtBlock1d(8))
    fresh.load_state_dict(old, strict=True)
    for (name, a), b in zip(block.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert upgrade_legacy_state(block, old).keys() == block.state_dict().keys()
