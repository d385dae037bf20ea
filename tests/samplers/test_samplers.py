"""The ported samplers (audiogen.samplers) against diffusers' own schedulers: diffusers stays the reference.

Generation runs :mod:`audiogen.samplers` (no diffusers import); these tests build diffusers'
``DDPMScheduler`` / ``DPMSolverMultistepScheduler`` / ``DDIMScheduler`` / ``EulerDiscreteScheduler``
from the same configs and require the same betas, ``alphas_cumprod``, timesteps, sigmas, initial
noise scale, model-input scaling, step outputs over whole sampler runs, and ``add_noise`` (as the
SDEdit variation and inpainting paths call it).
"""

import dataclasses
import json

import pytest
import torch

from audiogen import hub
from audiogen.models.denoiser import DiffusionConfig
from audiogen.samplers import NoiseSchedule, randn
from audiogen.samplers.factory import SAMPLER_TABLE, SAMPLERS, make_sampler, noise_scheduler, schedule_config

BUNDLED = json.loads((hub.DEFAULT_PIPELINE / "scheduler" / hub.SCHEDULER_CONFIG_NAME).read_text())

#: training schedules: the bundled model's file, then DiffusionConfig variants of what training writes
CONFIGS = {
    "bundled": BUNDLED,
    "v-zero-snr": schedule_config(DiffusionConfig(rescale_betas_zero_snr=True)),
    "epsilon": schedule_config(DiffusionConfig(prediction_type="epsilon")),
    "linear-leading": {
        **schedule_config(DiffusionConfig(beta_schedule="linear", beta_start=1e-4, beta_end=0.02)),
        "timestep_spacing": "leading",
        "steps_offset": 1,
    },
    "cosine-linspace": {
        **schedule_config(DiffusionConfig(beta_schedule="squaredcos_cap_v2", num_train_timesteps=500)),
        "timestep_spacing": "linspace",
    },
}


def _theirs(name: str, config: dict):
    class_name, overrides = SAMPLER_TABLE[name]
    return hub.scheduler_class(class_name).from_config(config, **overrides)


def _exact(ours, theirs, what: str) -> None:
    ours, theirs = torch.as_tensor(ours), torch.as_tensor(theirs)
    assert ours.dtype == theirs.dtype, (what, ours.dtype, theirs.dtype)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0, msg=what)


@pytest.mark.parametrize("config_name", list(CONFIGS))
def test_training_schedule_matches_ddpm(config_name):
    config = CONFIGS[config_name]
    ours = NoiseSchedule.from_config(config)
    theirs = hub.scheduler_class("DDPMScheduler").from_config(config)
    _exact(ours.betas, theirs.betas, "betas")
    _exact(ours.alphas_cumprod, theirs.alphas_cumprod, "alphas_cumprod")
    x0, noise = torch.randn(3, 4, 8), torch.randn(3, 4, 8)
    t = torch.tensor([0, 300, ours.config.num_train_timesteps - 1])
    _exact(ours.add_noise(x0, noise, t), theirs.add_noise(x0, noise, t), "add_noise")
    _exact(ours.get_velocity(x0, noise, t), theirs.get_velocity(x0, noise, t), "get_velocity")


@pytest.mark.parametrize("steps", [4, 8, 25])
@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("config_name", list(CONFIGS))
def test_sampler_runs_match_diffusers(config_name, sampler, steps):
    """A whole run: same timesteps and sigmas, then the same sample after every step."""
    config = CONFIGS[config_name]
    ours, theirs = make_sampler(sampler, config), _theirs(sampler, config)
    _exact(ours.alphas_cumprod, theirs.alphas_cumprod, "alphas_cumprod")
    ours.set_timesteps(steps, device="cpu")
    theirs.set_timesteps(steps, device="cpu")
    _exact(ours.timesteps, theirs.timesteps, "timesteps")
    if hasattr(theirs, "sigmas"):
        _exact(ours.sigmas, theirs.sigmas, "sigmas")
    _exact(ours.init_noise_sigma, theirs.init_noise_sigma, "init_noise_sigma")
    assert ours.order == theirs.order
    g = torch.Generator().manual_seed(0)
    x_ours = x_theirs = torch.randn(2, 4, 16, generator=g) * ours.init_noise_sigma
    for i, t in enumerate(ours.timesteps):
        _exact(ours.scale_model_input(x_ours, t), theirs.scale_model_input(x_theirs, t), f"scaled input {i}")
        output = torch.randn(2, 4, 16, generator=g)  # a stand-in for the denoiser's prediction
        x_ours = ours.step(output, t, x_ours).prev_sample
        x_theirs = theirs.step(output, t, x_theirs).prev_sample
        _exact(x_ours, x_theirs, f"step {i} of {steps}")


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_partial_runs_add_noise_as_diffusers(sampler):
    """SDEdit (begin index set before add_noise) and inpainting (add_noise between steps)."""
    ours, theirs = make_sampler(sampler, BUNDLED), _theirs(sampler, BUNDLED)
    for s in (ours, theirs):
        s.set_timesteps(10, device="cpu")
    latent, noise = torch.randn(2, 4, 16), torch.randn(2, 4, 16)
    begin = 4 * ours.order
    if hasattr(theirs, "set_begin_index"):
        ours.set_begin_index(begin)
        theirs.set_begin_index(begin)
    first = ours.timesteps[begin:][:1].repeat(2)
    x_ours, x_theirs = ours.add_noise(latent, noise, first), theirs.add_noise(latent, noise, first)
    _exact(x_ours, x_theirs, "add_noise at the begin index")
    for i, t in enumerate(ours.timesteps[begin:]):
        output = torch.full_like(latent, 0.1 * i)
        x_ours = ours.step(output, t, ours.scale_model_input(x_ours, t)).prev_sample
        x_theirs = theirs.step(output, t, theirs.scale_model_input(x_theirs, t)).prev_sample
        _exact(x_ours, x_theirs, f"step {i}")
        later = ours.timesteps[begin + i : begin + i + 1]
        _exact(ours.add_noise(latent, noise, later), theirs.add_noise(latent, noise, later), f"add_noise {i}")


def test_noise_is_drawn_as_diffusers_draws_it():
    from diffusers.utils.torch_utils import randn_tensor

    for generator in (
        torch.Generator().manual_seed(3),
        [torch.Generator().manual_seed(3 + i) for i in range(3)],
        [torch.Generator().manual_seed(7)],
    ):
        shape = (len(generator) if isinstance(generator, list) else 2, 4, 8)
        states = [g.get_state() for g in (generator if isinstance(generator, list) else [generator])]
        ours = randn(shape, generator, "cpu")
        for g, state in zip(generator if isinstance(generator, list) else [generator], states, strict=True):
            g.set_state(state)
        _exact(ours, randn_tensor(shape, generator=generator, device=torch.device("cpu")), "noise")


def test_schedule_config_is_what_noise_scheduler_stores():
    for config in (DiffusionConfig(), DiffusionConfig(rescale_betas_zero_snr=True, beta_end=0.02)):
        stored = {k: v for k, v in dict(noise_scheduler(config).config).items() if not k.startswith("_")}
        ours = schedule_config(config)
        assert {k: ours[k] for k in stored} == stored
        assert ours["_class_name"] == "DDPMScheduler"


def test_noise_schedule_writes_its_config_back(tmp_path):
    schedule = hub.load_scheduler(hub.DEFAULT_PIPELINE / "scheduler")
    assert isinstance(schedule, NoiseSchedule) and hub.scheduler_name(schedule) == "DDPMScheduler"
    schedule.save_config(tmp_path)
    assert json.loads((tmp_path / hub.SCHEDULER_CONFIG_NAME).read_text()) == BUNDLED
    zero = type(schedule).from_config(schedule.config, rescale_betas_zero_snr=True)
    assert zero.config.rescale_betas_zero_snr is True and float(zero.alphas_cumprod[-1]) < 1e-6


@pytest.mark.parametrize(
    ("sampler", "option"),
    [
        ("dpm++", {"use_karras_sigmas": True}),
        ("dpm++", {"thresholding": True}),
        ("euler", {"timestep_type": "continuous"}),
    ],
)
def test_options_the_ports_lack_are_refused(sampler, option):
    with pytest.raises(ValueError, match=next(iter(option))):
        make_sampler(sampler, {**BUNDLED, **option})


def test_samplers_carry_the_schedule_options():
    config = dataclasses.replace(DiffusionConfig(), rescale_betas_zero_snr=True)
    for name in SAMPLERS:
        sampler = make_sampler(name, config)
        assert sampler.config.rescale_betas_zero_snr is True
        assert sampler.config.timestep_spacing == "trailing"
