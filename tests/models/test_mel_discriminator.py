"""The multi-scale mel patch discriminator: shapes on random lengths, gradients, save/load."""

import random

import pytest
import torch

from audiogen.models.discriminators import (
    MelDiscriminatorConfig,
    MultiScaleMelDiscriminator,
    discriminator_adversarial_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)

TINY = MelDiscriminatorConfig(scales=(1, 2, 4), channels=4, max_channels=16, num_layers=3)


@pytest.mark.parametrize("seed", range(4))
def test_shapes_on_random_lengths(seed):
    rng = random.Random(seed)
    batch, n_mels, frames = rng.randint(1, 3), rng.choice([4, 32, 80]), rng.randint(4, 200)
    disc = MultiScaleMelDiscriminator(TINY)
    out = disc(torch.randn(batch, n_mels, frames) - 5)
    assert len(out.logits) == len(out.feature_maps) == 3
    for scale, logits, feats in zip(TINY.scales, out.logits, out.feature_maps, strict=True):
        assert logits.shape[0] == batch and logits.ndim == 2 and logits.shape[1] >= 1
        assert torch.isfinite(logits).all()
        # first feature map keeps the pooled resolution; each stride-2 layer halves it (rounded up)
        assert feats[0].shape[-2:] == (n_mels // scale, frames // scale)
        assert len(feats) == TINY.num_layers + 3  # input conv, strided convs, stride-1 conv, logits
        assert feats[-1].shape[1] == 1


def test_rejects_bad_input():
    disc = MultiScaleMelDiscriminator(TINY)
    with pytest.raises(ValueError, match="at least 4"):
        disc(torch.randn(1, 80, 3))
    with pytest.raises(ValueError, match="n_mels, frames"):
        disc(torch.randn(80, 40))
    with pytest.raises(ValueError, match="scales"):
        MelDiscriminatorConfig(scales=(0,))


def test_losses_train_the_discriminator_and_reach_the_generator_input():
    torch.manual_seed(0)
    disc = MultiScaleMelDiscriminator(TINY)
    real = torch.randn(2, 32, 40) - 5
    fake = (torch.randn(2, 32, 40) - 5).requires_grad_(True)
    d_out_real, d_out_fake = disc(real), disc(fake.detach())
    d_loss = discriminator_adversarial_loss(d_out_real.logits, d_out_fake.logits)
    d_loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in disc.parameters())
    g_out = disc(fake)
    g_loss = generator_adversarial_loss(g_out.logits) + feature_matching_loss(
        d_out_real.feature_maps, g_out.feature_maps
    )
    g_loss.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0


def test_save_load_round_trip(tmp_path):
    disc = MultiScaleMelDiscriminator(TINY)
    disc.save_pretrained(tmp_path / "d")
    loaded = MultiScaleMelDiscriminator.from_pretrained(tmp_path / "d")
    x = torch.randn(1, 32, 24) - 5
    assert loaded.config == TINY
    for a, b in zip(disc(x).logits, loaded(x).logits, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
