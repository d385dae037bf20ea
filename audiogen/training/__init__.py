"""Training: one Accelerate loop (:mod:`~audiogen.training.trainer`) for every stage, each stage a
:class:`~audiogen.training.tasks.Task` (:mod:`~audiogen.training.tasks.autoencoder`, ...), and
pickle-free atomic checkpoints (:mod:`~audiogen.training.checkpoint`).

Heavy imports (accelerate, tensorboard) happen when a run starts, not on import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audiogen.training.distributed import end_distributed
from audiogen.training.tasks import TASKS, Task, build_task
from audiogen.training.trainer import TrainConfig, Trainer, TrainingError, TrainResult

__all__ = [
    "TASKS",
    "Task",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingError",
    "build_task",
    "end_distributed",
    "train_stage",
]


def train_stage(stage: str, recipe: dict[str, Any], run_dir: str | Path, resume: bool = False) -> TrainResult:
    """Train ``stage`` (e.g. ``"autoencoder"``) from a recipe dict (see :func:`audiogen.config.load_recipe`).

    Args:
        stage: a key of :data:`TASKS`.
        recipe: sections ``mel``, ``model``, ``loss_weights``, ``data``, ``train``.
        run_dir: output folder (``recipe.yaml``, ``metrics.jsonl``, ``logs/``, ``samples/``,
            ``checkpoints/``).
        resume: continue from the newest complete checkpoint in ``run_dir`` (fresh start if none).

    Returns:
        :class:`TrainResult`.

    Raises:
        ValueError: unknown stage or bad recipe values (names the section and key).
        TrainingError: the run cannot start or had to stop (message says why).
    """
    from audiogen.config import from_dict

    task = build_task(stage, recipe)
    config = from_dict(TrainConfig, recipe.get("train"))
    return Trainer(task, config, run_dir, loss_weights=recipe.get("loss_weights"), recipe=recipe).fit(resume)
