"""The sampling settings of a generating call, in one dataclass: :class:`SamplingConfig`.

Every generating method of :class:`~audiogen.pipelines.audiogen.AudioGenPipeline` (``__call__``,
``loop``, ``variation``, ``extend``, ``inpaint``, ``stream``), every generating command (their flags are
:mod:`audiogen.cli.options`) and every web-app job take one. The pipeline's
:meth:`~audiogen.pipelines.audiogen.AudioGenPipeline.check_inputs` turns it into a
:class:`Guidance` (the style labels and the CFG scale a call uses), which the denoising step
(:mod:`audiogen.pipelines.denoise`) reads. A new sampling setting is a field here, the step that
uses it, and one option definition in :mod:`audiogen.cli.options`.

Light: no torch at import (the command line builds one before loading a model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from audiogen.errors import InputError
from audiogen.samplers.factory import SAMPLERS

#: The largest seed: :meth:`torch.Generator.manual_seed` takes integers up to ``2**64 - 1``.
MAX_SEED = 2**64 - 1
#: The most sampler steps accepted.
MAX_STEPS = 1000
#: The largest classifier-free guidance scale accepted. A judgement: useful scales are about 1-15
#: and past a few tens the guided prediction leaves the range the models were trained on (1e308
#: overflows to Inf and writes NaN audio).
MAX_CFG_SCALE = 50.0
#: The sampler names (the table is :data:`audiogen.samplers.factory.SAMPLER_TABLE`).
SAMPLER_NAMES = SAMPLERS


@dataclass(frozen=True)
class SamplingConfig:
    """How to sample: the settings every generating call shares.

    Attributes:
        seed: seed of the first clip (item ``i`` of a batch gets ``seed + i``), ``>= 0``.
        steps: sampler steps (``None``: the pipeline's default, ``AudioGenPipeline.steps``).
        cfg_scale: classifier-free guidance scale, used with a ``style`` (1 = none; ``None``: the
            pipeline's default, ``AudioGenPipeline.cfg_scale``).
        style: one of the model's style names, or ``None`` for unconditional generation.
        sampler: ``"dpm++"`` (DPM-Solver++ 2M), ``"ddim"`` or ``"euler"`` (a rectified-flow model
            runs ``"dpm++"`` and ``"euler"``; the pipeline refuses ``"ddim"`` for it).
        progress: a tqdm bar over the sampler steps.
        negative_style: a style to steer away from: the unconditional branch of classifier-free
            guidance gets this style's label instead of the null label, so guidance pushes from
            it towards ``style`` (needs a ``style`` other than it; no effect at ``cfg_scale`` 1).
    """

    seed: int = 0
    steps: int | None = None
    cfg_scale: float | None = None
    style: str | None = None
    sampler: str = "dpm++"
    progress: bool = True
    negative_style: str | None = None

    @classmethod
    def of(cls, sampling: SamplingConfig | None = None, **settings: Any) -> SamplingConfig:
        """``sampling`` (default: all defaults) with the fields in ``settings`` replaced.

        Raises:
            TypeError: a name in ``settings`` that is not a field.
        """
        return replace(sampling or cls(), **settings) if settings else (sampling or cls())

    def checked(self, count: int = 1) -> SamplingConfig:
        """Check the ranges, and the negative style against the style (not the names, which depend on
        the model); returns ``self``.

        ``count``: the seeds ``seed .. seed + count - 1`` must all be valid. Messages name the
        command-line flag (the web app shows the same ones).

        Raises:
            InputError: a seed, step count, CFG scale or sampler out of range; a negative style without
                a style, or the same as the style (guidance would push from the style to itself).
        """
        if not 0 <= self.seed <= MAX_SEED - (count - 1):
            last = "" if count == 1 else f" (and --seed + --num - 1 must be too, with --num {count})"
            raise InputError(f"--seed must be in [0, 2**64 - 1 = {MAX_SEED}]{last}, got {self.seed}")
        if self.steps is not None and not 1 <= self.steps <= MAX_STEPS:
            raise InputError(f"--steps must be in [1, {MAX_STEPS}], got {self.steps}")
        if self.cfg_scale is not None and not (
            math.isfinite(self.cfg_scale) and 0.0 <= self.cfg_scale <= MAX_CFG_SCALE
        ):
            raise InputError(
                f"--cfg-scale must be a finite number in [0, {MAX_CFG_SCALE:g}], got {self.cfg_scale}"
            )
        if self.sampler not in SAMPLER_NAMES:
            raise InputError(f"--sampler must be one of {', '.join(SAMPLER_NAMES)}, got {self.sampler!r}")
        if self.negative_style is not None:
            if self.style is None:
                raise InputError("--negative-style needs a --style to steer towards")
            if self.negative_style == self.style:
                raise InputError(f"--negative-style must differ from --style (both {self.style!r})")
        return self

    @classmethod
    def field_names(cls) -> list[str]:
        """The settings' names, in order."""
        return [f.name for f in fields(cls)]


@dataclass(frozen=True)
class Guidance:
    """Classifier-free guidance of one call, as :meth:`AudioGenPipeline.check_inputs` resolved it.

    Attributes:
        label: the style's class index, or ``None`` (unconditional: no guidance).
        scale: the CFG scale (1 = none): ``uncond + scale * (cond - uncond)``.
        steps: the sampler steps the call runs.
        negative: the negative style's class index: the label of the unconditional branch
            (``None``: the denoiser's null label).
    """

    label: int | None
    scale: float
    steps: int
    negative: int | None = None

    def labels(self, batch: int, device: Any) -> tuple[Any, Any]:
        """``(labels, uncond)``: the class labels ``(batch,)`` (``None``: unconditional) and the labels
        of CFG's unconditional branch (``None``: the denoiser's null label)."""
        from audiogen.pipelines.denoise import as_labels

        uncond = None if self.label is None else as_labels(self.negative, batch, device)
        return as_labels(self.label, batch, device), uncond


__all__ = ["MAX_CFG_SCALE", "MAX_SEED", "MAX_STEPS", "SAMPLER_NAMES", "Guidance", "SamplingConfig"]
