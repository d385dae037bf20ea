"""Rectified flow: the training process's identities, and its samplers against diffusers' own.

``FlowMatchSchedule`` (``x_t = (1 - t) x0 + t noise``, ``v = noise - x0``) must give back ``x0``
and the noise from ``x_t`` and the true velocity; the ported samplers must give diffusers'
``FlowMatchEulerDiscreteScheduler`` and ``DPMSolverMultistepScheduler(use_flow_sigmas=True,
prediction_type="flow_prediction")`` timesteps, sigmas and step outputs exactly; with the exact
velocity of Gaussian data they must reproduce that data; DDIM is refused.
"""

import json

import numpy as np
import pytest
import torch
from torch import nn

from audiogen import hub
from audiogen.models.denoiser import DiffusionConfig
from audiogen.pipelines.denoise import noise_and_denoise, sample_latents
from audiogen.samplers import FlowMatchEulerDiscrete, FlowMatchSchedule, NoiseSchedule
from audiogen.samplers.factory import (
    FLOW_SAMPLER_TABLE,
    SAMPLERS,
    make_sampler,
    noise_scheduler,
    sampler_refusal,
    schedule_config,
)
from audiogen.samplers.repaint import renoise
from audiogen.training.tasks.diffusion import add_training_noise, training_timesteps

FLOW = DiffusionConfig(latent_dim=4, prediction_type="flow_prediction")
#: flow schedules as training writes them: plain, shifted (SD3 samples with 3.0), another length
CONFIGS = {
    "plain": schedule_config(FLOW),
    "shift-3": schedule_config(DiffusionConfig(prediction_type="flow_prediction", flow_shift=3.0)),
    "500-shift-0.5": schedule_config(
        DiffusionConfig(prediction_type="flow_prediction", num_train_timesteps=500, flow_shift=0.5)
    ),
}


def _theirs(name: str, config: dict):
    """diffusers' scheduler for sampler ``name`` from ``config`` (without audiogen's prediction_type key,
    which diffusers' FlowMatchEulerDiscreteScheduler does not take)."""
    class_name, overrides = FLOW_SAMPLER_TABLE[name]
    config = {k: v for k, v in config.items() if k != "prediction_type"}
    if class_name == "DPMSolverMultistepScheduler":
        overrides = {**overrides, "flow_shift": config["shift"]}
    return hub.scheduler_class(class_name).from_config(config, **overrides)


def _exact(ours, theirs, what: str) -> None:
    ours, theirs = torch.as_tensor(ours), torch.as_tensor(theirs)
    assert ours.dtype == theirs.dtype, (what, ours.dtype, theirs.dtype)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0, msg=what)


# ------------------------------------------------------------------------------------------------
# the training process


def test_flow_noising_and_target_give_back_the_latent_and_the_noise():
    schedule = noise_scheduler(FLOW)
    assert isinstance(schedule, FlowMatchSchedule) and schedule.config.prediction_type == "flow_prediction"
    x0, noise = torch.randn(5, 4, 16), torch.randn(5, 4, 16)
    timesteps = torch.tensor([0.0, 1.0, 250.5, 999.0, 1000.0])
    noised = add_training_noise(schedule, x0, noise, timesteps)
    t = (timesteps / 1000)[:, None, None]
    torch.testing.assert_close(noised.noisy, (1 - t) * x0 + t * noise)
    torch.testing.assert_close(noised.target, noise - x0)
    torch.testing.assert_close(schedule.get_velocity(x0, noise, timesteps), noised.target)
    # x0 = x_t - t v and noise = x_t + (1 - t) v, at every t
    torch.testing.assert_close(noised.noisy - t * noised.target, x0, atol=1e-6, rtol=0)
    torch.testing.assert_close(noised.noisy + (1 - t) * noised.target, noise, atol=1e-6, rtol=0)
    assert torch.equal(noised.noisy[0], x0[0]) and torch.equal(noised.noisy[-1], noise[-1])
    # a DDPM schedule keeps its v-prediction target (not the flow's)
    ddpm = add_training_noise(noise_scheduler(DiffusionConfig()), x0, noise, torch.tensor([500] * 5))
    assert not torch.allclose(ddpm.target, noise - x0, atol=0.1)


def test_flow_noising_matches_diffusers_scale_noise_at_its_timesteps():
    theirs = _theirs("euler", CONFIGS["shift-3"])
    theirs.set_timesteps(10, device="cpu")
    x0, noise = torch.randn(10, 4, 8), torch.randn(10, 4, 8)
    ours = FlowMatchSchedule.from_config(CONFIGS["shift-3"]).add_noise(x0, noise, theirs.timesteps)
    torch.testing.assert_close(ours, theirs.scale_noise(x0, theirs.timesteps, noise), atol=1e-6, rtol=0)


def test_training_times_follow_the_configured_distribution():
    g = torch.Generator().manual_seed(0)
    logit = training_timesteps(FLOW, 20000, "cpu", generator=g) / 1000
    assert logit.dtype == torch.float32 and 0 < logit.min() and logit.max() < 1
    z = torch.logit(logit.double())
    assert abs(z.mean().item()) < 0.03 and abs(z.std().item() - 1.0) < 0.03  # logit-normal(0, 1)
    assert ((logit > 0.25) & (logit < 0.75)).float().mean() > 0.7  # the middle of the path weighted
    leaning = DiffusionConfig(prediction_type="flow_prediction", flow_logit_mean=1.0, flow_logit_std=0.5)
    z = torch.logit(training_timesteps(leaning, 20000, "cpu", generator=g).double() / 1000)
    assert abs(z.mean().item() - 1.0) < 0.03 and abs(z.std().item() - 0.5) < 0.03
    uniform = DiffusionConfig(prediction_type="flow_prediction", flow_time_sampling="uniform")
    u = training_timesteps(uniform, 20000, "cpu", generator=g) / 1000
    assert abs(u.mean().item() - 0.5) < 0.01 and ((u > 0.25) & (u < 0.75)).float().mean() < 0.52
    ddpm = training_timesteps(DiffusionConfig(), 100, "cpu", generator=g)
    assert ddpm.dtype == torch.int64 and 0 <= ddpm.min() and ddpm.max() < 1000
    again = torch.Generator().manual_seed(0)
    assert torch.equal(training_timesteps(FLOW, 20000, "cpu", generator=again) / 1000, logit)


# ------------------------------------------------------------------------------------------------
# the samplers against diffusers


@pytest.mark.parametrize("steps", [1, 4, 8, 25])
@pytest.mark.parametrize("sampler", list(FLOW_SAMPLER_TABLE))
@pytest.mark.parametrize("config_name", list(CONFIGS))
def test_flow_sampler_runs_match_diffusers(config_name, sampler, steps):
    """A whole run: same timesteps and sigmas, then the same sample after every step."""
    config = CONFIGS[config_name]
    ours, theirs = make_sampler(sampler, config), _theirs(sampler, config)
    assert ours.config.prediction_type == "flow_prediction"
    ours.set_timesteps(steps, device="cpu")
    theirs.set_timesteps(steps, device="cpu")
    _exact(ours.timesteps, theirs.timesteps, "timesteps")
    _exact(ours.sigmas, theirs.sigmas, "sigmas")
    assert float(ours.sigmas[-1]) == 0.0 and float(ours.sigmas[0]) > 0.99
    assert ours.init_noise_sigma == getattr(theirs, "init_noise_sigma", 1.0) == 1.0
    assert ours.order == theirs.order
    g = torch.Generator().manual_seed(0)
    x_ours = x_theirs = torch.randn(2, 4, 16, generator=g)
    for i, t in enumerate(ours.timesteps):
        _exact(ours.scale_model_input(x_ours, t), x_ours, f"scaled input {i}")
        output = torch.randn(2, 4, 16, generator=g)  # a stand-in for the denoiser's prediction
        x_ours = ours.step(output, t, x_ours).prev_sample
        x_theirs = theirs.step(output, t, x_theirs).prev_sample
        _exact(x_ours, x_theirs, f"step {i} of {steps}")


@pytest.mark.parametrize("sampler", list(FLOW_SAMPLER_TABLE))
def test_flow_partial_runs_add_noise_as_diffusers(sampler):
    """SDEdit (begin index set before add_noise) and inpainting (add_noise between steps)."""
    config = CONFIGS["shift-3"]
    ours, theirs = make_sampler(sampler, config), _theirs(sampler, config)
    noising = (
        theirs.add_noise if hasattr(theirs, "add_noise") else (lambda x, n, t: theirs.scale_noise(x, t, n))
    )
    for s in (ours, theirs):
        s.set_timesteps(10, device="cpu")
    latent, noise = torch.randn(2, 4, 16), torch.randn(2, 4, 16)
    begin = 4
    ours.set_begin_index(begin)
    theirs.set_begin_index(begin)
    first = ours.timesteps[begin:][:1].repeat(2)
    x_ours, x_theirs = ours.add_noise(latent, noise, first), noising(latent, noise, first)
    _exact(x_ours, x_theirs, "add_noise at the begin index")
    sigma = float(ours.sigmas[begin])
    torch.testing.assert_close(x_ours, (1 - sigma) * latent + sigma * noise)  # the flow's interpolation
    for i, t in enumerate(ours.timesteps[begin:]):
        output = torch.full_like(latent, 0.1 * i)
        x_ours = ours.step(output, t, x_ours).prev_sample
        x_theirs = theirs.step(output, t, x_theirs).prev_sample
        _exact(x_ours, x_theirs, f"step {i}")
        later = ours.timesteps[begin + i : begin + i + 1]
        _exact(ours.add_noise(latent, noise, later), noising(latent, noise, later), f"add_noise {i}")


def test_ddim_is_refused_for_a_flow_model_and_every_other_sampler_runs():
    for source in (FLOW, CONFIGS["plain"], FlowMatchSchedule.from_config(CONFIGS["plain"])):
        message = sampler_refusal("ddim", source)
        assert message and "\n" not in message and "dpm++ or euler" in message
        with pytest.raises(ValueError, match="cannot run a rectified-flow model"):
            make_sampler("ddim", source)
        for name in FLOW_SAMPLER_TABLE:
            assert sampler_refusal(name, source) is None
    assert set(FLOW_SAMPLER_TABLE) | {"ddim"} == set(SAMPLERS)
    for name in SAMPLERS:  # every sampler runs a DDPM-schedule model, as before
        assert sampler_refusal(name, DiffusionConfig()) is None
        assert make_sampler(name, DiffusionConfig()).config.prediction_type == "v_prediction"
    assert "unknown sampler" in sampler_refusal("heun", FLOW)


@pytest.mark.parametrize(
    ("sampler", "option", "match"),
    [
        ("euler", {"stochastic_sampling": True}, "stochastic_sampling"),
        ("euler", {"use_dynamic_shifting": True}, "use_dynamic_shifting"),
        ("euler", {"shift": 0.0}, "shift"),
        ("dpm++", {"use_karras_sigmas": True}, "use_karras_sigmas"),
    ],
)
def test_flow_options_the_ports_lack_are_refused(sampler, option, match):
    with pytest.raises(ValueError, match=match):
        make_sampler(sampler, {**CONFIGS["plain"], **option})


def test_flow_sigmas_and_flow_predictions_go_together():
    from audiogen.samplers import DPMSolverMultistep

    with pytest.raises(ValueError, match="use_flow_sigmas"):
        DPMSolverMultistep(use_flow_sigmas=True, prediction_type="v_prediction")
    with pytest.raises(ValueError, match="use_flow_sigmas"):
        DPMSolverMultistep(prediction_type="flow_prediction")
    with pytest.raises(ValueError, match="prediction_type 'v_prediction' is not supported"):
        FlowMatchEulerDiscrete(prediction_type="v_prediction")
    from audiogen.samplers import DDIM, EulerDiscrete

    for port in (DDIM, EulerDiscrete):  # the DDPM-only ports do not take flow predictions
        with pytest.raises(ValueError, match="prediction_type 'flow_prediction' is not supported"):
            port(prediction_type="flow_prediction")


# ------------------------------------------------------------------------------------------------
# the stored schedule


def test_flow_schedule_config_round_trips_through_the_pipeline_folder_format(tmp_path):
    for name, config in CONFIGS.items():
        schedule = noise_scheduler(
            DiffusionConfig(
                prediction_type="flow_prediction",
                num_train_timesteps=config["num_train_timesteps"],
                flow_shift=config["shift"],
            )
        )
        assert dict(schedule.config) == config, name
        folder = tmp_path / name
        schedule.save_config(folder)
        stored = json.loads((folder / hub.SCHEDULER_CONFIG_NAME).read_text())
        assert stored == config and stored["_class_name"] == "FlowMatchEulerDiscreteScheduler"
        loaded = hub.load_scheduler(folder)
        assert isinstance(loaded, FlowMatchSchedule) and dict(loaded.config) == config
        assert hub.scheduler_name(loaded) == "FlowMatchEulerDiscreteScheduler"
        # every stored key is one diffusers' class takes, or audiogen's prediction_type
        theirs = hub.scheduler_class("FlowMatchEulerDiscreteScheduler")
        assert set(stored) - {"_class_name", "prediction_type"} <= set(theirs().config)
    assert isinstance(hub.load_scheduler(hub.DEFAULT_PIPELINE / "scheduler"), NoiseSchedule)
    bad = {**CONFIGS["plain"], "shift": float("nan")}
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / hub.SCHEDULER_CONFIG_NAME).write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="shift must be a finite number"):
        hub.load_scheduler(tmp_path / "bad")


# ------------------------------------------------------------------------------------------------
# the samplers with an exact velocity

MU, S = 0.5, 1.0


class FlowOracle(nn.Module):
    """The exact flow velocity for data ~ N(MU, S²) (element-wise).

    ``x_t = a x0 + b eps`` with ``a = 1 - t``, ``b = t``: ``E[x0 | x_t] = MU + a S² (x_t - a MU) /
    (a² S² + b²)``, ``E[eps | x_t] = b (x_t - a MU) / (a² S² + b²)``, ``v = E[eps] - E[x0]``; the
    network's timestep is ``t * num_train_timesteps``.
    """

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__()
        self.config = config

    def forward(self, x, t, labels=None, circular=False):
        t = torch.as_tensor(t).double().reshape(-1, 1, 1) / self.config.num_train_timesteps
        a, b, x = 1 - t, t, x.double()
        denom = a**2 * S**2 + b**2
        return (b * (x - a * MU) / denom - (MU + a * S**2 * (x - a * MU) / denom)).float()


def _oracle_samples(sampler: str, seed: int, steps: int = 25, shift: float = 1.0) -> torch.Tensor:
    config = DiffusionConfig(latent_dim=4, prediction_type="flow_prediction", flow_shift=shift)
    return sample_latents(
        FlowOracle(config),
        make_sampler(sampler, config),
        (4, 4, 256),
        generator=torch.Generator().manual_seed(seed),
        progress=False,
        num_inference_steps=steps,
    )


@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_flow_samplers_reproduce_gaussian_data(shift):
    """DPM-Solver++ 2M is accurate in 25 steps; Euler (first order) converges as its steps grow."""
    dpm = _oracle_samples("dpm++", seed=0, shift=shift)
    euler = _oracle_samples("euler", seed=0, steps=100, shift=shift)
    for z in (dpm, euler):
        assert z.shape == (4, 4, 256) and torch.isfinite(z).all()
        assert abs(z.mean().item() - MU) < 0.05, z.mean()  # a flow starts from pure noise: no bias left
        assert abs(z.std().item() - S) < 0.05, z.std()
    assert (euler - dpm).abs().mean() < 0.03  # the same ODE, two solvers
    coarse = _oracle_samples("euler", seed=0, steps=10, shift=shift)
    assert abs(coarse.std().item() - S) > abs(euler.std().item() - S)
    assert torch.equal(dpm, _oracle_samples("dpm++", seed=0, shift=shift))
    assert (dpm - _oracle_samples("dpm++", seed=1, shift=shift)).abs().mean() > 0.1


@pytest.mark.parametrize("sampler", list(FLOW_SAMPLER_TABLE))
def test_flow_variation_keeps_the_latent_at_strength_0_and_forgets_it_at_1(sampler):
    config = DiffusionConfig(latent_dim=4, prediction_type="flow_prediction")
    oracle, latent = FlowOracle(config), torch.full((2, 4, 64), 3.0)

    def run(strength):
        g = torch.Generator().manual_seed(0)
        return noise_and_denoise(
            oracle, make_sampler(sampler, config), latent, strength, generator=g, progress=False,
            num_inference_steps=10,
        )  # fmt: skip

    assert torch.equal(run(0.0), latent)
    near, far = run(0.2), run(1.0)
    assert (near - latent).abs().mean() < (far - latent).abs().mean()
    assert abs(far.mean().item() - MU) < 0.2  # from pure noise: the data's mean, not the input's


def test_renoising_on_the_flow_path_matches_noising_directly():
    """RePaint's q(x_to | x_from), read off the flow sampler's add_noise: ``(1 - t) x0 + t noise`` again."""
    scheduler = make_sampler("euler", CONFIGS["plain"])
    scheduler.set_timesteps(10, device="cpu")
    t_to, t_from = scheduler.timesteps[3], scheduler.timesteps[4]
    x0 = torch.full((1, 1, 200000), 2.0)
    g = torch.Generator().manual_seed(0)
    x_from = scheduler.add_noise(x0, torch.randn(x0.shape, generator=g), t_from.reshape(1))
    x_to = renoise(scheduler, x_from, t_from, t_to, torch.randn(x0.shape, generator=g))
    sigma = float(scheduler.sigmas[3])
    assert abs(x_to.mean().item() - (1 - sigma) * 2.0) < 0.01
    assert abs(x_to.std().item() - sigma) < 0.01
    assert np.isclose(float(scheduler.sigmas[4]), float(t_from) / 1000, atol=1e-6)
