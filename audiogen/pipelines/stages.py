"""Do a pipeline's stages fit together? The check :class:`~audiogen.pipelines.audiogen.AudioGenPipeline` runs.

:func:`stage_disagreements` compares the mel front ends, the latent layout and the noise process
of the stages and names every difference; the pipeline's constructor raises one ``ValueError``
listing them.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any


def _differences(a: Any, b: Any, names: list[str] | None = None) -> list[str]:
    """``["name: a_value vs b_value", ...]`` for the dataclass fields where ``a`` and ``b`` differ."""
    names = names or [f.name for f in fields(a)]
    return [f"{n}: {getattr(a, n)!r} vs {getattr(b, n)!r}" for n in names if getattr(a, n) != getattr(b, n)]


def stage_disagreements(
    mel_config: Any, autoencoder: Any, denoiser: Any, scheduler: Any, vocoder: Any
) -> list[str]:
    """Every way the stages disagree, one phrase each (``[]``: they agree).

    Checked: the autoencoder's and the vocoder's front end vs ``mel_config`` (sample rate,
    n_mels, hop_length, ...), the latent channels of the autoencoder vs the denoiser, the
    scheduler's noise process (prediction type, timesteps, betas) vs the denoiser's config, and
    (when the denoiser's config records one) the time compression it was trained on vs the
    autoencoder's ``time_downsample``.
    """
    problems = []
    for name, stage in (("autoencoder", autoencoder), ("vocoder", vocoder)):
        diff = _differences(mel_config, stage.mel_config)
        if diff:
            problems.append(f"the {name}'s mel front end differs from the pipeline's ({'; '.join(diff)})")
    dcfg = denoiser.config
    if autoencoder.latent_dim != dcfg.latent_dim:
        problems.append(
            f"latent_dim: the autoencoder makes {autoencoder.latent_dim}-channel latents, the denoiser "
            f"expects {dcfg.latent_dim}"
        )
    trained_downsample = getattr(dcfg, "time_downsample", None)
    if trained_downsample is not None and trained_downsample != autoencoder.time_downsample:
        problems.append(
            f"time_downsample: the denoiser was trained on latents of {trained_downsample} mel frames "
            f"per latent frame, the autoencoder compresses by {autoencoder.time_downsample}"
        )
    scfg = scheduler.config
    for key in ("prediction_type", "num_train_timesteps", "beta_schedule", "beta_start", "beta_end"):
        if key in scfg and scfg[key] != getattr(dcfg, key):
            problems.append(
                f"scheduler {key}={scfg[key]!r} but the denoiser was trained with {getattr(dcfg, key)!r}"
            )
    return problems


__all__ = ["stage_disagreements"]
