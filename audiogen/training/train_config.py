"""The ``train`` section of a recipe (:class:`TrainConfig`), the LR schedule, and what a run returns.

Shared by every stage; the loop that uses them is :mod:`audiogen.training.trainer`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class TrainConfig:
    """The ``train`` section of a recipe (loop settings shared by every stage).

    Attributes:
        max_steps: optimizer steps to train for (the cosine schedule ends here).
        batch_size: examples per process per micro-batch.
        num_workers: DataLoader worker processes per training process.
        gradient_accumulation_steps: micro-batches per optimizer step.
        mixed_precision: ``"no"`` (float32), ``"fp16"`` (with loss scaling) or ``"bf16"``.
        lr: peak learning rate.
        betas: AdamW betas.
        weight_decay: AdamW weight decay.
        lr_schedule: ``"cosine"`` (linear warm-up, then cosine to ``min_lr_ratio * lr``) or
            ``"constant"`` (linear warm-up, then flat).
        warmup_steps: optimizer steps of linear warm-up from 0.
        min_lr_ratio: final LR of the cosine schedule as a fraction of ``lr``.
        grad_clip: max global gradient norm (``None``: no clipping, the norm is still logged).
        ema_decay: decay of the weight EMA for the task's ``ema_models`` (``None``: no EMA). The
            decay warms up as ``min(ema_decay, (1 + n) / (10 + n))`` after ``n`` updates
            (as diffusers' ``EMAModel``).
        log_every: steps between logged averages.
        validate_every: steps between validations (0: only at the end).
        val_batches: validation batches per process per validation.
        num_samples: validation samples written per validation.
        checkpoint_every: steps between checkpoints (a final one is always written).
        keep_checkpoints: newest complete checkpoints kept (``None``: all).
        max_consecutive_nonfinite: stop after this many steps in a row with a non-finite loss
            or gradient.
        seed: base seed of model init, data order and crops.
        log_with: ``"tensorboard"`` or ``None``.
        cpu: force the CPU even if a GPU is present.
        gradient_checkpointing: recompute activations in the backward pass of the models that
            support it (``enable_gradient_checkpointing``): less memory, more time (see
            ``benchmarks/bench_checkpointing.py``).
        shared_cache: several machines: ``True`` if they all see the same cache folders (one
            process in all builds each cache), ``False`` if each machine has its own disk (the
            first process of each machine builds that machine's copy); see
            :mod:`audiogen.training.distributed`.
        dist_timeout_s: seconds a collective operation (gradient all-reduce, barrier) waits for the
            other processes before the run stops with an error; also bounds how long the other
            processes wait while the main process builds a cache or writes a checkpoint.
    """

    max_steps: int = 100_000
    batch_size: int = 16
    num_workers: int = 2
    gradient_accumulation_steps: int = 1
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    lr: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    lr_schedule: Literal["cosine", "constant"] = "cosine"
    warmup_steps: int = 500
    min_lr_ratio: float = 0.0
    grad_clip: float | None = 1.0
    ema_decay: float | None = 0.999
    log_every: int = 50
    validate_every: int = 1000
    val_batches: int = 4
    num_samples: int = 4
    checkpoint_every: int = 1000
    keep_checkpoints: int | None = 3
    max_consecutive_nonfinite: int = 20
    seed: int = 0
    log_with: Literal["tensorboard"] | None = "tensorboard"
    cpu: bool = False
    gradient_checkpointing: bool = False
    shared_cache: bool = True
    dist_timeout_s: float = 1800.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(self.betas))
        if self.mixed_precision in (False, None):  # YAML reads an unquoted `no` as false
            object.__setattr__(self, "mixed_precision", "no")
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise ValueError(
                f"train.mixed_precision must be 'no', 'fp16' or 'bf16', got {self.mixed_precision!r}"
            )
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"train.lr_schedule must be 'cosine' or 'constant', got {self.lr_schedule!r}")
        for name in (
            "max_steps",
            "batch_size",
            "gradient_accumulation_steps",
            "log_every",
            "checkpoint_every",
            "max_consecutive_nonfinite",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.keep_checkpoints is not None and self.keep_checkpoints < 1:
            raise ValueError(f"train.keep_checkpoints must be >= 1 or null, got {self.keep_checkpoints}")
        if not self.dist_timeout_s > 0:
            raise ValueError(f"train.dist_timeout_s must be > 0 (seconds), got {self.dist_timeout_s}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"train.ema_decay must be in (0, 1) or null, got {self.ema_decay}")


class TrainingError(RuntimeError):
    """The run cannot start or continue (e.g. too many non-finite losses in a row)."""


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns.

    Attributes:
        step: optimizer steps done (including skipped ones).
        run_dir: the run folder.
        checkpoint: the last checkpoint written or resumed from.
        nonfinite_steps: steps skipped because of a non-finite loss or gradient.
        last_losses: the last logged averages (``train/<name>``), process-averaged.
    """

    step: int
    run_dir: Path
    checkpoint: Path | None
    nonfinite_steps: int
    last_losses: dict[str, float]


def lr_lambda(config: TrainConfig):
    """The LR multiplier per optimizer step: linear warm-up, then cosine (or constant)."""

    def f(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        if config.lr_schedule == "constant":
            return 1.0
        progress = min(1.0, (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps))
        return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return f
