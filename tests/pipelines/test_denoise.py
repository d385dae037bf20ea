"""The reverse-process loop and the samplers: noise scale, model-input scaling, guidance, variation.

Sampler wiring (initial noise scale, model-input scaling, epsilon / velocity conversions) is
checked against an exact denoiser: for Gaussian data N(MU, S²) the best noise and velocity
predictions are known in closed form, so a correct sampler must return samples with that mean and
spread, and epsilon and v-prediction must give the same samples.
"""

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from audiogen.models.denoiser import PREDICTION_TYPES, DiffusionConfig
from audiogen.pipelines.denoise import noise_and_denoise, sample_latents
from audiogen.samplers.factory import SAMPLERS, make_sampler, noise_scheduler, sampler_refusal
from tests.models.test_denoiser import TINY, _randomised

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
    if sampler_refusal(sampler, config):  # DDIM and a rectified-flow model (tests/samplers/test_flow.py)
        assert (sampler, prediction_type) == ("ddim", "flow_prediction")
        with pytest.raises(ValueError, match="cannot run a rectified-flow model"):
            make_sampler(sampler, config)
        return
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
