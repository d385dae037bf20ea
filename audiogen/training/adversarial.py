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
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

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
