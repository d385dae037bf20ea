"""DDIM with eta 0 (Song et al., 2021), a port of diffusers' ``scheduling_ddim.py``.

See :mod:`audiogen.samplers`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from audiogen.samplers.base import _COMMON_DEFAULTS, SamplerOutput, _leading_linspace_trailing, _Sampler
from audiogen.samplers.schedule import _broadcast


class DDIM(_Sampler):
    """Deterministic DDIM (eta 0; Song et al., 2021, eq. 12): diffusers' ``DDIMScheduler``.

    ``x_prev = sqrt(alpha_bar_prev) x0 + sqrt(1 - alpha_bar_prev) eps`` with ``x0`` and ``eps``
    from the model output (epsilon, v or sample prediction), as diffusers'
    ``scheduling_ddim.py``; ``clip_sample`` clamps ``x0`` to ``±clip_sample_range``.
    """

    diffusers_class = "DDIMScheduler"
    DEFAULTS = {
        **_COMMON_DEFAULTS,
        "clip_sample": True,
        "set_alpha_to_one": True,
        "clip_sample_range": 1.0,
        "timestep_spacing": "leading",
    }
    init_noise_sigma = 1.0

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.final_alpha_cumprod = (
            torch.tensor(1.0) if self.config.set_alpha_to_one else self.alphas_cumprod[0]
        )
        n = self.config.num_train_timesteps
        self.timesteps = torch.from_numpy(np.arange(0, n)[::-1].copy().astype(np.int64))

    def set_timesteps(self, num_inference_steps: int, device: str | torch.device | None = None) -> None:
        """``timesteps (steps,)`` int64 on ``device``.

        Raises:
            ValueError: more steps than training timesteps.
        """
        cfg = self.config
        if num_inference_steps > cfg.num_train_timesteps:
            raise ValueError(
                f"num_inference_steps={num_inference_steps} cannot exceed num_train_timesteps="
                f"{cfg.num_train_timesteps}"
            )
        self.num_inference_steps = num_inference_steps
        n = cfg.num_train_timesteps
        timesteps = _leading_linspace_trailing(
            cfg.timestep_spacing, n, num_inference_steps, cfg.steps_offset, n
        )
        self.timesteps = torch.from_numpy(timesteps.astype(np.int64)).to(device)

    def step(
        self, model_output: torch.Tensor, timestep: Any, sample: torch.Tensor, generator: Any = None
    ) -> SamplerOutput:
        """One DDIM step (eta 0) from ``sample (batch, latent_dim, latent_frames)`` at ``timestep``.

        Raises:
            ValueError: :meth:`set_timesteps` was not called.
        """
        if self.num_inference_steps is None:
            raise ValueError("call set_timesteps before step")
        cfg = self.config
        prev_timestep = timestep - cfg.num_train_timesteps // self.num_inference_steps
        alpha_prod_t = self.alphas_cumprod[timestep]
        alpha_prod_t_prev = (
            self.alphas_cumprod[prev_timestep] if prev_timestep >= 0 else self.final_alpha_cumprod
        )
        beta_prod_t = 1 - alpha_prod_t
        if cfg.prediction_type == "epsilon":
            x0 = (sample - beta_prod_t ** (0.5) * model_output) / alpha_prod_t ** (0.5)
            eps = model_output
        elif cfg.prediction_type == "sample":
            x0 = model_output
            eps = (sample - alpha_prod_t ** (0.5) * x0) / beta_prod_t ** (0.5)
        else:  # v_prediction
            x0 = (alpha_prod_t**0.5) * sample - (beta_prod_t**0.5) * model_output
            eps = (alpha_prod_t**0.5) * model_output + (beta_prod_t**0.5) * sample
        if cfg.clip_sample:
            x0 = x0.clamp(-cfg.clip_sample_range, cfg.clip_sample_range)
        # eta = 0: no variance term; written as diffusers writes it so the rounding is the same
        beta_prod_t_prev = 1 - alpha_prod_t_prev
        variance = (beta_prod_t_prev / beta_prod_t) * (1 - alpha_prod_t / alpha_prod_t_prev)
        std_dev_t = 0.0 * variance ** (0.5)
        direction = (1 - alpha_prod_t_prev - std_dev_t**2) ** (0.5) * eps
        prev = alpha_prod_t_prev ** (0.5) * x0 + direction
        return SamplerOutput(prev_sample=prev, pred_original_sample=x0)

    def add_noise(self, original: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """``sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise`` for ``timesteps (batch,)``."""
        self.alphas_cumprod = self.alphas_cumprod.to(device=original.device)
        alphas_cumprod = self.alphas_cumprod.to(dtype=original.dtype)
        timesteps = timesteps.to(original.device)
        a = _broadcast(alphas_cumprod[timesteps] ** 0.5, original)
        b = _broadcast((1 - alphas_cumprod[timesteps]) ** 0.5, original)
        return a * original + b * noise
