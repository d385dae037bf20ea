"""The training recipe of each stage of a fine-tuning run (:mod:`audiogen.training.finetune`).

:func:`stage_recipe` turns the run's settings (a :class:`audiogen.training.finetune.FinetuneConfig`, the
``config`` argument below) and the current model folder of each stage into the recipe that
:func:`audiogen.training.train_stage` trains that stage with: started from the saved weights
(``init``), with the saved model settings, the collection's manifest, and a ``train`` section scaled
to the run's length (:func:`stage_steps`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

TRAINING_TASK = {"autoencoder": "autoencoder", "denoiser": "diffusion", "vocoder": "vocoder"}
"""The :data:`audiogen.training.TASKS` key that trains each pipeline stage."""


def _ema_decay(steps: int) -> float:
    """An EMA whose horizon is about a tenth of the run (0.9 … 0.999), so short runs move off the base."""
    return min(0.999, max(0.9, 1.0 - 10.0 / steps))


def stage_steps(config: Any, stage: str) -> int:
    """Optimizer steps of ``stage`` (``"autoencoder"``, ``"denoiser"`` or ``"vocoder"``)."""
    own = {"vocoder": config.vocoder_steps, "autoencoder": config.autoencoder_steps}.get(stage)
    return own or config.steps


def _train_section(config: Any, stage: str, betas: tuple[float, float]) -> dict[str, Any]:
    steps = stage_steps(config, stage)
    every = min(config.sample_every or max(1, math.ceil(steps / 4)), steps)
    return {
        "max_steps": steps,
        "batch_size": config.batch_size,
        "num_workers": config.num_workers,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "mixed_precision": config.mixed_precision,
        "lr": config.lr,
        "betas": list(betas),
        "lr_schedule": "constant",
        "warmup_steps": min(100, max(1, steps // 10)),
        "grad_clip": 1.0,
        "ema_decay": _ema_decay(steps),
        "log_every": max(1, min(50, steps // 10)),
        "validate_every": every,
        "val_batches": 1,
        "num_samples": 2,
        "checkpoint_every": every,
        "keep_checkpoints": 2,
        "seed": config.seed,
        "log_with": "tensorboard",
        "cpu": config.cpu,
        "gradient_checkpointing": config.gradient_checkpointing and stage == "denoiser",
        "shared_cache": config.shared_cache,
        "dist_timeout_s": config.dist_timeout_s,
    }


def _saved_config(folder: Path) -> dict[str, Any]:
    """A saved model folder's ``config.json``: ``{"class": name, "config": {...}, ...}``."""
    from audiogen.hub import read_model_config

    return read_model_config(folder)


def stage_recipe(
    stage: str,
    config: Any,
    manifest: Path,
    folders: dict[str, Path],
    styles: list[str],
    val_split: str,
) -> dict[str, Any]:
    """The training recipe that fine-tunes ``stage`` of the pipeline (see the module docstring).

    Args:
        stage: ``"autoencoder"``, ``"denoiser"`` or ``"vocoder"``.
        config: the run's settings.
        manifest: the collection's manifest.
        folders: the current model folder of each stage (base, or already fine-tuned).
        styles: the collection's styles (appended to the base denoiser's labels when new).
        val_split: split used for validation samples.

    Returns:
        A recipe dict for :func:`audiogen.training.train_stage` (sections ``init``, ``mel``,
        ``model``, ``loss_weights``, ``data``, ``train``).
    """
    run_dir = Path(config.out)
    if stage == "autoencoder":
        from audiogen.training.tasks.autoencoder import (
            ADVERSARIAL_BETAS,
            ADVERSARIAL_LOSS_WEIGHTS,
            CPU_ADVERSARIAL,
        )

        model = dict(_saved_config(folders["autoencoder"])["config"])
        mel = model.pop("mel")
        return {
            "init": {"autoencoder": str(folders["autoencoder"])},
            "mel": mel,
            "model": model,
            # the GAN objective of recipes/autoencoder_gan.yaml; a short run lets the discriminator
            # learn for a quarter of its steps at most before it judges the decoder
            "adversarial": {
                **CPU_ADVERSARIAL,
                "adv_start_step": min(CPU_ADVERSARIAL["adv_start_step"], stage_steps(config, stage) // 4),
            },
            "loss_weights": {"mel_l1": 1.0, "mel_l2": 0.0, "kl": 1.0e-4, **ADVERSARIAL_LOSS_WEIGHTS},
            "data": {
                "manifest": str(manifest),
                "segment_seconds": config.segment_seconds,
                "val_split": val_split,
                "latent_scale_batches": 0,  # keep the base's latent scale
            },
            "train": _train_section(config, stage, ADVERSARIAL_BETAS),
        }
    if stage == "denoiser":
        model = dict(_saved_config(folders["denoiser"])["config"])
        base_labels = list(model.pop("class_labels", None) or [])
        for key in ("latent_dim", "num_classes"):
            model.pop(key, None)
        if config.zero_terminal_snr and model.get("prediction_type", "v_prediction") == "v_prediction":
            model["rescale_betas_zero_snr"] = True
        labels = base_labels + [s for s in styles if s not in base_labels] if base_labels else None
        lora = None
        if config.lora_rank is not None:
            lora = {
                "rank": config.lora_rank,
                "alpha": config.lora_alpha,
                "targets": list(config.lora_targets) if config.lora_targets else None,
                "styles": [s for s in styles if s not in base_labels] if labels else [],
            }
        return {
            **({"lora": lora} if lora else {}),
            "init": {"denoiser": str(folders["denoiser"])},
            "model": model,
            "loss_weights": {"diffusion_mse": 1.0},
            "data": {
                "autoencoder": str(folders["autoencoder"]),
                "manifest": str(manifest),
                "source": "latent_cache",
                "latent_cache": str(run_dir / "cache"),
                "normalize_cache": True,
                "pad_to_segment": True,
                "conditional": labels is not None,
                "labels": labels,
                "label_dropout": 0.1,
                "segment_seconds": config.segment_seconds,
                "val_split": val_split,
                "sample_styles": styles if labels is not None else None,
                "sample_seconds": config.segment_seconds,
                "vocoder": str(folders["vocoder"]),
            },
            "train": _train_section(config, stage, (0.9, 0.99)),
        }
    if stage == "vocoder":
        from audiogen.models.vocoder import VOCODER_TYPES

        saved = _saved_config(folders["vocoder"])
        model, saved_class = dict(saved["config"]), saved["class"]
        mel = model.pop("mel")
        kinds = [name for name, (cls, _) in VOCODER_TYPES.items() if cls.__name__ == saved_class]
        if not kinds:
            raise ValueError(f"{folders['vocoder']}: no training task for vocoder class {saved_class!r}")
        model["type"] = kinds[0]
        hop = int(mel["hop_length"])
        return {
            "init": {"vocoder": str(folders["vocoder"])},
            "mel": mel,
            "model": {"vocoder": model, "disc_start_step": stage_steps(config, stage) + 1},  # no GAN
            "loss_weights": {
                "mel_l1": 45.0,
                "mrstft": 1.0,
                "adv_gen": 1.0,
                "feature_matching": 1.0,
                "adv_disc": 1.0,
            },
            "data": {
                "manifest": str(manifest),
                "segment_samples": max(hop, config.vocoder_segment_samples // hop * hop),
                "val_split": val_split,
                "valid_crops_per_file": 1,
            },
            "train": _train_section(config, stage, (0.8, 0.9)),
        }
    raise ValueError(f"unknown pipeline stage {stage!r}; known: {sorted(TRAINING_TASK)}")
