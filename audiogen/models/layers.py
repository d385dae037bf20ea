"""Building blocks shared by the models: 1-D ConvNeXt blocks, channel LayerNorm, time resampling.

Every block here works on sequences laid out ``(batch, channels, frames)`` and keeps ``frames``
unchanged unless its name says otherwise (:class:`Downsample1d`, :class:`Upsample1d`).
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis of a ``(batch, channels, frames)`` tensor.

    Args:
        channels: size of the channel axis.
        eps: added to the variance.
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (batch, channels, frames)`` → same shape, normalised per frame across channels."""
        return rearrange(self.norm(rearrange(x, "b c t -> b t c")), "b t c -> b c t")


class ConvNeXtBlock1d(nn.Module):
    """Residual 1-D ConvNeXt block: depthwise conv → LayerNorm → pointwise MLP (GELU) → layer scale.

    Follows ConvNeXt (Liu et al., 2022, "A ConvNet for the 2020s") in the 1-D form used by Vocos
    (Siuzdak, 2023; ``vocos/modules.py: ConvNeXtBlock``, without its AdaLayerNorm conditioning).
    Shape-preserving: ``(batch, channels, frames)`` → ``(batch, channels, frames)`` for any
    ``frames >= 1`` (the depthwise conv is zero-padded, "same" length); with ``channels_last``
    ``(batch, frames, channels)`` → ``(batch, frames, channels)``, which lets a stack of blocks (the
    vocoders' trunk, :mod:`audiogen.models.vocoder.backbone`) skip the transposes between blocks
    since the LayerNorm and both linear layers work channels-last. The parameters (``dwconv``,
    ``norm``, ``pwconv1``, ``pwconv2``, ``gamma``) are the same in both layouts.

    Args:
        channels: width of the residual stream.
        kernel_size: odd depthwise kernel size in frames.
        mlp_ratio: hidden width of the pointwise MLP as a multiple of ``channels``.
        layer_scale_init: initial value of the per-channel residual scale (small → near-identity
            blocks at initialisation, which keeps deep stacks stable).
        dilation: dilation of the depthwise conv.
        hidden_dim: hidden width of the pointwise MLP; ``None``: ``int(channels * mlp_ratio)``.
        channels_last: input and output laid out ``(batch, frames, channels)``.

    Raises:
        ValueError: if ``kernel_size`` is even.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int = 7,
        mlp_ratio: float = 4.0,
        layer_scale_init: float = 1e-2,
        dilation: int = 1,
        hidden_dim: int | None = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd for 'same' padding, got {kernel_size}")
        self.channels_last = channels_last
        hidden = int(channels * mlp_ratio) if hidden_dim is None else hidden_dim
        self.dwconv = nn.Conv1d(
            channels,
            channels,
            kernel_size,
            padding=dilation * (kernel_size - 1) // 2,
            dilation=dilation,
            groups=channels,
        )
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.pwconv1 = nn.Linear(channels, hidden)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(hidden, channels)
        self.gamma = nn.Parameter(torch.full((channels,), float(layer_scale_init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (batch, channels, frames)`` → ``x + block(x)``, same shape.

        With ``channels_last``: ``x (batch, frames, channels)`` → ``x + block(x)``, same shape.
        """
        if self.channels_last:
            h = rearrange(self.dwconv(rearrange(x, "b t c -> b c t")), "b c t -> b t c")
            h = self.pwconv2(self.act(self.pwconv1(self.norm(h))))
            return torch.addcmul(x, h, self.gamma)
        h = rearrange(self.dwconv(x), "b c t -> b t c")
        h = self.pwconv2(self.act(self.pwconv1(self.norm(h))))
        return x + rearrange(h * self.gamma, "b t c -> b c t")


class Downsample1d(nn.Module):
    """Strided convolution that divides the frame count by ``factor`` (kernel = stride = ``factor``).

    ``(batch, in_channels, frames)`` → ``(batch, out_channels, frames // factor)``; callers pad
    ``frames`` to a multiple of ``factor`` first (non-overlapping patches, as ConvNeXt's
    downsampling layers). Preceded by a channel LayerNorm.
    """

    def __init__(self, in_channels: int, out_channels: int, factor: int) -> None:
        super().__init__()
        self.norm = ChannelLayerNorm(in_channels)
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size=factor, stride=factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (batch, in_channels, frames)`` → ``(batch, out_channels, frames // factor)``."""
        return self.conv(self.norm(x))


class Upsample1d(nn.Module):
    """Nearest-neighbour repetition by ``factor`` followed by a convolution (kernel ``2 * factor + 1``).

    ``(batch, in_channels, frames)`` → ``(batch, out_channels, frames * factor)``, the inverse
    layout of :class:`Downsample1d`. Repeat-then-convolve instead of a transposed convolution with
    kernel = stride avoids its periodic "checkerboard" pattern (Odena et al., 2016, "Deconvolution
    and Checkerboard Artifacts"). Preceded by a channel LayerNorm.
    """

    def __init__(self, in_channels: int, out_channels: int, factor: int) -> None:
        super().__init__()
        self.factor = factor
        self.norm = ChannelLayerNorm(in_channels)
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size=2 * factor + 1, padding=factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (batch, in_channels, frames)`` → ``(batch, out_channels, frames * factor)``."""
        return self.conv(torch.repeat_interleave(self.norm(x), self.factor, dim=-1))


def factorize(n: int) -> list[int]:
    """Prime factors of ``n`` in ascending order (``[]`` for 1), e.g. ``8 → [2, 2, 2]``, ``6 → [2, 3]``.

    Raises:
        ValueError: if ``n < 1``.
    """
    if n < 1:
        raise ValueError(f"need a positive integer, got {n}")
    factors, p = [], 2
    while n > 1:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    return factors
