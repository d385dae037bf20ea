"""Noise schedules and samplers: one table; diffusers for training, its step maths ported for generation.

:func:`noise_scheduler` builds the diffusers ``DDPMScheduler`` of training (``add_noise``,
``get_velocity``) from a :class:`~audiogen.models.denoiser.DiffusionConfig`; its config is what a
pipeline folder stores as ``scheduler/scheduler_config.json`` (:func:`schedule_config` gives the
same config without diffusers). :func:`make_sampler` builds a sampler from that config by name
(:data:`SAMPLER_TABLE`): DPM-Solver++ 2M (Lu et al., 2022), DDIM (Song et al., 2021, eta 0) or
Euler (Karras et al., 2022). The samplers are :mod:`audiogen.samplers`, ports of diffusers'
``DPMSolverMultistepScheduler``, ``DDIMScheduler`` and ``EulerDiscreteScheduler`` checked against
them by ``tests/samplers/test_samplers.py``; generation never imports diffusers (which costs seconds per
process). The reverse-process loop that runs them is :mod:`audiogen.pipelines.denoise`.

A rectified-flow model (``prediction_type="flow_prediction"``: ``x_t = (1 - t) x0 + t noise``,
Liu et al., 2023; Esser et al., 2024) has a :class:`~audiogen.samplers.FlowMatchSchedule` instead
(stored as diffusers' ``FlowMatchEulerDiscreteScheduler`` config), and its samplers come from
:data:`FLOW_SAMPLER_TABLE`: ``"euler"`` is the flow's own Euler sampler
(``FlowMatchEulerDiscreteScheduler``), ``"dpm++"`` DPM-Solver++ 2M on the flow path
(``use_flow_sigmas``), both with the stored ``shift``; ``"ddim"`` is refused
(:func:`sampler_refusal`), checked by ``tests/samplers/test_flow.py``.

Nothing heavy is imported at import time (diffusers only in :func:`noise_scheduler`), so the command
line can read :data:`SAMPLERS` cheaply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audiogen.samplers.base import _Sampler

#: Sampler name → (diffusers scheduler class name, ``from_config`` overrides); the class is ported
#: in :data:`audiogen.samplers.SAMPLER_CLASSES`.
SAMPLER_TABLE: dict[str, tuple[str, dict[str, Any]]] = {
    "dpm++": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "variance_type": None},
    ),
    "ddim": ("DDIMScheduler", {"clip_sample": False}),
    "euler": ("EulerDiscreteScheduler", {}),
}
#: Sampler names accepted by :func:`make_sampler`.
SAMPLERS = tuple(SAMPLER_TABLE)
#: The samplers of a rectified-flow schedule, as :data:`SAMPLER_TABLE` (the DPM-Solver's
#: ``flow_shift`` is the schedule's ``shift``); a name of :data:`SAMPLERS` missing here is refused.
FLOW_SAMPLER_TABLE: dict[str, tuple[str, dict[str, Any]]] = {
    "dpm++": (
        "DPMSolverMultistepScheduler",
        {
            "algorithm_type": "dpmsolver++",
            "solver_order": 2,
            "variance_type": None,
            "use_flow_sigmas": True,
            "prediction_type": "flow_prediction",
        },
    ),
    "euler": ("FlowMatchEulerDiscreteScheduler", {}),
}


def _is_flow(config: Any) -> bool:
    """Whether ``config`` (a DiffusionConfig or a scheduler config mapping) is a rectified flow."""
    from audiogen.models.denoiser import DiffusionConfig
    from audiogen.samplers.schedule import is_flow_schedule

    return config.is_flow if isinstance(config, DiffusionConfig) else is_flow_schedule(config)


def sampler_refusal(name: str, source: Any) -> str | None:
    """Why sampler ``name`` cannot run the model of ``source`` (one line), or ``None`` if it can.

    ``source`` as :func:`make_sampler`'s. Every name of :data:`SAMPLERS` runs a DDPM-schedule model;
    a rectified-flow model runs those of :data:`FLOW_SAMPLER_TABLE`.
    """
    config = getattr(source, "config", source)
    if name not in SAMPLER_TABLE:
        return f"unknown sampler {name!r}; choose one of {SAMPLERS}"
    if _is_flow(config) and name not in FLOW_SAMPLER_TABLE:
        return (
            f"the {name} sampler cannot run a rectified-flow model (prediction_type 'flow_prediction'); "
            f"use {' or '.join(FLOW_SAMPLER_TABLE)}"
        )
    return None


def noise_scheduler(config: Any) -> Any:
    """The training noise process: a diffusers ``DDPMScheduler`` for ``config``; a flow model's
    :class:`~audiogen.samplers.FlowMatchSchedule` (no diffusers import) for a rectified-flow config.

    ``num_train_timesteps``, the beta schedule and ``prediction_type`` come from ``config`` (a
    :class:`~audiogen.models.denoiser.DiffusionConfig`); ``clip_sample`` is off (latents are
    unit-variance, not in [-1, 1]) and ``timestep_spacing`` is ``"trailing"`` so samplers start
    from the last training timestep (Lin et al., 2024, "Common Diffusion Noise Schedules and Sample
    Steps are Flawed"). Use ``add_noise`` and ``get_velocity`` for training targets; its config is
    what :func:`make_sampler` builds from and what a pipeline stores as
    ``scheduler/scheduler_config.json``.
    """
    if config.is_flow:
        from audiogen.samplers.schedule import FlowMatchSchedule

        return FlowMatchSchedule(schedule_config(config))
    from diffusers import DDPMScheduler  # training only: generation never imports diffusers

    return DDPMScheduler(
        num_train_timesteps=config.num_train_timesteps,
        beta_schedule=config.beta_schedule,
        beta_start=config.beta_start,
        beta_end=config.beta_end,
        prediction_type=config.prediction_type,
        clip_sample=False,
        timestep_spacing="trailing",
        rescale_betas_zero_snr=config.rescale_betas_zero_snr,
    )


def schedule_config(config: Any) -> dict[str, Any]:
    """The ``scheduler_config.json`` content of :func:`noise_scheduler` (``config``), without diffusers.

    The keys ``DDPMScheduler`` reads (the same values :func:`noise_scheduler` passes it, its
    defaults for the rest) and ``_class_name``; what :func:`make_sampler` builds from. For a
    rectified-flow config: the keys of diffusers' ``FlowMatchEulerDiscreteScheduler`` (its
    defaults, ``shift`` the config's ``flow_shift``) and ``prediction_type: "flow_prediction"``.
    """
    if config.is_flow:
        return {
            "_class_name": "FlowMatchEulerDiscreteScheduler",
            "num_train_timesteps": config.num_train_timesteps,
            "shift": config.flow_shift,
            "use_dynamic_shifting": False,
            "base_shift": 0.5,
            "max_shift": 1.15,
            "base_image_seq_len": 256,
            "max_image_seq_len": 4096,
            "invert_sigmas": False,
            "shift_terminal": None,
            "use_karras_sigmas": False,
            "use_exponential_sigmas": False,
            "use_beta_sigmas": False,
            "time_shift_type": "exponential",
            "stochastic_sampling": False,
            "prediction_type": "flow_prediction",
        }
    return {
        "_class_name": "DDPMScheduler",
        "num_train_timesteps": config.num_train_timesteps,
        "beta_start": config.beta_start,
        "beta_end": config.beta_end,
        "beta_schedule": config.beta_schedule,
        "trained_betas": None,
        "variance_type": "fixed_small",
        "clip_sample": False,
        "prediction_type": config.prediction_type,
        "thresholding": False,
        "dynamic_thresholding_ratio": 0.995,
        "clip_sample_range": 1.0,
        "sample_max_value": 1.0,
        "timestep_spacing": "trailing",
        "steps_offset": 0,
        "rescale_betas_zero_snr": config.rescale_betas_zero_snr,
    }


def make_sampler(name: str, source: Any) -> _Sampler:
    """A sampler (:mod:`audiogen.samplers`) built with ``from_config`` from the training schedule.

    Args:
        name: ``"dpm++"`` (DPM-Solver++ 2M, Lu et al., 2022; port of diffusers'
            ``DPMSolverMultistepScheduler``), ``"ddim"`` (eta 0; ``DDIMScheduler``) or ``"euler"``
            (``EulerDiscreteScheduler``); for a rectified-flow model ``"dpm++"`` on the flow path or
            ``"euler"`` (``FlowMatchEulerDiscreteScheduler``), see :data:`FLOW_SAMPLER_TABLE`.
        source: a :class:`~audiogen.models.denoiser.DiffusionConfig`, a schedule with a ``config``
            (:class:`~audiogen.samplers.NoiseSchedule`, a diffusers scheduler), or a scheduler
            config (e.g. the dict of ``scheduler_config.json``).

    Returns:
        A fresh sampler (call ``set_timesteps`` before use;
        :func:`~audiogen.pipelines.denoise.sample_latents` does).

    Raises:
        ValueError: ``name`` is not one of :data:`SAMPLERS`, cannot run a rectified-flow model
            (:func:`sampler_refusal`), or the config asks for an option the ports do not implement.
    """
    from audiogen.models.denoiser import DiffusionConfig
    from audiogen.samplers import SAMPLER_CLASSES

    if isinstance(source, DiffusionConfig):
        config = schedule_config(source)
    else:
        config = getattr(source, "config", source)
    refusal = sampler_refusal(name, config)
    if refusal:
        raise ValueError(refusal)
    if _is_flow(config):
        class_name, overrides = FLOW_SAMPLER_TABLE[name]
        if class_name == "DPMSolverMultistepScheduler":
            overrides = {**overrides, "flow_shift": config.get("shift", 1.0)}
    else:
        class_name, overrides = SAMPLER_TABLE[name]
    return SAMPLER_CLASSES[class_name].from_config(config, **overrides)


__all__ = [
    "FLOW_SAMPLER_TABLE",
    "SAMPLERS",
    "SAMPLER_TABLE",
    "make_sampler",
    "noise_scheduler",
    "sampler_refusal",
    "schedule_config",
]
