"""Noise schedules and samplers: one table, diffusers underneath.

:func:`noise_scheduler` builds the ``DDPMScheduler`` of training (``add_noise``,
``get_velocity``) from a :class:`~audiogen.models.denoiser.DiffusionConfig`; its config is what a
pipeline folder stores as ``scheduler/scheduler_config.json``. :func:`make_sampler` builds a
sampling scheduler from that config by name (:data:`SAMPLER_TABLE`): DPM-Solver++ 2M (Lu et al.,
2022), DDIM (Song et al., 2021, eta 0) or Euler (Karras et al., 2022). The reverse-process loop
that runs them is :mod:`audiogen.pipelines.denoise`.

Scheduler classes are imported from their own diffusers submodules
(:data:`audiogen.hub.SCHEDULER_CLASSES`), not from the top-level ``diffusers`` package. Nothing
heavy is imported at import time, so the command line can read :data:`SAMPLERS` cheaply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from audiogen.hub import scheduler_class

if TYPE_CHECKING:
    from diffusers import SchedulerMixin

#: Sampler name → (diffusers scheduler class name, ``from_config`` overrides).
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


def noise_scheduler(config: Any) -> Any:
    """The training noise process: a diffusers ``DDPMScheduler`` for ``config``.

    ``num_train_timesteps``, the beta schedule and ``prediction_type`` come from ``config`` (a
    :class:`~audiogen.models.denoiser.DiffusionConfig`); ``clip_sample`` is off (latents are
    unit-variance, not in [-1, 1]) and ``timestep_spacing`` is ``"trailing"`` so samplers start
    from the last training timestep (Lin et al., 2024, "Common Diffusion Noise Schedules and Sample
    Steps are Flawed"). Use ``add_noise`` and ``get_velocity`` for training targets; its config is
    what :func:`make_sampler` builds from and what a pipeline stores as
    ``scheduler/scheduler_config.json``.
    """
    ddpm = scheduler_class("DDPMScheduler")
    return ddpm(
        num_train_timesteps=config.num_train_timesteps,
        beta_schedule=config.beta_schedule,
        beta_start=config.beta_start,
        beta_end=config.beta_end,
        prediction_type=config.prediction_type,
        clip_sample=False,
        timestep_spacing="trailing",
        rescale_betas_zero_snr=config.rescale_betas_zero_snr,
    )


def make_sampler(name: str, source: Any) -> SchedulerMixin:
    """A sampling scheduler built with ``from_config`` from the training schedule.

    Args:
        name: ``"dpm++"`` (``DPMSolverMultistepScheduler``, DPM-Solver++ 2M, Lu et al., 2022),
            ``"ddim"`` (``DDIMScheduler``, eta 0) or ``"euler"`` (``EulerDiscreteScheduler``).
        source: a :class:`~audiogen.models.denoiser.DiffusionConfig`, a diffusers scheduler, or a
            scheduler config (e.g. the dict of ``scheduler_config.json``).

    Returns:
        A fresh scheduler (call ``set_timesteps`` before use;
        :func:`~audiogen.pipelines.denoise.sample_latents` does).

    Raises:
        ValueError: if ``name`` is not one of :data:`SAMPLERS`.
    """
    from audiogen.models.denoiser import DiffusionConfig

    if name not in SAMPLER_TABLE:
        raise ValueError(f"unknown sampler {name!r}; choose one of {SAMPLERS}")
    if isinstance(source, DiffusionConfig):
        config = noise_scheduler(source).config
    else:
        config = getattr(source, "config", source)
    class_name, overrides = SAMPLER_TABLE[name]
    return scheduler_class(class_name).from_config(config, **overrides)


__all__ = [
    "SAMPLERS",
    "SAMPLER_TABLE",
    "make_sampler",
    "noise_scheduler",
]
