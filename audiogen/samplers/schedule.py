"""The training noise process: betas, ``alphas_cumprod``, its stored config, seeded noise.

Ports of diffusers' ``scheduling_ddpm.py`` (betas, zero terminal SNR) and ``randn_tensor``; the
rectified-flow process of a flow model (:class:`FlowMatchSchedule`, the config of diffusers'
``FlowMatchEulerDiscreteScheduler``); see :mod:`audiogen.samplers`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch

#: ``_class_name`` written for a training schedule built here (diffusers' class of that config).
DEFAULT_SCHEDULE_CLASS = "DDPMScheduler"
#: ``_class_name`` of a rectified-flow model's schedule (:class:`FlowMatchSchedule`).
FLOW_SCHEDULE_CLASS = "FlowMatchEulerDiscreteScheduler"
SCHEDULER_CONFIG_NAME = "scheduler_config.json"


class SchedulerConfig(dict):
    """A scheduler configuration: a ``dict`` whose keys are also attributes (as diffusers' ``FrozenDict``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"scheduler config has no {name!r}") from None


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


class _StoredSchedule:
    """A training schedule's stored config: ``from_config``, its class name, ``save_config``."""

    config_name: ClassVar[str] = SCHEDULER_CONFIG_NAME
    order: ClassVar[int] = 1
    init_noise_sigma: ClassVar[float] = 1.0
    config: SchedulerConfig

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **overrides: Any) -> Any:
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

    def __len__(self) -> int:
        return int(self.config.get("num_train_timesteps", 1000))


class NoiseSchedule(_StoredSchedule):
    """The training noise process of a pipeline folder (``scheduler/scheduler_config.json``).

    Holds the stored config (a diffusers ``DDPMScheduler`` config, :class:`SchedulerConfig`),
    ``betas`` and ``alphas_cumprod`` ``(num_train_timesteps,)`` computed as
    diffusers' ``scheduling_ddpm.py`` does, and writes the config back unchanged
    (:meth:`save_config`). Samplers are built from its config
    (:func:`audiogen.samplers.factory.make_sampler`).
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = SchedulerConfig(config)
        self.config.setdefault("_class_name", DEFAULT_SCHEDULE_CLASS)
        self.betas = make_betas(self.config)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)

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


def is_flow_schedule(config: Mapping[str, Any]) -> bool:
    """Whether a scheduler config is a rectified-flow schedule (:class:`FlowMatchSchedule`): its
    ``_class_name`` is :data:`FLOW_SCHEDULE_CLASS` or its ``prediction_type`` ``"flow_prediction"``."""
    return (
        config.get("_class_name") == FLOW_SCHEDULE_CLASS or config.get("prediction_type") == "flow_prediction"
    )


class FlowMatchSchedule(_StoredSchedule):
    """The training noise process of a rectified-flow model: ``x_t = (1 - t) x0 + t noise``.

    Rectified flow (Liu et al., 2023, "Flow Straight and Fast"; Esser et al., 2024, "Scaling
    Rectified Flow Transformers for High-Resolution Image Synthesis") joins a latent ``x0`` and
    noise on a straight line, ``t`` in [0, 1] (pure noise at ``t = 1``); the network predicts the
    velocity ``v = noise - x0`` and is given the timestep ``t * num_train_timesteps``, so
    ``add_noise`` and ``get_velocity`` take timesteps on that scale (fractional values welcome).
    ``x0 = x_t - t v`` and ``noise = x_t + (1 - t) v``.

    The config is diffusers' ``FlowMatchEulerDiscreteScheduler`` config (``num_train_timesteps``,
    ``shift``, ...) with ``prediction_type: "flow_prediction"`` added, what a flow pipeline stores
    as ``scheduler/scheduler_config.json``; samplers are built from it
    (:func:`audiogen.samplers.factory.make_sampler`). diffusers' class has no training-time
    ``add_noise``, so training uses this one (no diffusers import).
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = SchedulerConfig({"prediction_type": "flow_prediction", **config})
        self.config.setdefault("_class_name", FLOW_SCHEDULE_CLASS)
        if self.config.prediction_type != "flow_prediction":
            raise ValueError(
                f"a flow schedule has prediction_type 'flow_prediction', got {self.config.prediction_type!r}"
            )

    def sigmas_of(self, timesteps: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """The flow times ``t = timesteps / num_train_timesteps`` of ``timesteps (batch,)``, in
        ``like``'s dtype and device, broadcast against it."""
        t = timesteps.to(device=like.device, dtype=like.dtype) / len(self)
        return _broadcast(t, like)

    def add_noise(self, original: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """``(1 - t) x0 + t noise`` with ``t = timesteps / num_train_timesteps``; ``timesteps (batch,)``."""
        t = self.sigmas_of(timesteps, original)
        return (1.0 - t) * original + t * noise

    def get_velocity(
        self, sample: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor
    ) -> torch.Tensor:
        """The flow velocity ``v = noise - x0`` (the same at every timestep)."""
        return noise - sample
