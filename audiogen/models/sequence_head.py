"""The per-step continuous head of the latent sequence model: a small rectified-flow MLP.

Latent frames are continuous, so the sequence model (:mod:`audiogen.models.sequence`) does not end
in a softmax: each backbone step gives a conditioning vector, and this head turns it into a sample
of the next latent frames with a few Euler steps of a rectified flow (Liu et al., 2023, "Flow
Straight and Fast"), the per-token diffusion head of MAR (Li et al., 2024, "Autoregressive Image
Generation without Vector Quantization", ``models/diffloss.py``: residual MLP blocks with adaptive
layer norm) and of "Continuous Autoregressive Models" (Pasini et al., 2024).

Flow convention: ``x_t = (1 - t) * noise + t * x`` for ``t`` in ``[0, 1]``, velocity
``v = x - noise``; sampling integrates ``dx/dt = v`` from pure noise at ``t = 0`` to ``t = 1``.
Training times are logit-normal (Esser et al., 2024), which weights the middle of the path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from audiogen.models.layers import modulate, timestep_embedding


class _ResBlock(nn.Module):
    """LayerNorm → adaLN shift/scale → MLP, added back through a zero-initialised gate."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.modulation = nn.Linear(width, 3 * width)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale, gate = self.modulation(F.silu(c)).chunk(3, dim=-1)
        return h + gate * self.mlp(modulate(self.norm(h), shift, scale))


class FlowHead(nn.Module):
    """Velocity ``v(x_t, t | cond)`` of one token: ``(N, token_dim)`` from ``(N, cond_dim)``.

    Args:
        token_dim: size of one token (``latent_dim * frames_per_step``).
        cond_dim: size of the backbone's conditioning vector.
        width: hidden width of the MLP.
        layers: residual blocks.
    """

    def __init__(self, token_dim: int, cond_dim: int, width: int, layers: int) -> None:
        super().__init__()
        self.width = width
        self.input = nn.Linear(token_dim, width)
        self.cond = nn.Linear(cond_dim, width)
        self.time = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.blocks = nn.ModuleList(_ResBlock(width) for _ in range(layers))
        self.out_norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.out_modulation = nn.Linear(width, 2 * width)
        self.out = nn.Linear(width, token_dim)
        for layer in (self.out_modulation, self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Velocity ``(N, token_dim)`` at ``x_t``, time ``t (N,)`` in [0, 1], given ``cond (N, cond_dim)``."""
        c = self.cond(cond) + self.time(timestep_embedding(t * 1000.0, self.width))
        h = self.input(x_t)
        for block in self.blocks:
            h = block(h, c)
        shift, scale = self.out_modulation(F.silu(c)).chunk(2, dim=-1)
        return self.out(modulate(self.out_norm(h), shift, scale))

    def loss(self, x: torch.Tensor, cond: torch.Tensor, repeats: int = 1) -> torch.Tensor:
        """Rectified-flow MSE of tokens ``x (N, token_dim)`` given ``cond (N, cond_dim)``.

        Each token is trained at ``repeats`` independent times and noises (MAR's
        ``diffusion_batch_mul``: the head is cheap next to the backbone that made ``cond``).
        """
        x = x.repeat(repeats, 1)
        cond = cond.repeat(repeats, 1)
        t = torch.sigmoid(torch.randn(x.shape[0], device=x.device))
        noise = torch.randn_like(x)
        x_t = (1 - t[:, None]) * noise + t[:, None] * x
        return F.mse_loss(self(x_t, t, cond).float(), (x - noise).float())

    @torch.no_grad()
    def sample(
        self,
        cond: torch.Tensor,
        steps: int,
        noise: torch.Tensor,
        uncond: torch.Tensor | None = None,
        cfg_scale: float = 1.0,
    ) -> torch.Tensor:
        """Tokens ``(N, token_dim)`` by ``steps`` Euler steps from ``noise (N, token_dim)``.

        With ``uncond`` (the conditioning without a style) and ``cfg_scale != 1`` the velocity is
        guided: ``v_u + cfg_scale * (v_c - v_u)`` (classifier-free guidance, Ho & Salimans, 2022).
        """
        x = noise
        n = x.shape[0]
        guided = uncond is not None and cfg_scale != 1.0
        both = torch.cat([cond, uncond]) if guided else cond  # type: ignore[list-item]
        for i in range(steps):
            t = torch.full((n,), i / steps, device=x.device)
            if guided:
                v_c, v_u = self(torch.cat([x, x]), torch.cat([t, t]), both).chunk(2)
                v = v_u + cfg_scale * (v_c - v_u)
            else:
                v = self(x, t, both)
            x = x + v / steps
        return x
