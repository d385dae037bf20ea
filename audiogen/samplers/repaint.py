"""RePaint's resampling for any sampler: noise a latent back up one step, and redo that step.

RePaint (Lugmayr et al., 2022, "RePaint: Inpainting using Denoising Diffusion Probabilistic
Models", section 4.2) harmonises the generated part of an inpainted sample with the known part by
going back and forth between noise levels: after a step ``t -> s`` the sample is noised back to
``t`` with the forward process ``q(x_t | x_s)`` and the step is taken again. The paper writes it for
DDPM; here it works with any sampler of :mod:`audiogen.samplers` (DPM-Solver++, DDIM, Euler, and
the rectified-flow samplers):
:func:`renoise` reads the noise levels off the sampler's own ``add_noise``
and :func:`run_state` / :func:`load_run_state` rewind what ``step`` changes (the step index, a
multistep solver's history), so a step can be repeated. Used by :mod:`audiogen.pipelines.inpaint`.
"""

from __future__ import annotations

from typing import Any

import torch


def run_state(scheduler: Any) -> dict[str, Any]:
    """What a sampler's ``step`` changes (step index, multistep history): its attributes, lists copied."""
    return {k: list(v) if isinstance(v, list) else v for k, v in vars(scheduler).items()}


def load_run_state(scheduler: Any, state: dict[str, Any]) -> None:
    """Put back a :func:`run_state` (lists copied again, so the state can be loaded repeatedly)."""
    vars(scheduler).update({k: list(v) if isinstance(v, list) else v for k, v in state.items()})


def _levels(scheduler: Any, t: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(a, s)`` with ``scheduler.add_noise(x0, n, t) = a x0 + s n`` (read off ``add_noise`` itself)."""
    one = torch.ones(1, 1, 1, dtype=like.dtype, device=like.device)
    zero = torch.zeros_like(one)
    t = t.reshape(1)
    return scheduler.add_noise(one, zero, t), scheduler.add_noise(zero, one, t)


def renoise(
    scheduler: Any, sample: torch.Tensor, t_from: torch.Tensor, t_to: torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """Take ``sample`` at the noise level of ``t_from`` to the higher level of ``t_to``: ``q(x_to | x_from)``.

    With the sampler's noising written ``add_noise(x0, n, t) = a_t x0 + s_t n`` (variance preserving
    for DDIM and DPM-Solver++, ``a = 1`` for Euler's sigmas, ``a = 1 - t, s = t`` on a rectified
    flow's path), the forward process from ``t_from``
    to ``t_to`` is ``x_to = (a_to / a_from) x_from + sqrt(s_to² - (a_to / a_from)² s_from²) n``, so a
    latent noised to ``t_from`` and then renoised is distributed as one noised to ``t_to`` directly
    (RePaint, Lugmayr et al., 2022, eq. 2 and section 4.2, in this general form).

    Args:
        scheduler: a sampler with ``add_noise`` (after ``set_timesteps``).
        sample: ``(batch, latent_dim, latent_frames)`` at the level of ``t_from``.
        t_from, t_to: 0-d timesteps of the sampler's schedule, ``t_to`` the noisier one.
        noise: standard normal, ``sample``'s shape.

    Returns:
        the renoised latent, ``sample``'s shape.
    """
    a_from, s_from = _levels(scheduler, t_from, sample)
    a_to, s_to = _levels(scheduler, t_to, sample)
    ratio = a_to / a_from
    return ratio * sample + (s_to**2 - (ratio * s_from) ** 2).clamp_min(0).sqrt() * noise
