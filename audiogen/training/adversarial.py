"""Pieces of adversarial training shared by the GAN stages (vocoder, mel VAE decoder).

* :func:`frozen` — a discriminator with ``requires_grad`` off for the generator's forward, so the
  generator's backward writes no gradient into it (gradients still reach its input).
* :func:`optimizer_steps` — how many updates an optimizer has made (from its state, so it survives
  ``--resume``): the clock of a discriminator start step.
* :func:`adaptive_weight` — the latent-diffusion autoencoder's balance between a reconstruction loss
  and the adversarial loss (Esser et al. 2021, "Taming Transformers", ``calculate_adaptive_weight``;
  Rombach et al. 2022, ``LPIPSWithDiscriminator``): the ratio of their gradient norms at the
  generator's last layer, so the adversarial term never swamps the reconstruction, whatever the
  scale of either loss.
* :class:`AdversarialConfig` — the ``adversarial`` section of an autoencoder recipe.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn


@contextlib.contextmanager
def frozen(discriminator: nn.Module, accelerator: Any = None) -> Iterator[nn.Module]:
    """Yield the unwrapped ``discriminator`` with ``requires_grad`` off, restored afterwards.

    Calls made inside record no graph edges to its parameters; the plain module is used so that no
    DDP reducer waits for gradients it will not get.
    """
    disc = accelerator.unwrap_model(discriminator) if accelerator is not None else discriminator
    flags = [(p, p.requires_grad) for p in disc.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield disc
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def optimizer_steps(optimizer: torch.optim.Optimizer | None) -> int:
    """Updates ``optimizer`` has made so far (AdamW's per-parameter ``step``; 0 before the first)."""
    if optimizer is None:
        return 0
    for group in optimizer.param_groups:
        for p in group["params"]:
            step = optimizer.state.get(p, {}).get("step")
            if step is not None:
                return int(step)
    return 0


def zero_loss(module: nn.Module) -> torch.Tensor:
    """A zero tied to ``module``'s trainable parameters: a no-op update for a phase that is not on yet."""
    params = [p for p in module.parameters() if p.requires_grad]
    return torch.stack([p.sum() for p in params]).sum() * 0.0


def adaptive_weight(
    reconstruction: torch.Tensor,
    adversarial: torch.Tensor,
    last_layer: torch.Tensor,
    max_weight: float = 1.0e4,
    eps: float = 1.0e-4,
) -> torch.Tensor:
    """``||∇ reconstruction|| / (||∇ adversarial|| + eps)`` at ``last_layer``, clamped to ``[0, max_weight]``.

    Args:
        reconstruction: the (weighted) reconstruction loss, a scalar with a graph to ``last_layer``.
        adversarial: the generator's adversarial loss, a scalar with a graph to ``last_layer``.
        last_layer: the weight of the generator's output layer.
        max_weight: upper clamp (taming-transformers: 1e4).
        eps: keeps the ratio finite when the adversarial gradient vanishes.

    Returns:
        A detached float32 scalar; multiply the adversarial loss by it (and by its recipe weight).
    """
    g_rec = torch.autograd.grad(reconstruction, last_layer, retain_graph=True)[0]
    g_adv = torch.autograd.grad(adversarial, last_layer, retain_graph=True)[0]
    weight = g_rec.float().norm() / (g_adv.float().norm() + eps)
    return weight.clamp(0.0, max_weight).detach()


@dataclass(frozen=True)
class AdversarialConfig:
    """The ``adversarial`` section of an autoencoder recipe (absent: no GAN phase).

    Attributes:
        discriminator: :class:`~audiogen.models.discriminators.MelDiscriminatorConfig` fields
            (``mel_mean`` / ``mel_std`` default to the VAE's).
        loss_type: ``"hinge"`` (LDM, Vocos) or ``"lsgan"``.
        disc_start_step: generator updates before the discriminator starts training (LDM's
            ``disc_start``).
        adv_start_step: generator updates before ``adv_gen`` and ``feature_matching`` reach the
            decoder (``None``: ``disc_start_step``); a later start lets the discriminator learn
            first, so a decoder that is already trained is not pushed around by an untrained judge.
        adaptive_weight: scale ``adv_gen`` by the gradient-norm ratio at the decoder's last layer.
        max_adaptive_weight: clamp of that ratio.
        disc_lr_scale: the discriminator's learning rate is ``train.lr`` times this (two time-scale
            update rule, Heusel et al. 2017: a faster discriminator).
    """

    discriminator: dict[str, Any] = field(default_factory=dict)
    loss_type: Literal["hinge", "lsgan"] = "hinge"
    disc_start_step: int = 0
    adv_start_step: int | None = None
    adaptive_weight: bool = True
    max_adaptive_weight: float = 1.0e4
    disc_lr_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.loss_type not in ("hinge", "lsgan"):
            raise ValueError(f"adversarial.loss_type must be 'hinge' or 'lsgan', got {self.loss_type!r}")
        if self.disc_start_step < 0:
            raise ValueError(f"adversarial.disc_start_step must be >= 0, got {self.disc_start_step}")
        if self.adv_start_step is not None and self.adv_start_step < self.disc_start_step:
            raise ValueError(
                f"adversarial.adv_start_step ({self.adv_start_step}) must be >= disc_start_step "
                f"({self.disc_start_step})"
            )
        if not 0 < self.disc_lr_scale <= 100:
            raise ValueError(f"adversarial.disc_lr_scale must be in (0, 100], got {self.disc_lr_scale}")
        if not self.max_adaptive_weight > 0:
            raise ValueError(
                f"adversarial.max_adaptive_weight must be positive, got {self.max_adaptive_weight}"
            )
