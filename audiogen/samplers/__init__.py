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
* :class:`FlowMatchSchedule`: the training process of a rectified-flow model (``x_t = (1 - t) x0 +
  t noise``; Liu et al., 2023; Esser et al., 2024), stored as diffusers'
  ``FlowMatchEulerDiscreteScheduler`` config; :class:`FlowMatchEulerDiscrete` its Euler sampler,
  diffusers ``scheduling_flow_match_euler_discrete.py``. :class:`DPMSolverMultistep` also runs on
  the flow path (diffusers' ``use_flow_sigmas``); DDIM and the sigma Euler do not.

Configuration options these ports do not implement (Karras / exponential / beta / Lu sigmas,
dynamic thresholding, SDE variants, third order, ...) raise ``ValueError`` naming the option when a
sampler is built. ``tests/samplers/test_samplers.py`` checks betas, ``alphas_cumprod``, timesteps, sigmas
and step outputs against diffusers' own schedulers.

Importing this package imports nothing heavy: the names are imported on first use (PEP 562), and
then bring torch and numpy only (not diffusers, not ``torch._dynamo``), so the command line can read
:data:`audiogen.samplers.factory.SAMPLERS` cheaply.
"""

from __future__ import annotations

from typing import Any

#: Public name → the submodule that defines it (imported on first use).
_LAZY = {
    "SamplerOutput": "audiogen.samplers.base",
    "DDIM": "audiogen.samplers.ddim",
    "DPMSolverMultistep": "audiogen.samplers.dpm_solver",
    "EulerDiscrete": "audiogen.samplers.euler",
    "FlowMatchEulerDiscrete": "audiogen.samplers.flow_euler",
    "DEFAULT_SCHEDULE_CLASS": "audiogen.samplers.schedule",
    "FLOW_SCHEDULE_CLASS": "audiogen.samplers.schedule",
    "FlowMatchSchedule": "audiogen.samplers.schedule",
    "SCHEDULER_CONFIG_NAME": "audiogen.samplers.schedule",
    "NoiseSchedule": "audiogen.samplers.schedule",
    "SchedulerConfig": "audiogen.samplers.schedule",
    "is_flow_schedule": "audiogen.samplers.schedule",
    "make_betas": "audiogen.samplers.schedule",
    "randn": "audiogen.samplers.schedule",
}

__all__ = sorted([*_LAZY, "SAMPLER_CLASSES"])


def __getattr__(name: str) -> Any:
    """A public name, imported on first use; ``SAMPLER_CLASSES``: diffusers class name → the port of it.

    Raises:
        AttributeError: for any other name.
    """
    import importlib

    if name == "SAMPLER_CLASSES":
        names = ("DPMSolverMultistep", "DDIM", "EulerDiscrete", "FlowMatchEulerDiscrete")
        ports = [__getattr__(n) for n in names]
        return {klass.diffusers_class: klass for klass in ports}
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'audiogen.samplers' has no attribute {name!r}")
