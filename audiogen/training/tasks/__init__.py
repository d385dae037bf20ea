"""The training stages, one module each, and the table that builds them by name.

* :mod:`~audiogen.training.tasks.base`: the :class:`Task` contract every stage implements (and the
  helpers they share: :class:`Datasets`, :class:`Sample`, :class:`ValidationOutput`).
* :mod:`~audiogen.training.tasks.autoencoder`: the mel VAE (optionally with a GAN loss).
* :mod:`~audiogen.training.tasks.diffusion`: the latent denoiser.
* :mod:`~audiogen.training.tasks.vocoder`: the vocoder GAN.
* :mod:`~audiogen.training.tasks.sequence`: the latent sequence model (streaming).
* :mod:`~audiogen.training.tasks.classifier`: the style classifier.

:func:`build_task` imports a stage's module only when that stage is built.
"""

from __future__ import annotations

import importlib
from typing import Any

from audiogen.training.tasks.base import Datasets, Task, ValidationOutput, apply_random_gain, check_gain_db

__all__ = [
    "TASKS",
    "Datasets",
    "Task",
    "ValidationOutput",
    "apply_random_gain",
    "build_task",
    "check_gain_db",
]

#: Stage name → ``module:Class`` of its task, imported only when that stage is built.
TASKS = {
    "autoencoder": "audiogen.training.tasks.autoencoder:AutoencoderTask",
    "diffusion": "audiogen.training.tasks.diffusion:DiffusionTask",
    "vocoder": "audiogen.training.tasks.vocoder:VocoderTask",
    "classifier": "audiogen.training.tasks.classifier:ClassifierTask",
    "sequence": "audiogen.training.tasks.sequence:SequenceTask",
}


def build_task(stage: str, recipe: dict[str, Any]) -> Task:
    """Instantiate the task of ``stage`` (a key of :data:`TASKS`) from a recipe dict.

    Raises:
        ValueError: if ``stage`` is unknown (lists the known ones).
    """
    if stage not in TASKS:
        raise ValueError(f"unknown training stage {stage!r}; known: {sorted(TASKS)}")
    module, _, cls = TASKS[stage].partition(":")
    return getattr(importlib.import_module(module), cls)(recipe)
