"""Euler steps of the rectified-flow ODE, a port of diffusers' ``scheduling_flow_match_euler_discrete.py``.

See :mod:`audiogen.samplers`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from audiogen.samplers.base import SamplerOutput, _SamplerBase


class FlowMatchEulerDiscrete(_SamplerBase):
    """Euler steps of a rectified flow (Liu et al., 2023): diffusers' ``FlowMatchEulerDiscreteScheduler``.

    The path is ``x_t = (1 - t) x0 + t noise`` with the sigma ``t`` in [0, 1]; the model predicts
    the velocity ``v = noise - x0``, and the ODE ``dx/dt = v`` is integrated from pure noise at
    ``t = 1`` to the data at ``t = 0``: ``x_next = x + (t_next - t) v`` on ``x (batch,
    latent_dim, latent_frames)``. The sigmas are spaced evenly in ``t`` from 1 to the last training
    sigma, then 0 appended; ``shift`` ``s`` maps each to ``s t / (1 + (s - 1) t)`` (Esser et al.,
    2024, "Scaling Rectified Flow Transformers", section 5.3.2: ``s > 1`` spends more steps at high
    noise), applied as diffusers applies it (also to the stored last sigma, so twice there). The
    network's timesteps are ``t * num_train_timesteps`` (float32, fractional).

    ``prediction_type`` (always ``"flow_prediction"``) is audiogen's key, not diffusers': the
    pipelines compare it with the denoiser's. Dynamic (resolution-dependent) shifting, inverted
    sigmas, a terminal shift, Karras / exponential / beta sigmas and stochastic sampling are not
    ported (refused).
    """

    diffusers_class = "FlowMatchEulerDiscreteScheduler"
    DEFAULTS = {
        "num_train_timesteps": 1000,
        "shift": 1.0,
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
    SUPPORTED = {
        "use_dynamic_shifting": (False,),
        "invert_sigmas": (False,),
        "shift_terminal": (None,),
        "use_karras_sigmas": (False,),
        "use_exponential_sigmas": (False,),
        "use_beta_sigmas": (False,),
        "stochastic_sampling": (False,),
    }
    PREDICTION_TYPES = ("flow_prediction",)
    init_noise_sigma = 1.0

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        shift, n = self.config.shift, self.config.num_train_timesteps
        if (
            isinstance(shift, bool)
            or not isinstance(shift, int | float)
            or not (math.isfinite(shift) and shift > 0)
        ):
            raise ValueError(f"FlowMatchEulerDiscrete: shift must be a finite number > 0, got {shift!r}")
        timesteps = torch.from_numpy(np.linspace(1, n, n, dtype=np.float32)[::-1].copy()).to(torch.float32)
        sigmas = timesteps / n
        sigmas = shift * sigmas / (1 + (shift - 1) * sigmas)
        self.timesteps = sigmas * n
        self.sigmas = sigmas.to("cpu")
        self.sigma_min = self.sigmas[-1].item()
        self.sigma_max = self.sigmas[0].item()

    @property
    def shift(self) -> float:
        """The sigma shift ``s`` (config ``shift``)."""
        return self.config.shift

    def set_timesteps(self, num_inference_steps: int, device: str | torch.device | None = None) -> None:
        """float32 ``timesteps (steps,)`` and ``sigmas (steps + 1,)`` (the last 0) on ``device``."""
        n, shift = self.config.num_train_timesteps, self.shift
        self.num_inference_steps = num_inference_steps
        timesteps = np.linspace(self.sigma_max * n, self.sigma_min * n, num_inference_steps)
        sigmas = timesteps / n
        sigmas = shift * sigmas / (1 + (shift - 1) * sigmas)
        sigmas = torch.from_numpy(sigmas).to(dtype=torch.float32, device=device)
        self.timesteps = sigmas * n
        self.sigmas = torch.cat([sigmas, torch.zeros(1, device=sigmas.device)])
        self._step_index = None
        self._begin_index = None

    def index_for_timestep(self, timestep: Any, schedule_timesteps: torch.Tensor | None = None) -> int:
        """Index of ``timestep`` in the schedule (the second match if repeated)."""
        schedule = self.timesteps if schedule_timesteps is None else schedule_timesteps
        indices = (schedule == timestep).nonzero()
        return indices[1 if len(indices) > 1 else 0].item()

    def step(
        self, model_output: torch.Tensor, timestep: Any, sample: torch.Tensor, generator: Any = None
    ) -> SamplerOutput:
        """One Euler step ``x + (t_next - t) v`` from ``sample (batch, latent_dim, latent_frames)``.

        ``pred_original_sample`` is ``x - t v``.

        Raises:
            ValueError: an integer timestep (pass one of :attr:`timesteps`), or no :meth:`set_timesteps`.
        """
        if isinstance(timestep, int | torch.IntTensor | torch.LongTensor):
            raise ValueError(
                "FlowMatchEulerDiscrete.step takes one of scheduler.timesteps, not an integer index"
            )
        if self.num_inference_steps is None:
            raise ValueError("call set_timesteps before step")
        if self._step_index is None:
            self._init_step_index(timestep)
        sample = sample.to(torch.float32)
        sigma = self.sigmas[self._step_index]
        sigma_next = self.sigmas[self._step_index + 1]
        dt = sigma_next - sigma
        prev = sample + dt * model_output
        x0 = sample - sigma * model_output
        self._step_index += 1
        return SamplerOutput(prev_sample=prev.to(model_output.dtype), pred_original_sample=x0)

    def add_noise(self, original: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """``t noise + (1 - t) x0`` at the sigma ``t`` of ``timesteps (batch,)`` (or of the begin /
        current step); diffusers' ``scale_noise``."""
        sigma = self._noise_sigmas(original, timesteps)
        return sigma * noise + (1.0 - sigma) * original

    def scale_noise(self, sample: torch.Tensor, timestep: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """diffusers' name and argument order for :meth:`add_noise`."""
        return self.add_noise(sample, noise, timestep)
