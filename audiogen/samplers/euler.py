"""Euler steps in sigma (Karras et al., 2022), a port of diffusers' ``scheduling_euler_discrete.py``.

See :mod:`audiogen.samplers`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from audiogen.samplers.base import _COMMON_DEFAULTS, SamplerOutput, _leading_linspace_trailing, _Sampler


class EulerDiscrete(_Sampler):
    """Euler steps of the probability-flow ODE in sigma: diffusers' ``EulerDiscreteScheduler``.

    Karras et al. (2022)'s sampler with no churn and no second-order correction: the input
    ``x (batch, latent_dim, latent_frames)`` is scaled by ``1 / sqrt(sigma² + 1)``, ``x0`` is
    predicted, and ``x_next = x + (x - x0) / sigma * (sigma_next - sigma)``; sigmas interpolated
    linearly at the spaced timesteps, then a final 0 (``scheduling_euler_discrete.py``,
    ``interpolation_type="linear"``).
    """

    diffusers_class = "EulerDiscreteScheduler"
    DEFAULTS = {
        **_COMMON_DEFAULTS,
        "interpolation_type": "linear",
        "use_karras_sigmas": False,
        "use_exponential_sigmas": False,
        "use_beta_sigmas": False,
        "sigma_min": None,
        "sigma_max": None,
        "timestep_type": "discrete",
        "final_sigmas_type": "zero",
    }
    SUPPORTED = {
        "interpolation_type": ("linear",),
        "use_karras_sigmas": (False,),
        "use_exponential_sigmas": (False,),
        "use_beta_sigmas": (False,),
        "timestep_type": ("discrete",),
        "final_sigmas_type": ("zero", "sigma_min"),
    }

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        if self.config.rescale_betas_zero_snr:
            self.alphas_cumprod[-1] = 2**-24  # as diffusers: keeps the first sigma finite
        sigmas = (((1 - self.alphas_cumprod) / self.alphas_cumprod) ** 0.5).flip(0)
        n = self.config.num_train_timesteps
        timesteps = np.linspace(0, n - 1, n, dtype=float)[::-1].copy()
        self.timesteps = torch.from_numpy(timesteps).to(dtype=torch.float32)
        self.sigmas = torch.cat([sigmas, torch.zeros(1, device=sigmas.device)])

    @property
    def init_noise_sigma(self) -> torch.Tensor:
        """Std of the start noise: the largest sigma (``sqrt(sigma² + 1)`` for leading spacing)."""
        max_sigma = self.sigmas.max()
        if self.config.timestep_spacing in ("linspace", "trailing"):
            return max_sigma
        return (max_sigma**2 + 1) ** 0.5

    def set_timesteps(self, num_inference_steps: int, device: str | torch.device | None = None) -> None:
        """float32 ``timesteps (steps,)`` on ``device`` and ``sigmas (steps + 1,)`` on the CPU."""
        cfg = self.config
        self.num_inference_steps = num_inference_steps
        n = cfg.num_train_timesteps
        timesteps = _leading_linspace_trailing(
            cfg.timestep_spacing, n, num_inference_steps, cfg.steps_offset, n, round_linspace=False
        ).astype(np.float32)
        sigmas = self._sigmas_at(timesteps, cfg.final_sigmas_type)
        self.timesteps = torch.from_numpy(timesteps.astype(np.float32)).to(device=device)
        self.sigmas = torch.from_numpy(sigmas).to(dtype=torch.float32)
        self._step_index = None
        self._begin_index = None

    def index_for_timestep(self, timestep: Any, schedule_timesteps: torch.Tensor | None = None) -> int:
        """Index of ``timestep`` in the schedule (the second match if repeated)."""
        schedule = self.timesteps if schedule_timesteps is None else schedule_timesteps
        indices = (schedule == timestep).nonzero()
        return indices[1 if len(indices) > 1 else 0].item()

    def scale_model_input(self, sample: torch.Tensor, timestep: Any = None) -> torch.Tensor:
        """``sample / sqrt(sigma² + 1)``: the denoiser's input at the current sigma."""
        if self._step_index is None:
            self._init_step_index(timestep)
        sigma = self.sigmas[self._step_index]
        return sample / ((sigma**2 + 1) ** 0.5)

    def step(
        self, model_output: torch.Tensor, timestep: Any, sample: torch.Tensor, generator: Any = None
    ) -> SamplerOutput:
        """One Euler step from ``sample (batch, latent_dim, latent_frames)`` at ``timestep``.

        Raises:
            ValueError: an integer timestep (pass one of :attr:`timesteps`), or no :meth:`set_timesteps`.
        """
        if isinstance(timestep, int | torch.IntTensor | torch.LongTensor):
            raise ValueError("EulerDiscrete.step takes one of scheduler.timesteps, not an integer index")
        if self.num_inference_steps is None:
            raise ValueError("call set_timesteps before step")
        if self._step_index is None:
            self._init_step_index(timestep)
        sample = sample.to(torch.float32)
        sigma = self.sigmas[self._step_index]
        sigma_hat = sigma * (0.0 + 1)  # no churn (gamma 0), as diffusers' default
        kind = self.config.prediction_type
        if kind == "sample":
            x0 = model_output
        elif kind == "epsilon":
            x0 = sample - sigma_hat * model_output
        else:  # v_prediction
            x0 = model_output * (-sigma / (sigma**2 + 1) ** 0.5) + (sample / (sigma**2 + 1))
        derivative = (sample - x0) / sigma_hat
        dt = self.sigmas[self._step_index + 1] - sigma_hat
        prev = sample + derivative * dt
        self._step_index += 1
        return SamplerOutput(prev_sample=prev.to(model_output.dtype), pred_original_sample=x0)

    def add_noise(self, original: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """``x0 + sigma noise`` at the sigma of ``timesteps (batch,)`` (or of the begin / current step)."""
        return original + noise * self._noise_sigmas(original, timesteps)
