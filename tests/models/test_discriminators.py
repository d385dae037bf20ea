"""Discriminators (MPD, MRD) and the vocoder's GAN / reconstruction losses."""

import math

import pytest
import torch

from audiogen.audio.features import LogMelSpectrogram
from audiogen.config import MelConfig
from audiogen.models.discriminators import (
    DISCRIMINATOR_LOSS_NAMES,
    GENERATOR_LOSS_NAMES,
    DiscriminatorConfig,
    MelL1Loss,
    MultiPeriodDiscriminator,
    MultiResolutionDiscriminator,
    VocoderDiscriminator,
    VocoderLoss,
    discriminator_adversarial_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)

SMALL = DiscriminatorConfig(period_channels=(4, 8, 8, 16, 16), resolution_channels=8)


def tone(samples: int, sample_rate: int = 22050, f0: float = 330.0) -> torch.Tensor:
    """``(1, 1, samples)`` harmonic tone."""
    t = torch.arange(samples) / sample_rate
    return (0.4 * torch.sin(2 * math.pi * f0 * t) + 0.2 * torch.sin(2 * math.pi * 2 * f0 * t)).view(1, 1, -1)


def test_discriminators_on_random_lengths():
    disc = VocoderDiscriminator(SMALL)
    gen = torch.Generator().manual_seed(3)
    for samples in [disc.min_samples] + torch.randint(1100, 6000, (4,), generator=gen).tolist():
        batch = int(torch.randint(1, 4, (1,), generator=gen))
        out = disc(torch.randn(batch, 1, samples, generator=gen))
        assert set(out) == {"mpd", "mrd"}
        assert len(out["mpd"].logits) == 5 and len(out["mrd"].logits) == 3
        for group in out.values():
            assert len(group.feature_maps) == len(group.logits)
            for logits, maps in zip(group.logits, group.feature_maps, strict=True):
                assert logits.ndim == 2 and logits.shape[0] == batch and logits.shape[1] > 0
                assert len(maps) == 6  # five convolutions + the output convolution
                assert all(m.shape[0] == batch and torch.isfinite(m).all() for m in maps)
                assert torch.isfinite(logits).all()


def test_period_discriminator_folds_by_period():
    mpd = MultiPeriodDiscriminator(periods=(2, 3), channels=(4, 4))
    x = torch.randn(1, 1, 601)
    out = mpd(x)
    # the first feature map is (batch, channels, ceil(samples / period) / stride, period)
    assert out.feature_maps[0][0].shape[-1] == 2
    assert out.feature_maps[1][0].shape[-1] == 3
    assert out.feature_maps[1][0].shape[-2] == math.ceil(math.ceil(601 / 3) / 3)


def test_resolution_discriminator_sees_the_magnitude_spectrogram():
    mrd = MultiResolutionDiscriminator(resolutions=((256, 64),), channels=4)
    x = torch.randn(2, 1, 2000)
    spec = mrd.discriminators[0].spectrogram(x)
    assert spec.shape == (2, 1, 129, 2000 // 64 + 1)
    # Only magnitudes: a sign flip of the waveform changes nothing.
    out, flipped = mrd(x), mrd(-x)
    torch.testing.assert_close(out.logits[0], flipped.logits[0])


def test_discriminator_input_errors():
    disc = VocoderDiscriminator(SMALL)
    with pytest.raises(ValueError, match=r"\(batch, 1, samples\)"):
        disc(torch.randn(2, 3000))
    with pytest.raises(ValueError, match="at least"):
        disc(torch.randn(1, 1, 100))
    with pytest.raises(ValueError, match="floating point"):
        disc(torch.zeros(1, 1, 3000, dtype=torch.long))


def test_adversarial_losses_take_their_textbook_values():
    ones, minus = [torch.ones(2, 5)], [-torch.ones(2, 5)]
    # hinge (Vocos): generator mean(relu(1 - D(G))), discriminator mean(relu(1 - D(x))) + mean(relu(1 + D(G)))
    assert generator_adversarial_loss([torch.full((2, 5), 2.0)]).item() == 0.0
    assert generator_adversarial_loss(minus).item() == pytest.approx(2.0)
    assert discriminator_adversarial_loss([torch.full((2, 5), 1.5)], [torch.full((2, 5), -1.5)]).item() == 0.0
    assert discriminator_adversarial_loss([torch.full((2, 5), -1.5)], [torch.full((2, 5), 1.5)]).item() == 5.0
    # least squares (HiFi-GAN): generator mean((1 - D)^2), discriminator mean((1 - D(x))^2) + mean(D(G)^2)
    assert generator_adversarial_loss(ones, "lsgan").item() == 0.0
    assert generator_adversarial_loss(minus, "lsgan").item() == pytest.approx(4.0)
    assert discriminator_adversarial_loss(ones, [torch.zeros(2, 5)], "lsgan").item() == 0.0
    assert discriminator_adversarial_loss(minus, ones, "lsgan").item() == pytest.approx(5.0)
    # averaged over sub-discriminators
    assert generator_adversarial_loss(minus + [torch.full((1, 3), 2.0)]).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="hinge"):
        generator_adversarial_loss(ones, "wasserstein")
    with pytest.raises(ValueError, match="as many"):
        discriminator_adversarial_loss(ones, ones + ones)


def test_feature_matching_loss():
    real = [[torch.randn(2, 3, 4), torch.randn(2, 1, 5)], [torch.randn(2, 2, 2)]]
    same = [[f.clone().requires_grad_() for f in layers] for layers in real]
    assert feature_matching_loss(real, same).item() == 0.0
    shifted = [[(f + 0.5).requires_grad_() for f in layers] for layers in real]
    loss = feature_matching_loss(real, shifted)
    # per sub-discriminator: sum over layers of mean |diff|; then the mean over sub-discriminators
    assert loss.item() == pytest.approx((0.5 + 0.5 + 0.5) / 2)
    loss.backward()
    assert all(f.grad is not None and f.grad.abs().sum() > 0 for layers in shifted for f in layers)
    with pytest.raises(ValueError, match="shapes differ"):
        feature_matching_loss([[torch.zeros(1, 2)]], [[torch.zeros(1, 3)]])


def test_mel_l1_matches_the_front_end_and_behaves():
    cfg = MelConfig()
    loss = MelL1Loss(cfg)
    x = tone(8000)
    # same log-mel as the front end (to float32 rounding, which the log magnifies near the floor)
    torch.testing.assert_close(loss.log_mel(x), LogMelSpectrogram(cfg)(x[:, 0]).mel, rtol=1e-3, atol=1e-2)
    assert loss(x, x.clone()).item() < 1e-6
    noise = torch.randn_like(x) * 0.3
    assert loss(noise, x).item() > 1.0  # nats; about 8.7 dB


def test_mel_l1_gradient_is_finite_even_for_silence():
    loss = MelL1Loss(MelConfig())
    prediction = torch.zeros(1, 1, 4096, requires_grad=True)
    loss(prediction, tone(4096)).backward()
    assert torch.isfinite(prediction.grad).all()


def test_vocoder_losses_are_named_finite_and_differentiable():
    cfg = MelConfig()
    losses = VocoderLoss(cfg)
    disc = VocoderDiscriminator(SMALL)
    target = tone(4096)
    prediction = (torch.randn_like(target) * 0.1).requires_grad_()

    gen = losses.generator_losses(prediction, target, disc)
    assert tuple(gen) == GENERATOR_LOSS_NAMES
    for name, value in gen.items():
        assert value.ndim == 0 and value.dtype == torch.float32 and torch.isfinite(value), name
    sum(gen.values()).backward()
    assert prediction.grad is not None and torch.isfinite(prediction.grad).all()
    assert prediction.grad.abs().sum() > 0

    disc.zero_grad()
    prediction.grad = None
    d = losses.discriminator_losses(prediction, target, disc)
    assert tuple(d) == DISCRIMINATOR_LOSS_NAMES
    d["adv_disc"].backward()
    assert prediction.grad is None  # generated audio is detached in the discriminator phase
    grads = [p.grad for p in disc.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)

    # reconstruction only (mel warm-up): no discriminator needed
    assert tuple(losses.generator_losses(prediction, target)) == ("mel_l1", "mrstft")


def test_reconstruction_losses_vanish_for_a_perfect_prediction():
    losses = VocoderLoss(MelConfig())
    x = tone(6000)
    same = losses.reconstruction_losses(x.clone(), x)
    other = losses.reconstruction_losses(torch.randn_like(x) * 0.3, x)
    assert same["mel_l1"].item() < 1e-6 and same["mrstft"].item() < 1e-3
    assert other["mel_l1"].item() > 1.0 and other["mrstft"].item() > 1.0
    with pytest.raises(ValueError, match="differ"):
        losses.reconstruction_losses(x[..., :100], x)


def test_group_weights_scale_the_adversarial_terms():
    disc = VocoderDiscriminator(SMALL)
    target, prediction = tone(3000), torch.randn(1, 1, 3000) * 0.1
    both = VocoderLoss(MelConfig()).generator_losses(prediction, target, disc)
    from audiogen.models.discriminators import VocoderLossConfig

    mpd_only = VocoderLoss(MelConfig(), VocoderLossConfig(group_weights={"mpd": 1.0, "mrd": 0.0}))
    only = mpd_only.generator_losses(prediction, target, disc)
    expected = generator_adversarial_loss(disc(prediction)["mpd"].logits)
    torch.testing.assert_close(only["adv_gen"], expected)
    assert both["adv_gen"].item() != pytest.approx(only["adv_gen"].item())


def test_discriminator_save_load_round_trip(tmp_path):
    disc = VocoderDiscriminator(SMALL).eval()
    disc.save_pretrained(tmp_path / "disc")
    loaded = VocoderDiscriminator.from_pretrained(tmp_path / "disc")
    assert loaded.config == disc.config
    x = torch.randn(1, 1, 3000)
    with torch.no_grad():
        a, b = disc(x), loaded(x)
    for group in ("mpd", "mrd"):
        for la, lb in zip(a[group].logits, b[group].logits, strict=True):
            assert torch.equal(la, lb)
