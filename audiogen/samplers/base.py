"""What the sampler ports share: the step output, the config checks, the timestep spacing.

See :mod:`audiogen.samplers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from audiogen.samplers.schedule import SchedulerConfig, _broadcast, make_betas


@dataclass
class SamplerOutput:
    """What ``step`` returns: ``prev_sample (batch, latent_dim, latent_frames)``, as diffusers' outputs."""

    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor | None = None


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


class _SamplerBase:
    """What every port shares: the checked config (``from_config``), the step counter, ``add_noise``'s sigmas.

    Subclasses set ``self.sigmas``, ``self.timesteps`` and ``index_for_timestep`` where they use
    :meth:`_noise_sigmas` or :meth:`_init_step_index`.
    """

    #: diffusers' class this ports (the ``from_config`` keys it accepts are its ``DEFAULTS``).
    diffusers_class: ClassVar[str]
    DEFAULTS: ClassVar[dict[str, Any]]
    #: config key → the values the port implements (anything else raises ValueError).
    SUPPORTED: ClassVar[dict[str, tuple[Any, ...]]] = {}
    #: the ``prediction_type`` values the port converts.
    PREDICTION_TYPES: ClassVar[tuple[str, ...]] = ("epsilon", "v_prediction", "sample")
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
        if self.config.prediction_type not in self.PREDICTION_TYPES:
            raise ValueError(
                f"{type(self).__name__}: prediction_type {self.config.prediction_type!r} is not supported "
                f"(supported: {list(self.PREDICTION_TYPES)})"
            )
        self.num_inference_steps: int | None = None
        self._step_index: int | None = None
        self._begin_index: int | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **overrides: Any) -> _SamplerBase:
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

    def _init_step_index(self, timestep: Any) -> None:
        """Start counting steps at ``timestep`` (its index, see the subclass' ``index_for_timestep``)
        or at the index :meth:`set_begin_index` gave (samplers that keep a step index)."""
        if self._begin_index is None:
            if isinstance(timestep, torch.Tensor):
                timestep = timestep.to(self.timesteps.device)  # type: ignore[attr-defined]
            self._step_index = self.index_for_timestep(timestep)  # type: ignore[attr-defined]
        else:
            self._step_index = self._begin_index


class _Sampler(_SamplerBase):
    """The ports of the DDPM-schedule samplers: :class:`_SamplerBase` plus betas and ``alphas_cumprod``."""

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.betas = make_betas(self.config, _SAMPLER_SCHEDULES)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)

    def _sigmas_at(self, timesteps: np.ndarray, final_sigmas_type: str) -> np.ndarray:
        """float32 ``sigma(t) = sqrt((1 - alpha_bar) / alpha_bar)`` interpolated at ``timesteps``,
        and the final sigma (``sigma_min``: the first training timestep's; else 0) appended."""
        alphas_cumprod = self.alphas_cumprod
        sigmas = (((1 - alphas_cumprod) / alphas_cumprod) ** 0.5).numpy()
        return self._append_final_sigma(
            np.interp(timesteps, np.arange(0, len(sigmas)), sigmas), final_sigmas_type
        )

    def _append_final_sigma(self, sigmas: np.ndarray, final_sigmas_type: str) -> np.ndarray:
        """float32 ``sigmas`` with the final sigma appended (``sigma_min``: the first training
        timestep's; else 0)."""
        alphas_cumprod = self.alphas_cumprod
        if final_sigmas_type == "sigma_min":
            sigma_last = ((1 - alphas_cumprod[0]) / alphas_cumprod[0]) ** 0.5
        else:
            sigma_last = 0
        return np.concatenate([sigmas, [sigma_last]]).astype(np.float32)


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
