"""The ConvNeXt-1D trunk both vocoders share, as Vocos' ``VocosBackbone`` (``vocos/models.py``).

Conv embedding → LayerNorm → ``num_layers`` :class:`~audiogen.models.layers.ConvNeXtBlock1d`
(channels-last) → LayerNorm, all at the mel frame rate (Siuzdenko 2023, "Vocos: Closing the gap
between time-domain and Fourier-based neural vocoders", https://arxiv.org/abs/2306.00814; ConvNeXt:
Liu et al. 2022, "A ConvNet for the 2020s"). :class:`VocosVocoder
<audiogen.models.vocoder.vocos.VocosVocoder>` puts an iSTFT head on it,
:class:`GLRefineVocoder <audiogen.models.vocoder.gl_refine.GLRefineVocoder>` a complex-gain head.

The trunk is a mixin rather than a submodule so that its parameters keep the names the vocoders
have always saved (``embed``, ``norm``, ``blocks.{i}``, ``final_norm`` at the top level of the
state dict).
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from audiogen.models.layers import ConvNeXtBlock1d


def init_weights(module: nn.Module) -> None:
    """Vocos' initialisation: truncated normal (std 0.02) weights, zero biases."""
    if isinstance(module, nn.Conv1d | nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class ConvNeXtBackbone(nn.Module):
    """Mixin: builds the trunk on the model itself (:meth:`build_backbone`) and runs it (:meth:`backbone`).

    Shapes: ``x`` ``(batch, in_channels, frames)`` → features ``(batch, frames, dim)`` (channels-last,
    ready for a per-frame linear head). Every layer keeps ``frames``; the receptive field is
    ``(kernel_size // 2) * (num_layers + 1)`` frames each side.
    """

    def build_backbone(
        self,
        in_channels: int,
        dim: int,
        intermediate_dim: int,
        num_layers: int,
        kernel_size: int,
        layer_scale_init: float | None,
    ) -> None:
        """Create ``embed``, ``norm``, ``blocks`` and ``final_norm`` on this module.

        Args:
            in_channels: input channels per frame.
            dim: ConvNeXt channel width.
            intermediate_dim: hidden width of each block's pointwise MLP.
            num_layers: ConvNeXt blocks.
            kernel_size: odd depthwise kernel (frames) of each block and of the input embedding.
            layer_scale_init: initial per-channel residual scale; ``None`` means ``1 / num_layers``
                as in Vocos.
        """
        scale = layer_scale_init if layer_scale_init is not None else 1.0 / num_layers
        self.embed = nn.Conv1d(in_channels, dim, kernel_size, padding=kernel_size // 2)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock1d(
                dim, kernel_size, layer_scale_init=scale, hidden_dim=intermediate_dim, channels_last=True
            )
            for _ in range(num_layers)
        )
        self.final_norm = nn.LayerNorm(dim, eps=1e-6)

    def backbone(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, in_channels, frames)`` → ``(batch, frames, dim)``."""
        x = self.norm(rearrange(self.embed(x), "b c t -> b t c"))
        for block in self.blocks:
            x = block(x)
        return self.final_norm(x)
