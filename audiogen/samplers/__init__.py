"""Noise schedule and sampler step maths, without diffusers: what generation runs.

Ports of the parts of diffusers' schedulers that generation uses, with the same attributes and
methods (``config``, ``timesteps``, ``sigmas``, ``init_noise_sigma``, ``order``,
``set_timesteps``, ``scale_model_input``, ``step(...).prev_sample``, ``add_noise``,
``set_begin_index``) and the same floating-point operations in the same order, so generated
audio matches diffusers' up to float rounding:

* :class:`NoiseSchedule`: the training noise process a pipeline folder stores as
  ``scheduler/scheduler_config.json`` (diffusers' ``DDPMScheduler`` config): betas and
  ``alphas_cumprod`` (diffusers ``scheduling_ddpm.py``).
* :class:`DPMSolverMultistep`: DPM-Solver++ 2M (Lu et al., 2022, "DPM-Solver++: Fast Solver for
  Guided Sampling of Diffusion Probabilistic Models"), diffusers
  ``scheduling_dpmsolver_multistep.py`` with ``algorithm_type="dpmsolver++"``, midpoint,
  solver order 1 or 2.
* :class:`DDIM`: DDIM with eta 0 (Song et al., 2021), diffusers ``scheduling_ddim.py``.
* :class:`EulerDiscrete`: Euler steps in sigma (Karras et al., 2022), diffusers
  ``scheduling_euler_discrete.py``.

Configuration options these ports do not implement (Karras / exponential / beta / Lu sigmas,
dynamic thresholding, SDE variants, third order, ...) raise ``ValueError`` naming the option when a
sampler is built. ``tests/samplers/test_samplers.py`` checks betas, ``alphas_cumprod``, timesteps, sigmas
and step outputs against diffusers' own schedulers.

Importing this module imports torch and numpy only (not diffusers, not ``torch._dynamo``).
"""

from __future__ import annotations

from audiogen.samplers.base import SamplerOutput, _Sampler
from audiogen.samplers.ddim import DDIM
from audiogen.samplers.dpm_solver import DPMSolverMultistep
from audiogen.samplers.euler import EulerDiscrete
from audiogen.samplers.schedule import (
    DEFAULT_SCHEDULE_CLASS,
    SCHEDULER_CONFIG_NAME,
    NoiseSchedule,
    SchedulerConfig,
    make_betas,
    randn,
)

#: diffusers class name → the port of it.
SAMPLER_CLASSES: dict[str, type[_Sampler]] = {
    klass.diffusers_class: klass for klass in (DPMSolverMultistep, DDIM, EulerDiscrete)
}

__all__ = [
    "DEFAULT_SCHEDULE_CLASS",
    "SCHEDULER_CONFIG_NAME",
    "DDIM",
    "DPMSolverMultistep",
    "EulerDiscrete",
    "NoiseSchedule",
    "SAMPLER_CLASSES",
    "SamplerOutput",
    "SchedulerConfig",
    "make_betas",
    "randn",
]
