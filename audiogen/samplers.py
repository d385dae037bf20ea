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
sampler is built. ``tests/test_samplers.py`` checks betas, ``alphas_cumprod``, timesteps, sigmas
and step outputs against diffusers' own schedulers.

Importing this module imports torch and numpy only (not diffusers, not ``torch._dynamo``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

#: ``_class_name`` written for a training schedule built here (diffusers' class of that config).
DEFAULT_SCHEDULE_CLASS = "DDPMScheduler"
SCHEDULER_CONFIG_NAME = "scheduler_config.json"


class SchedulerConfig(dict):
    """A scheduler configuration: a ``dict`` whose keys are also attributes (as diffusers' ``FrozenDict``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"scheduler config has no {name!r}") from None


@dataclass
class SamplerOutput:
    """What ``step`` returns: ``prev_sample (batch, latent_dim, latent_frames)``, as diffusers' outputs."""

    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor | None = None


# ------------------------------------------------------------------------------------------------
# betas
# ------------------------------------------------------------------------------------------------


def betas_for_alpha_bar(num_diffusion_timesteps: int, alpha_transform_type: str = "cosine") -> torch.Tensor:
    """Betas ``(num_train_timesteps,)`` discretising ``alpha_bar(t)`` (diffusers' ``betas_for_alpha_bar``).

    ``"cosine"`` is the Glide / improved-DDPM cosine schedule (``squaredcos_cap_v2``), ``"laplace"``
    diffusers' Laplace schedule; each beta is capped at 0.999.
    """
    if alpha_transform_type == "cosine":

        def alpha_bar_fn(t: float) -> float:
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    elif alpha_transform_type == "laplace":

        def alpha_bar_fn(t: float) -> float:
            lmb = -0.5 * math.copysign(1, 0.5 - t) * math.log(1 - 2 * math.fabs(0.5 - t) + 1e-6)
            snr = math.exp(lmb)
            return math.sqrt(snr / (1 + snr))

    else:
        raise ValueError(f"unsupported alpha_transform_type: {alpha_transform_type}")
    betas = []
    for i in range(num_diffusion_timesteps):
        t1 = i / num_diffusion_timesteps
        t2 = (i + 1) / num_diffusion_timesteps
        betas.append(min(1 - alpha_bar_fn(t2) / alpha_bar_fn(t1), 0.999))
    return torch.tensor(betas, dtype=torch.float32)


def rescale_zero_terminal_snr(betas: torch.Tensor) -> torch.Tensor:
    """Betas ``(num_train_timesteps,)`` rescaled to zero terminal SNR (Lin et al., 2024, Algorithm 1)."""
    alphas = 1.0 - betas
    alphas_cumprod = torch.cumprod(alphas, dim=0)
    alphas_bar_sqrt = alphas_cumprod.sqrt()
    alphas_bar_sqrt_0 = alphas_bar_sqrt[0].clone()
    alphas_bar_sqrt_T = alphas_bar_sqrt[-1].clone()
    alphas_bar_sqrt -= alphas_bar_sqrt_T
    alphas_bar_sqrt *= alphas_bar_sqrt_0 / (alphas_bar_sqrt_0 - alphas_bar_sqrt_T)
    alphas_bar = alphas_bar_sqrt**2
    alphas = alphas_bar[1:] / alphas_bar[:-1]
    alphas = torch.cat([alphas_bar[0:1], alphas])
    return 1 - alphas


def make_betas(config: Mapping[str, Any], schedules: tuple[str, ...] | None = None) -> torch.Tensor:
    """float32 betas ``(num_train_timesteps,)`` of ``config`` as diffusers' schedulers compute them.

    Reads ``num_train_timesteps``, ``beta_schedule``, ``beta_start``, ``beta_end``,
    ``trained_betas`` and ``rescale_betas_zero_snr``. ``schedules`` limits the beta schedules
    accepted (the samplers know ``linear``, ``scaled_linear`` and ``squaredcos_cap_v2``; the
    training schedule also ``sigmoid`` and ``laplace``, as ``DDPMScheduler``).

    Raises:
        NotImplementedError: a beta schedule outside ``schedules`` (as diffusers raises).
    """
    n = int(config.get("num_train_timesteps", 1000))
    schedule = config.get("beta_schedule", "linear")
    start, end = config.get("beta_start", 0.0001), config.get("beta_end", 0.02)
    trained = config.get("trained_betas")
    if schedules is not None and trained is None and schedule not in schedules:
        raise NotImplementedError(f"{schedule} is not implemented for these samplers (known: {schedules})")
    if trained is not None:
        betas = torch.tensor(trained, dtype=torch.float32)
    elif schedule == "linear":
        betas = torch.linspace(start, end, n, dtype=torch.float32)
    elif schedule == "scaled_linear":
        betas = torch.linspace(start**0.5, end**0.5, n, dtype=torch.float32) ** 2
    elif schedule == "squaredcos_cap_v2":
        betas = betas_for_alpha_bar(n)
    elif schedule == "laplace":
        betas = betas_for_alpha_bar(n, alpha_transform_type="laplace")
    elif schedule == "sigmoid":
        betas = torch.sigmoid(torch.linspace(-6, 6, n)) * (end - start) + start
    else:
        raise NotImplementedError(f"{schedule} is not implemented")
    if config.get("rescale_betas_zero_snr", False):
        betas = rescale_zero_terminal_snr(betas)
    return betas


def randn(
    shape: tuple[int, ...],
    generator: torch.Generator | list[torch.Generator] | None,
    device: str | torch.device,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Standard normal noise ``shape`` on ``device``, drawn as diffusers' ``randn_tensor`` draws it.

    A list of generators draws item ``i`` of the batch (the first axis) from generator ``i``; CPU
    generators draw on the CPU and the result is moved to ``device`` (so the same seed gives the
    same noise on any device).

    Raises:
        ValueError: a CUDA generator for noise on another device.
    """
    device = torch.device(device)
    rand_device: str | torch.device = device
    if generator is not None:
        kind = (generator[0] if isinstance(generator, list) else generator).device.type
        if kind != device.type and kind == "cpu":
            rand_device = "cpu"
        elif kind != device.type and kind == "cuda":
            raise ValueError(f"cannot draw a {device} tensor from a generator of type {kind}")
    if isinstance(generator, list) and len(generator) == 1:
        generator = generator[0]
    if isinstance(generator, list):
        item = (1, *shape[1:])
        parts = [
            torch.randn(item, generator=g, device=rand_device, dtype=dtype) for g in generator[: shape[0]]
        ]
        return torch.cat(parts, dim=0).to(device)
    return torch.randn(shape, generator=generator, device=rand_device, dtype=dtype).to(device)


def _broadcast(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    values = values.flatten()
    while values.dim() < like.dim():
        values = values.unsqueeze(-1)
    return values


# ------------------------------------------------------------------------------------------------
# the training noise process
# ------------------------------------------------------------------------------------------------


class NoiseSchedule:
    """The training noise process of a pipeline folder (``scheduler/scheduler_config.json``).

    Holds the stored config (a diffusers ``DDPMScheduler`` config, :class:`SchedulerConfig`),
    ``betas`` and ``alphas_cumprod`` ``(num_train_timesteps,)`` computed as
    diffusers' ``scheduling_ddpm.py`` does, and writes the config back unchanged
    (:meth:`save_config`). Samplers are built from its config
    (:func:`audiogen.schedulers.make_sampler`).
    """

    config_name: ClassVar[str] = SCHEDULER_CONFIG_NAME
    order: ClassVar[int] = 1
    init_noise_sigma: ClassVar[float] = 1.0

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = SchedulerConfig(config)
        self.config.setdefault("_class_name", DEFAULT_SCHEDULE_CLASS)
        self.betas = make_betas(self.config)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **overrides: Any) -> NoiseSchedule:
        """A schedule from ``config`` (e.g. the parsed ``scheduler_config.json``) with ``overrides``."""
        return cls({**dict(config), **overrides})

    @property
    def class_name(self) -> str:
        """The diffusers class name the config was saved as (``_class_name``, e.g. ``DDPMScheduler``)."""
        return str(self.config["_class_name"])

    def save_config(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``directory/scheduler_config.json`` (indented, sorted keys, as diffusers writes it)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / self.config_name
        path.write_text(json.dumps(dict(self.config), indent=2, sort_keys=True) + "\n")
        return path

    def add_noise(self, original: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """Forward process ``sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise``; ``timesteps (batch,)``."""
        alphas_cumprod = self.alphas_cumprod.to(device=original.device, dtype=original.dtype)
        timesteps = timesteps.to(original.device)
        a = _broadcast(alphas_cumprod[timesteps] ** 0.5, original)
        b = _broadcast((1 - alphas_cumprod[timesteps]) ** 0.5, original)
        return a * original + b * noise

    def get_velocity(
        self, sample: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor
    ) -> torch.Tensor:
        """``v = sqrt(alpha_bar_t) noise - sqrt(1 - alpha_bar_t) x0`` (Salimans & Ho, 2022)."""
        alphas_cumprod = self.alphas_cumprod.to(device=sample.device, dtype=sample.dtype)
        timesteps = timesteps.to(sample.device)
        a = _broadcast(alphas_cumprod[timesteps] ** 0.5, sample)
        b = _broadcast((1 - alphas_cumprod[timesteps]) ** 0.5, sample)
        return a * noise - b * sample

    def __len__(self) -> int:
        return int(self.config.get("num_train_timesteps", 1000))


# ------------------------------------------------------------------------------------------------
# samplers
# ------------------------------------------------------------------------------------------------

_COMMON_DEFAULTS: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.0001,
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "trained_betas": None,
    "prediction_type": "epsilon",
    "thresholding": False,
    "dynamic_thresholding_ratio": 0.995,
    "sample_max_value": 1.0,
    "timestep_spacing": "linspace",
    "steps_offset": 0,
    "rescale_betas_zero_snr": False,
}
_SAMPLER_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")


class _Sampler:
    """Shared state of the ports: config from ``from_config``, betas, ``alphas_cumprod``, step counter."""

    #: diffusers' class this ports (the ``from_config`` keys it accepts are its ``DEFAULTS``).
    diffusers_class: ClassVar[str]
    DEFAULTS: ClassVar[dict[str, Any]]
    #: config key → the values the port implements (anything else raises ValueError).
    SUPPORTED: ClassVar[dict[str, tuple[Any, ...]]] = {}
    order: ClassVar[int] = 1

    def __init__(self, **config: Any) -> None:
        unknown = sorted(set(config) - set(self.DEFAULTS))
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown config keys {unknown}")
        self.config = SchedulerConfig({**self.DEFAULTS, **config})
        for key, allowed in {"thresholding": (False,), **self.SUPPORTED}.items():
            if key in self.config and self.config[key] not in allowed:
                raise ValueError(
                    f"{type(self).__name__}: {key}={self.config[key]!r} is not supported by audiogen's "
                    f"samplers (supported: {list(allowed)})"
                )
        if self.config.prediction_type not in ("epsilon", "v_prediction", "sample"):
            raise ValueError(
                f"{type(self).__name__}: unknown prediction_type {self.config.prediction_type!r}"
            )
        self.betas = make_betas(self.config, _SAMPLER_SCHEDULES)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)
        self.num_inference_steps: int | None = None
        self._step_index: int | None = None
        self._begin_index: int | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **overrides: Any) -> _Sampler:
        """The sampler for ``config`` (keys this sampler does not take are ignored, as in diffusers)."""
        merged = {**dict(config), **overrides}
        return cls(**{k: v for k, v in merged.items() if k in cls.DEFAULTS})

    @property
    def step_index(self) -> int | None:
        """Index into :attr:`timesteps` of the next step (``None`` before the first)."""
        return self._step_index

    @property
    def begin_index(self) -> int | None:
        """Index of the first timestep run (:meth:`set_begin_index`; ``None``: found from the timestep)."""
        return self._begin_index

    def set_begin_index(self, begin_index: int = 0) -> None:
        """Start from ``timesteps[begin_index]`` (SDEdit-style partial runs)."""
        self._begin_index = begin_index

    def scale_model_input(self, sample: torch.Tensor, timestep: Any = None) -> torch.Tensor:
        """The denoiser's input for ``sample (batch, latent_dim, latent_frames)``: unchanged."""
        return sample

    def __len__(self) -> int:
        return int(self.config.num_train_timesteps)

    def _noise_sigmas(self, original: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """The sigmas ``add_noise`` uses, broadcast against ``original``: those of ``timesteps
        (batch,)`` before a begin index is set, else of the current (or begin) step, as diffusers'
        sigma-based schedulers do (``self.sigmas`` and ``index_for_timestep`` are the subclass's)."""
        sigmas = self.sigmas.to(device=original.device, dtype=original.dtype)  # type: ignore[attr-defined]
        schedule = self.timesteps.to(original.device)  # type: ignore[attr-defined]
        timesteps = timesteps.to(original.device)
        if self._begin_index is None:
            indices = [self.index_for_timestep(t, schedule) for t in timesteps]  # type: ignore[attr-defined]
        elif self._step_index is not None:
            indices = [self._step_index] * timesteps.shape[0]
        else:
            indices = [self._begin_index] * timesteps.shape[0]
        return _broadcast(sigmas[indices], original)


def _leading_linspace_trailing(
    spacing: str,
    num_train: int,
    steps: int,
    offset: int,
    last: int,
    plus_one: bool = False,
    round_linspace: bool = True,
) -> np.ndarray:
    """Timesteps of diffusers' three spacings (Lin et al., 2024, Table 2), float64, descending.

    ``plus_one``: DPM-Solver's variant, which spaces ``steps + 1`` points and drops the last.
    ``round_linspace=False``: Euler's linspace, which keeps fractional timesteps.

    Raises:
        ValueError: an unknown ``spacing``.
    """
    extra = 1 if plus_one else 0
    if spacing == "linspace":
        points = np.linspace(0, last - 1, steps + extra)
        points = (points.round() if round_linspace else points)[::-1]
        return (points[:-1] if plus_one else points).copy()
    if spacing == "leading":
        ratio = last // (steps + extra)
        points = (np.arange(0, steps + extra) * ratio).round()[::-1]
        return (points[:-1] if plus_one else points).copy() + offset
    if spacing == "trailing":
        ratio = num_train / steps
        return np.arange(last, 0, -ratio).round().copy() - 1
    raise ValueError(f"timestep_spacing {spacing!r} is not supported (linspace, leading or trailing)")


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
        "use_flow_sigmas": (False,),
        "final_sigmas_type": ("zero", "sigma_min"),
        "variance_type": (None,),
        "use_dynamic_shifting": (False,),
    }
    init_noise_sigma = 1.0

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
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
        sigmas = (((1 - self.alphas_cumprod) / self.alphas_cumprod) ** 0.5).numpy()
        sigmas = np.interp(timesteps, np.arange(0, len(sigmas)), sigmas)
        if cfg.final_sigmas_type == "sigma_min":
            sigma_last = ((1 - self.alphas_cumprod[0]) / self.alphas_cumprod[0]) ** 0.5
        else:
            sigma_last = 0
        self.sigmas = torch.from_numpy(np.concatenate([sigmas, [sigma_last]]).astype(np.float32))
        self.timesteps = torch.from_numpy(timesteps).to(device=device, dtype=torch.int64)
        self.num_inference_steps = len(timesteps)
        self.model_outputs = [None] * cfg.solver_order
        self.lower_order_nums = 0
        self._step_index = None
        self._begin_index = None

    @staticmethod
    def _alpha_sigma(sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        alpha_t = 1 / ((sigma**2 + 1) ** 0.5)
        return alpha_t, sigma * alpha_t

    def index_for_timestep(self, timestep: Any, schedule_timesteps: torch.Tensor | None = None) -> int:
        """Index of ``timestep`` in the schedule (the second match if repeated; the last if absent)."""
        schedule = self.timesteps if schedule_timesteps is None else schedule_timesteps
        candidates = (schedule == timestep).nonzero()
        if len(candidates) == 0:
            return len(self.timesteps) - 1
        return candidates[1 if len(candidates) > 1 else 0].item()

    def _init_step_index(self, timestep: Any) -> None:
        if self._begin_index is None:
            if isinstance(timestep, torch.Tensor):
                timestep = timestep.to(self.timesteps.device)
            self._step_index = self.index_for_timestep(timestep)
        else:
            self._step_index = self._begin_index

    def _data_prediction(self, model_output: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
        """Data prediction ``x0 (batch, latent_dim, latent_frames)`` from the model output."""
        kind = self.config.prediction_type
        if kind == "sample":
            return model_output
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
        sigmas = (((1 - self.alphas_cumprod) / self.alphas_cumprod) ** 0.5).numpy()
        sigmas = np.interp(timesteps, np.arange(0, len(sigmas)), sigmas)
        if cfg.final_sigmas_type == "sigma_min":
            sigma_last = ((1 - self.alphas_cumprod[0]) / self.alphas_cumprod[0]) ** 0.5
        else:
            sigma_last = 0
        sigmas = np.concatenate([sigmas, [sigma_last]]).astype(np.float32)
        self.timesteps = torch.from_numpy(timesteps.astype(np.float32)).to(device=device)
        self.sigmas = torch.from_numpy(sigmas).to(dtype=torch.float32)
        self._step_index = None
        self._begin_index = None

    def index_for_timestep(self, timestep: Any, schedule_timesteps: torch.Tensor | None = None) -> int:
        """Index of ``timestep`` in the schedule (the second match if repeated)."""
        schedule = self.timesteps if schedule_timesteps is None else schedule_timesteps
        indices = (schedule == timestep).nonzero()
        return indices[1 if len(indices) > 1 else 0].item()

    def _init_step_index(self, timestep: Any) -> None:
        if self._begin_index is None:
            if isinstance(timestep, torch.Tensor):
                timestep = timestep.to(self.timesteps.device)
            self._step_index = self.index_for_timestep(timestep)
        else:
            self._step_index = self._begin_index

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


#: diffusers class name → the port of it.
SAMPLER_CLASSES: dict[str, type[_Sampler]] = {
    klass.diffusers_class: klass for klass in (DPMSolverMultistep, DDIM, EulerDiscrete)
}

__all__ = [
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
