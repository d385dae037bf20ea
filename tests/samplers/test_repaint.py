"""RePaint's resampling helpers (:mod:`audiogen.samplers.repaint`) on every sampler."""

import pytest
import torch

from audiogen.samplers.factory import SAMPLERS, make_sampler
from audiogen.samplers.repaint import load_run_state, renoise, run_state
from tests.samplers.test_samplers import CONFIGS


@pytest.mark.parametrize("config_name", ["bundled", "epsilon", "v-zero-snr"])
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_renoise_lands_on_the_noisier_level_of_add_noise(sampler, config_name):
    """x0 noised to t_from and renoised to t_to has add_noise(x0, ., t_to)'s signal and noise parts."""
    s = make_sampler(sampler, CONFIGS[config_name])
    s.set_timesteps(8)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(4, 8, 4000, generator=g)
    n1, n2 = torch.randn(x0.shape, generator=g), torch.randn(x0.shape, generator=g)
    for i in (1, 4, 6):
        t_to, t_from = s.timesteps[i], s.timesteps[i + 1]
        x = renoise(s, s.add_noise(x0, n1, t_from.reshape(1)), t_from, t_to, n2)
        a = float(s.add_noise(torch.ones(1, 1, 1), torch.zeros(1, 1, 1), t_to.reshape(1)))
        sd = float(s.add_noise(torch.zeros(1, 1, 1), torch.ones(1, 1, 1), t_to.reshape(1)))
        residual = x - a * x0  # what is left is noise of standard deviation sd, uncorrelated with x0
        assert abs(residual.std().item() / sd - 1) < 0.01, (i, residual.std().item(), sd)
        assert abs((residual * x0).mean().item()) < 0.01 * sd
        assert sd > float(s.add_noise(torch.zeros(1, 1, 1), torch.ones(1, 1, 1), t_from.reshape(1)))


def test_renoise_to_the_same_level_changes_nothing():
    s = make_sampler("dpm++", CONFIGS["bundled"])
    s.set_timesteps(8)
    x = torch.randn(2, 4, 16)
    t = s.timesteps[3]
    assert torch.allclose(renoise(s, x, t, t, torch.randn_like(x)), x, atol=1e-6)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_a_rewound_step_is_the_same_step(sampler):
    """After load_run_state the sampler takes the same step again (DPM-Solver++'s history included)."""
    s = make_sampler(sampler, CONFIGS["bundled"])
    s.set_timesteps(6)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 16, generator=g)
    outputs = [torch.randn(2, 4, 16, generator=g) for _ in s.timesteps]
    for out, t in zip(outputs[:2], s.timesteps[:2], strict=False):
        x = s.step(out, t, s.scale_model_input(x, t)).prev_sample
    state = run_state(s)
    t = s.timesteps[2]
    first = s.step(outputs[2], t, s.scale_model_input(x, t)).prev_sample
    load_run_state(s, state)
    other = s.step(outputs[3], t, s.scale_model_input(x, t)).prev_sample  # a different pass
    load_run_state(s, state)
    again = s.step(outputs[2], t, s.scale_model_input(x, t)).prev_sample
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert s.step_index in (None, 3)  # DDIM keeps no step index, the others count on from 3
