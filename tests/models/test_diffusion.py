"""The latent denoiser and its samplers: shapes, conditioning, circular equivariance, schedulers.

Sampler wiring (initial noise scale, model-input scaling, epsilon / velocity conversions) is
checked against an exact denoiser: for Gaussian data N(MU, S²) the best noise and velocity
predictions are known in closed form, so a correct sampler must return samples with that mean and
spread, and epsilon and v-prediction must give the same samples.
"""

import dataclasses
import random

import numpy as np
import pytest
import torch
from torch import nn

from audiogen.models.diffusion import (
    PREDICTION_TYPES,
    SAMPLERS,
    DiffusionConfig,
    LatentDenoiser,
    make_sampler,
    noise_and_denoise,
    noise_scheduler,
    pad_time,
    sample_latents,
    timestep_embedding,
)

TINY = DiffusionConfig(
    latent_dim=4,
    channels=16,
    channel_mults=(1, 2, 2),
    blocks_per_level=1,
    kernel_size=5,
    attention_layers=1,
    attention_heads=2,
    num_classes=3,
)


def _randomised(config: DiffusionConfig = TINY, seed: int = 0) -> LatentDenoiser:
    """A denoiser with random weights everywhere (the zero-initialised gates would hide everything)."""
    torch.manual_seed(seed)
    model = LatentDenoiser(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    return model


def test_initial_prediction_is_zero_and_shapes_hold_for_random_lengths():
    model = LatentDenoiser(TINY)
    x = torch.randn(2, 4, 37)
    assert torch.equal(model(x, torch.tensor([1, 999])), torch.zeros_like(x))  # adaLN-Zero + zero output conv
    rng = random.Random(0)
    model = _randomised()
    lengths = [1, 2, 3, 4, 5] + [rng.randint(6, 90) for _ in range(5)]
    with torch.no_grad():
        for frames in lengths:
            batch = rng.randint(1, 3)
            x = torch.randn(batch, 4, frames)
            out = model(x, torch.randint(0, 1000, (batch,)), torch.randint(-1, 4, (batch,)))
            assert out.shape == x.shape, frames
            assert torch.isfinite(out).all()
            if frames % model.length_multiple == 0:
                assert model(x, 500.0, circular=True).shape == x.shape
    assert model.length_multiple == 4


def test_bad_inputs_raise():
    model = _randomised()
    with pytest.raises(ValueError, match="latent_dim=4"):
        model(torch.randn(1, 5, 8), 10)
    with pytest.raises(ValueError, match="multiple of 4"):
        model(torch.randn(1, 4, 10), 10, circular=True)
    with pytest.raises(ValueError, match="out of range"):
        model(torch.randn(1, 4, 8), 10, torch.tensor([4]))
    unconditional = LatentDenoiser(dataclasses.replace(TINY, num_classes=0))
    with pytest.raises(ValueError, match="unconditional"):
        unconditional(torch.randn(1, 4, 8), 10, torch.tensor([0]))
    with pytest.raises(ValueError, match="prediction_type"):
        DiffusionConfig(prediction_type="sample")
    with pytest.raises(ValueError, match="class_labels"):
        DiffusionConfig(num_classes=2, class_labels=("a",))


def test_conditioning_changes_the_output():
    model = _randomised()
    x = torch.randn(3, 4, 24)
    with torch.no_grad():
        base = model(x, torch.tensor([100, 100, 100]), torch.tensor([0, 0, 0]))
        other_label = model(x, torch.tensor([100, 100, 100]), torch.tensor([1, 2, 3]))
        other_time = model(x, torch.tensor([700, 700, 700]), torch.tensor([0, 0, 0]))
        null = model(x, 100, None)
        explicit_null = model(x, 100, torch.tensor([-1, 3, -1]))
    assert (base - other_label).abs().amax(dim=(1, 2)).min() > 1e-3  # every example changed
    assert (base - other_time).abs().max() > 1e-3
    torch.testing.assert_close(null, explicit_null)  # None, -1 and num_classes are all "no label"


@pytest.mark.parametrize("shift", [4, 8, 28])
def test_circular_mode_is_shift_equivariant(shift):
    model = _randomised()
    x = torch.randn(2, 4, 32)
    t, labels = torch.tensor([5, 800]), torch.tensor([1, 2])
    with torch.no_grad():
        rolled_then = model(torch.roll(x, shift, dims=-1), t, labels, circular=True)
        then_rolled = torch.roll(model(x, t, labels, circular=True), shift, dims=-1)
        plain_rolled_then = model(torch.roll(x, shift, dims=-1), t, labels)
        plain_then_rolled = torch.roll(model(x, t, labels), shift, dims=-1)
    torch.testing.assert_close(rolled_then, then_rolled, atol=2e-5, rtol=1e-4)
    # zero padding sees the clip's ends: the same check fails without wrap-around
    assert (plain_rolled_then - plain_then_rolled).abs().max() > 1e-2


def test_circular_context_wraps_around_and_any_shift_without_downsampling():
    flat = _randomised(dataclasses.replace(TINY, channel_mults=(1,), attention_layers=0))
    assert flat.length_multiple == 1
    x = torch.randn(1, 4, 13)  # any length, any shift when time is never halved
    with torch.no_grad():
        a = flat(torch.roll(x, 5, dims=-1), 300, circular=True)
        b = torch.roll(flat(x, 300, circular=True), 5, dims=-1)
    torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4)
    # the first output frame depends on the last input frame only in circular mode
    x = torch.randn(1, 4, 16, requires_grad=True)
    for circular, expect_dependency in ((True, True), (False, False)):
        out = flat(x, 300, circular=circular)
        (grad,) = torch.autograd.grad(out[..., 0].sum(), x)
        assert (grad[..., -1].abs().sum() > 0) == expect_dependency


def test_pad_time_wraps_more_than_the_clip_length():
    x = torch.arange(3.0).reshape(1, 1, 3)
    assert pad_time(x, 4, 5, circular=True).flatten().tolist() == [2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1]
    assert pad_time(x, 1, 1, circular=False).flatten().tolist() == [0, 0, 1, 2, 0]


def test_timestep_embedding_shape_and_fractional_steps():
    emb = timestep_embedding(torch.tensor([0.0, 10.0, 10.5]), 7)
    assert emb.shape == (3, 7)
    assert torch.equal(emb[0, :3], torch.ones(3)) and torch.all(emb[:, -1] == 0)
    assert not torch.allclose(emb[1], emb[2])


def test_save_and_load_round_trip(tmp_path):
    model = _randomised(dataclasses.replace(TINY, class_labels=("a", "b", "c")))
    model.save_pretrained(tmp_path / "denoiser")
    loaded = LatentDenoiser.from_pretrained(tmp_path / "denoiser")
    assert loaded.config == model.config and loaded.config.class_labels == ("a", "b", "c")
    x = torch.randn(2, 4, 20)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, 42, torch.tensor([0, 2])), model(x, 42, torch.tensor([0, 2])))


# ------------------------------------------------------------------------------- samplers

MU, S = 0.5, 1.0


class GaussianOracle(nn.Module):
    """The exact noise / velocity prediction for data ~ N(MU, S²) (element-wise).

    ``x_t = a x0 + b eps``: ``E[eps | x_t] = b (x_t - a MU) / (a² S² + b²)``,
    ``E[x0 | x_t] = MU + a S² (x_t - a MU) / (a² S² + b²)``, ``v = a eps - b x0``. Fractional
    timesteps (Euler) use the schedule's sigma interpolated linearly, as EulerDiscreteScheduler does.
    """

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__()
        self.config = config
        alphas_cumprod = noise_scheduler(config).alphas_cumprod.double()
        self.sigmas = ((1 - alphas_cumprod) / alphas_cumprod).sqrt().numpy()
        self.calls: list[int] = []

    def forward(self, x, t, labels=None, circular=False):
        self.calls.append(x.shape[0])
        t = torch.as_tensor(t).double().reshape(-1).numpy()
        sigma = torch.from_numpy(np.interp(t, np.arange(len(self.sigmas)), self.sigmas))
        alpha_bar = (1 / (1 + sigma**2))[:, None, None]
        a, b = alpha_bar.sqrt(), (1 - alpha_bar).sqrt()
        x = x.double()
        denom = a**2 * S**2 + b**2
        eps = b * (x - a * MU) / denom
        x0 = MU + a * S**2 * (x - a * MU) / denom
        out = eps if self.config.prediction_type == "epsilon" else a * eps - b * x0
        return out.float()


def _oracle_samples(sampler: str, prediction_type: str, seed: int, steps: int = 25) -> torch.Tensor:
    config = DiffusionConfig(latent_dim=4, prediction_type=prediction_type)
    return sample_latents(
        GaussianOracle(config),
        make_sampler(sampler, config),
        (4, 4, 256),
        generator=torch.Generator().manual_seed(seed),
        progress=False,
        num_inference_steps=steps,
    )


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_samplers_reproduce_gaussian_data_with_epsilon_and_v_prediction(sampler):
    eps = _oracle_samples(sampler, "epsilon", seed=0)
    v = _oracle_samples(sampler, "v_prediction", seed=0)
    assert eps.shape == (4, 4, 256) and torch.isfinite(eps).all()
    # the non-zero terminal SNR of the schedule keeps ~7 % of the mean out of the start noise
    assert abs(eps.mean().item() - MU) < 0.1, eps.mean()
    assert abs(eps.std().item() - S) < 0.1, eps.std()
    torch.testing.assert_close(eps, v, atol=2e-3, rtol=1e-3)  # same ODE, two parametrisations
    again = _oracle_samples(sampler, "epsilon", seed=0)
    assert torch.equal(eps, again)
    other = _oracle_samples(sampler, "epsilon", seed=1)
    assert (eps - other).abs().mean() > 0.1


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_sample_latents_with_a_tiny_model(sampler, prediction_type):
    config = dataclasses.replace(TINY, prediction_type=prediction_type)
    model = _randomised(config)
    scheduler = make_sampler(sampler, config)

    def run(seed, **kwargs):
        args = {"labels": [0, 2], "cfg_scale": 2.5, "num_inference_steps": 5, **kwargs}
        g = torch.Generator().manual_seed(seed)
        return sample_latents(model, scheduler, (2, 4, 18), generator=g, progress=False, **args)

    z = run(0)
    assert z.shape == (2, 4, 18) and z.dtype == torch.float32 and torch.isfinite(z).all()
    assert torch.equal(z, run(0))
    assert not torch.allclose(z, run(1))
    assert not torch.allclose(z, run(0, cfg_scale=1.0))
    assert not torch.allclose(z, run(0, labels=[1, 1]))


def test_circular_sampling_needs_a_multiple_and_gives_a_loop():
    model = _randomised()
    scheduler = make_sampler("dpm++", TINY)
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="multiple of 4"):
        sample_latents(model, scheduler, (1, 4, 18), generator=g, circular=True, progress=False)
    z = sample_latents(
        model, scheduler, (1, 4, 20), generator=g, circular=True, progress=False, num_inference_steps=4
    )
    assert z.shape == (1, 4, 20) and torch.isfinite(z).all()


def test_guidance_batches_conditional_and_null_in_one_call():
    config = DiffusionConfig(latent_dim=4, num_classes=2)
    oracle = GaussianOracle(config)
    scheduler = make_sampler("ddim", config)
    sample_latents(
        oracle, scheduler, (3, 4, 8), labels=[0, 1, 0], cfg_scale=3.0, progress=False, num_inference_steps=5
    )
    assert oracle.calls == [6] * 5
    oracle.calls.clear()
    sample_latents(
        oracle, scheduler, (3, 4, 8), labels=[0, 1, 0], cfg_scale=1.0, progress=False, num_inference_steps=5
    )
    assert oracle.calls == [3] * 5


def test_mismatched_scheduler_and_shape_raise():
    model = _randomised()
    with pytest.raises(ValueError, match="v_prediction"):
        sample_latents(
            model, make_sampler("euler", dataclasses.replace(TINY, prediction_type="epsilon")), (1, 4, 8)
        )
    with pytest.raises(ValueError, match="latent_dim=4"):
        sample_latents(model, make_sampler("euler", TINY), (1, 3, 8))
    with pytest.raises(ValueError, match="unknown sampler"):
        make_sampler("heun", TINY)
    with pytest.raises(ValueError, match="strength"):
        noise_and_denoise(model, make_sampler("ddim", TINY), torch.zeros(1, 4, 8), 1.5)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_noise_and_denoise_moves_further_from_the_source_with_strength(sampler):
    config = DiffusionConfig(latent_dim=4)
    source = torch.full((2, 4, 64), 3.0)  # far from the data mean MU

    def vary(strength):
        return noise_and_denoise(
            GaussianOracle(config),
            make_sampler(sampler, config),
            source,
            strength,
            generator=torch.Generator().manual_seed(0),
            progress=False,
        )

    assert torch.equal(vary(0.0), source)
    means = [vary(s).mean().item() for s in (0.2, 0.6, 1.0)]
    assert 3.0 > means[0] > means[1] > means[2], means
    assert abs(means[2] - MU) < 0.3, means  # full strength forgets the source
