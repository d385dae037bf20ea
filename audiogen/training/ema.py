"""Exponential moving average of model weights, used by the trainer for the task's ``ema_models``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


class EMA:
    """Exponential moving average of a module's trainable parameters (Polyak averaging).

    ``shadow ← d * shadow + (1 - d) * param`` after every optimizer step with
    ``d = min(decay, (1 + n) / (10 + n))`` — the warm-up of diffusers' ``EMAModel``. Own class
    instead of diffusers' because importing ``diffusers.training_utils`` costs seconds per process.

    Args:
        module: the (unwrapped) module whose parameters are tracked.
        decay: the final decay.
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.decay = decay
        self.num_updates = 0
        self.shadow = {n: p.detach().clone() for n, p in module.named_parameters() if p.requires_grad}

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """Move the shadow toward the module's current parameters."""
        self.num_updates += 1
        d = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        params = dict(module.named_parameters())
        torch._foreach_lerp_(list(self.shadow.values()), [params[n].detach() for n in self.shadow], 1.0 - d)

    @contextlib.contextmanager
    def applied_to(self, module: nn.Module) -> Iterator[None]:
        """Swap the EMA weights into ``module`` for the block, then put the training weights back."""
        params = dict(module.named_parameters())
        backup = {n: params[n].detach().clone() for n in self.shadow}
        with torch.no_grad():
            for n, s in self.shadow.items():
                params[n].copy_(s)
        try:
            yield
        finally:
            with torch.no_grad():
                for n, b in backup.items():
                    params[n].copy_(b)

    def export(self, module: nn.Module) -> dict[str, torch.Tensor]:
        """``module.state_dict()`` with the tracked parameters replaced by their EMA."""
        return {k: self.shadow.get(k, v) for k, v in module.state_dict().items()}

    def load(self, state: dict[str, torch.Tensor], num_updates: int) -> None:
        """Restore the shadow from an exported state dict (see :meth:`export`)."""
        with torch.no_grad():
            for n, s in self.shadow.items():
                s.copy_(state[n])
        self.num_updates = num_updates
