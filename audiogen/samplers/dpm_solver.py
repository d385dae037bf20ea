"""DPM-Solver++ 2M (Lu et al., 2022), a port of diffusers' ``scheduling_dpmsolver_multistep.py``.

On a DDPM schedule, or on the rectified-flow path ``x_t = (1 - t) x0 + t noise``
(``use_flow_sigmas``, ``prediction_type="flow_prediction"``).

See :mod:`audiogen.samplers`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from audiogen.samplers.base import _COMMON_DEFAULTS, SamplerOutput, _leading_linspace_trailing, _Sampler


class DPMSolverMultistep(_Sampler):
    """DPM-Solver++ (2M by default) on a discrete schedule: diffusers' ``DPMSolverMultistepScheduler``.

    The data-prediction multistep solver of Lu et al. (2022), "DPM-Solver++", Algorithm 2
    (midpoint form as diffusers' ``scheduling_dpmsolver_multistep.py``), ``algorithm_type
    "dpmsolver++"``, ``solver_order`` 1 or 2, ``lower_order_final``; ``final_sigmas_type``
    ``"zero"`` (the last step lands on the clean sample) or ``"sigma_min"``. With ``sigma`` a
    timestep's noise-to-signal ratio ``sqrt((1 - alpha_bar) / alpha_bar)``, ``alpha_t = 1 /
    sqrt(sigma² + 1)``, ``sigma_t = sigma alpha_t`` and ``lambda_t = log(alpha_t / sigma_t)``, one
    step from ``s`` to ``t`` (``h = lambda_t - lambda_s``) on ``x (batch, latent_dim,
    latent_frames)`` is ``x_t = (sigma_t / sigma_s) x_s - alpha_t (e^-h - 1) (D0 + D1 / 2)``: ``D0``
    the newest data prediction, ``D1 = (D0 - D_previous) / r0`` (``D1 = 0`` for first-order steps).

    The solver needs only a data prediction and the pair ``(alpha_t, sigma_t)``, so it runs a
    rectified-flow model too (Liu et al., 2023; diffusers' ``use_flow_sigmas=True``,
    ``prediction_type="flow_prediction"``): there the sigmas are the flow times ``t``, shifted by
    ``flow_shift`` (``t' = s t / (1 + (s - 1) t)``, Esser et al., 2024), ``t`` from ``1 - 1 /
    num_train_timesteps`` down to 0, ``alpha_t = 1 - t``, ``sigma_t = t``, the data prediction
    ``x0 = x_t - t v`` and the network's timesteps ``int(t * num_train_timesteps)`` as diffusers
    gives them. Flow sigmas and flow predictions go together (either alone is refused).
    """

    diffusers_class = "DPMSolverMultistepScheduler"
    DEFAULTS = {
        **_COMMON_DEFAULTS,
        "solver_order": 2,
        "algorithm_type": "dpmsolver++",
        "solver_type": "midpoint",
        "lower_order_final": True,
        "euler_at_final": False,
        "use_karras_sigmas": False,
        "use_exponential_sigmas": False,
        "use_beta_sigmas": False,
        "use_lu_lambdas": False,
        "use_flow_sigmas": False,
        "flow_shift": 1.0,
        "final_sigmas_type": "zero",
        "lambda_min_clipped": -float("inf"),
        "variance_type": None,
        "use_dynamic_shifting": False,
        "time_shift_type": "exponential",
    }
    SUPPORTED = {
        "solver_order": (1, 2),
        "algorithm_type": ("dpmsolver++",),
        "solver_type": ("midpoint",),
        "use_karras_sigmas": (False,),
        "use_exponential_sigmas": (False,),
        "use_beta_sigmas": (False,),
        "use_lu_lambdas": (False,),
        "use_flow_sigmas": (False, True),
        "final_sigmas_type": ("zero", "sigma_min"),
        "variance_type": (None,),
        "use_dynamic_shifting": (False,),
    }
    PREDICTION_TYPES = ("epsilon", "v_prediction", "sample", "flow_prediction")
    init_noise_sigma = 1.0

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        if self.config.use_flow_sigmas != (self.config.prediction_type == "flow_prediction"):
            raise ValueError(
                f"DPMSolverMultistep: use_flow_sigmas={self.config.use_flow_sigmas} with prediction_type="
                f"{self.config.prediction_type!r} is not supported by audiogen's samplers (flow sigmas go "
                "with prediction_type='flow_prediction' and only with it)"
            )
        if not (math.isfinite(self.config.flow_shift) and self.config.flow_shift > 0):
            raise ValueError(f"DPMSolverMultistep: flow_shift must be > 0, got {self.config.flow_shift!r}")
        if self.config.rescale_betas_zero_snr:
            self.alphas_cumprod[-1] = 2**-24  # as diffusers: keeps lambda finite at the last timestep
        self.alpha_t = torch.sqrt(self.alphas_cumprod)
        self.sigma_t = torch.sqrt(1 - self.alphas_cumprod)
        self.lambda_t = torch.log(self.alpha_t) - torch.log(self.sigma_t)
        self.sigmas = ((1 - self.alphas_cumprod) / self.alphas_cumprod) ** 0.5
        n = self.config.num_train_timesteps
        self.timesteps = torch.from_numpy(np.linspace(0, n - 1, n, dtype=np.float32)[::-1].copy())
        self.model_outputs: list[torch.Tensor | None] = [None] * self.config.solver_order
        self.lower_order_nums = 0

    def set_timesteps(self, num_inference_steps: int, device: str | torch.device | None = None) -> None:
        """``timesteps (steps,)`` int64 on ``device`` and ``sigmas (steps + 1,)`` float32 on the CPU."""
        cfg = self.config
        clipped = torch.searchsorted(torch.flip(self.lambda_t, [0]), cfg.lambda_min_clipped)
        last = int((cfg.num_train_timesteps - clipped).numpy().item())
        timesteps = _leading_linspace_trailing(
            cfg.timestep_spacing, cfg.num_train_timesteps, num_inference_steps, cfg.steps_offset, last, True
        ).astype(np.int64)
        if cfg.use_flow_sigmas:
            alphas = np.linspace(1, 1 / cfg.num_train_timesteps, num_inference_steps + 1)
            sigmas = 1.0 - alphas
            sigmas = np.flip(cfg.flow_shift * sigmas / (1 + (cfg.flow_shift - 1) * sigmas))[:-1].copy()
            flow_timesteps = (sigmas * cfg.num_train_timesteps).copy()
            self.sigmas = torch.from_numpy(self._append_final_sigma(sigmas, cfg.final_sigmas_type))
            self.timesteps = torch.from_numpy(flow_timesteps).to(device=device, dtype=torch.int64)
        else:
            self.sigmas = torch.from_numpy(self._sigmas_at(timesteps, cfg.final_sigmas_type))
            self.timesteps = torch.from_numpy(timesteps).to(device=device, dtype=torch.int64)
        self.num_inference_steps = len(self.timesteps)
        self.model_outputs = [None] * cfg.solver_order
        self.lower_order_nums = 0
        self._step_index = None
        self._begin_index = None

    def _alpha_sigma(self, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(alpha_t, sigma_t)`` of a sigma: ``(1 - t, t)`` on the flow path, else variance preserving."""
        if self.config.use_flow_sigmas:
            return 1 - sigma, sigma
        alpha_t = 1 / ((sigma**2 + 1) ** 0.5)
        return alpha_t, sigma * alpha_t

    def index_for_timestep(self, timestep: Any, schedule_timesteps: torch.Tensor | None = None) -> int:
        """Index of ``timestep`` in the schedule (the second match if repeated; the last if absent)."""
        schedule = self.timesteps if schedule_timesteps is None else schedule_timesteps
        candidates = (schedule == timestep).nonzero()
        if len(candidates) == 0:
            return len(self.timesteps) - 1
        return candidates[1 if len(candidates) > 1 else 0].item()

    def _data_prediction(self, model_output: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
        """Data prediction ``x0 (batch, latent_dim, latent_frames)`` from the model output."""
        kind = self.config.prediction_type
        if kind == "sample":
            return model_output
        if kind == "flow_prediction":
            return sample - self.sigmas[self._step_index] * model_output
        alpha_t, sigma_t = self._alpha_sigma(self.sigmas[self._step_index])
        if kind == "epsilon":
            return (sample - sigma_t * model_output) / alpha_t
        return alpha_t * sample - sigma_t * model_output  # v_prediction

    def _first_order(self, x0: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
        alpha_t, sigma_t = self._alpha_sigma(self.sigmas[self._step_index + 1])
        alpha_s, sigma_s = self._alpha_sigma(self.sigmas[self._step_index])
        h = (torch.log(alpha_t) - torch.log(sigma_t)) - (torch.log(alpha_s) - torch.log(sigma_s))
        return (sigma_t / sigma_s) * sample - (alpha_t * (torch.exp(-h) - 1.0)) * x0

    def _second_order(self, sample: torch.Tensor) -> torch.Tensor:
        i = self._step_index
        alpha_t, sigma_t = self._alpha_sigma(self.sigmas[i + 1])
        alpha_s0, sigma_s0 = self._alpha_sigma(self.sigmas[i])
        alpha_s1, sigma_s1 = self._alpha_sigma(self.sigmas[i - 1])
        lambda_t = torch.log(alpha_t) - torch.log(sigma_t)
        lambda_s0 = torch.log(alpha_s0) - torch.log(sigma_s0)
        lambda_s1 = torch.log(alpha_s1) - torch.log(sigma_s1)
        m0, m1 = self.model_outputs[-1], self.model_outputs[-2]
        h, h_0 = lambda_t - lambda_s0, lambda_s0 - lambda_s1
        r0 = h_0 / h
        d0, d1 = m0, (1.0 / r0) * (m0 - m1)
        return (
            (sigma_t / sigma_s0) * sample
            - (alpha_t * (torch.exp(-h) - 1.0)) * d0
            - 0.5 * (alpha_t * (torch.exp(-h) - 1.0)) * d1
        )

    def step(
        self, model_output: torch.Tensor, timestep: Any, sample: torch.Tensor, generator: Any = None
    ) -> SamplerOutput:
        """One solver step from ``sample (batch, latent_dim, latent_frames)`` at ``timestep``.

        Raises:
            ValueError: :meth:`set_timesteps` was not called.
        """
        if self.num_inference_steps is None:
            raise ValueError("call set_timesteps before step")
        if self._step_index is None:
            self._init_step_index(timestep)
        cfg, n = self.config, len(self.timesteps)
        lower_order_final = (self._step_index == n - 1) and (
            cfg.euler_at_final or (cfg.lower_order_final and n < 15) or cfg.final_sigmas_type == "zero"
        )
        x0 = self._data_prediction(model_output, sample)
        for i in range(cfg.solver_order - 1):
            self.model_outputs[i] = self.model_outputs[i + 1]
        self.model_outputs[-1] = x0
        sample = sample.to(torch.float32)
        if cfg.solver_order == 1 or self.lower_order_nums < 1 or lower_order_final:
            prev = self._first_order(x0, sample)
        else:  # second order: the highest ported, so diffusers' lower_order_second changes nothing
            prev = self._second_order(sample)
        if self.lower_order_nums < cfg.solver_order:
            self.lower_order_nums += 1
        self._step_index += 1
        return SamplerOutput(prev_sample=prev.to(x0.dtype))

    def add_noise(self, original: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """``alpha_t x0 + sigma_t noise`` at the sigma of ``timesteps (batch,)`` (or of the step index)."""
        alpha_t, sigma_t = self._alpha_sigma(self._noise_sigmas(original, timesteps))
        return alpha_t * original + sigma_t * noise
