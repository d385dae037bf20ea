"""Zero-terminal-SNR option of the training noise schedule (Lin et al., 2024)."""

import pytest
import torch

from audiogen.models.denoiser import DiffusionConfig, LatentDenoiser
from audiogen.pipelines.denoise import sample_latents
from audiogen.samplers.factory import make_sampler, noise_scheduler


def test_zero_snr_ends_in_pure_noise_and_keeps_the_start():
    plain = noise_scheduler(DiffusionConfig())
    zero = noise_scheduler(DiffusionConfig(rescale_betas_zero_snr=True))
    assert float(plain.alphas_cumprod[-1]) > 1e-3  # ~7 % of the signal amplitude left at the last step
    assert float(zero.alphas_cumprod[-1]) < 1e-6
    torch.testing.assert_close(zero.alphas_cumprod[0], plain.alphas_cumprod[0], rtol=1e-3, atol=0)
    for name in ("dpm++", "ddim", "euler"):
        assert make_sampler(name, zero).config.rescale_betas_zero_snr is True


def test_zero_snr_needs_v_prediction_and_samples_finite_latents():
    with pytest.raises(ValueError, match="v_prediction"):
        DiffusionConfig(rescale_betas_zero_snr=True, prediction_type="epsilon")
    config = DiffusionConfig(
        latent_dim=4, channels=16, channel_mults=(1, 2), blocks_per_level=1, kernel_size=5,
        attention_heads=2, num_classes=2, rescale_betas_zero_snr=True,
    )  # fmt: skip
    model = LatentDenoiser(config)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.05)
    for name in ("dpm++", "ddim", "euler"):
        z = sample_latents(
            model, make_sampler(name, config), (2, 4, 8), labels=[0, 1], cfg_scale=3.0,
            generator=torch.Generator().manual_seed(0), progress=False, num_inference_steps=6,
        )  # fmt: skip
        assert z.shape == (2, 4, 8) and bool(z.isfinite().all()), name
