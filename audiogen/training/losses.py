"""Training losses, each returning a scalar tensor; tasks return them in a dict of named losses.

The names a task gives these (e.g. ``mel_l1``, ``kl``) are the keys of the recipe's
``loss_weights`` section and of the logged scalars (the DAC convention: one name, one weight, one
curve). Every loss is computed in float32 even under autocast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from audiogen.models.autoencoder import DiagonalGaussian


def mel_l1_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error between log-mels ``(batch, n_mels, frames)``, in nats of log amplitude.

    Multiply by :data:`~audiogen.audio.levels.DB_PER_NEPER` for dB.

    Raises:
        ValueError: if the shapes differ.
    """
    _same_shape(prediction, target)
    return F.l1_loss(prediction.float(), target.float())


def mel_l2_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error between log-mels ``(batch, n_mels, frames)``, in nats².

    Raises:
        ValueError: if the shapes differ.
    """
    _same_shape(prediction, target)
    return F.mse_loss(prediction.float(), target.float())


def kl_loss(posterior: DiagonalGaussian) -> torch.Tensor:
    """KL divergence of the posterior to N(0, I), nats per latent element, averaged over the batch."""
    return posterior.kl().mean()


def _same_shape(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"prediction {tuple(a.shape)} and target {tuple(b.shape)} differ in shape")
