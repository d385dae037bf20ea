"""Building blocks shared by the models: ConvNeXt blocks, norms, time padding and resampling, embeddings.

Every block here works on sequences laid out ``(batch, channels, frames)`` and keeps ``frames``
unchanged unless its name says otherwise (:class:`Downsample1d`, :class:`Upsample1d`).

The ConvNeXt block (Liu et al., 2022, "A ConvNet for the 2020s"; 1-D as in Vocos) is one design
in two classes: depthwise convolution → per-frame norm over channels → pointwise MLP (GELU) →
scaled residual.

* :class:`ConvNeXtBlock1d`, the plain block: affine LayerNorm, a learned per-channel residual
  scale ``gamma``, ``nn.Linear`` pointwise layers (so stacks can run channels-last). Used by the
  VAE (:mod:`audiogen.models.autoencoder`) and the vocoders' trunk
  (:mod:`audiogen.models.vocoder.backbone`).
* :class:`AdaConvNeXtBlock`, the same block conditioned with adaLN-Zero (DiT): the norm has no
  parameters of its own, a linear map of the timestep and style embedding (``modulation``) gives
  its shift and scale and the residual gate that takes ``gamma``'s place, and the depthwise
  convolution pads with zeros or wraps round as each call asks (:class:`TimeConv1d`, for seamless
  loops). Used by the latent denoiser (:mod:`audiogen.models.denoiser`).

They stay two classes because their parameters differ in name and shape, and trained weights are
stored under those names: the conditioned block holds ``dwconv.conv.*``, ``pwconv1`` /
``pwconv2`` as 1x1 ``nn.Conv1d`` (weights ``(out, in, 1)``) and ``modulation.*``; the plain block
``dwconv.*``, ``norm.*``, ``pwconv1`` / ``pwconv2`` as ``nn.Linear`` (weights ``(out, in)``) and
``gamma``. One class for both would have to convert state dicts on load (the bundled
``assets/default/denoiser/model.safetensors``, every checkpoint, and the LoRA adapters, whose peft
layers wrap these modules by name), and a 1x1 convolution and a linear layer round differently,
so the bundled model would no longer generate bit for bit as it does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

# ------------------------------------------------------------------------------------------------
# norms and padding in time
# ------------------------------------------------------------------------------------------------


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


def channel_norm(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-frame normalisation over channels (LayerNorm without affine) of ``(batch, channels, frames)``.

    Per frame, so a frame's value does not depend on the clip length (unlike GroupNorm).
    """
    mean = x.mean(dim=1, keepdim=True)
    var = (x - mean).square().mean(dim=1, keepdim=True)
    return (x - mean) * torch.rsqrt(var + eps)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN: ``norm(x) * (1 + scale) + shift`` with ``shift``/``scale`` ``(batch, channels, 1)``."""
    return channel_norm(x) * (1 + scale) + shift


def pad_time(x: torch.Tensor, left: int, right: int, circular: bool) -> torch.Tensor:
    """Pad ``x (batch, channels, frames)`` in time: by wrapping around (``circular``) or with zeros.

    Circular padding works for any pad size (wrapping several times round a short clip).
    Returns ``(batch, channels, left + frames + right)``.
    """
    if left == 0 and right == 0:
        return x
    if not circular:
        return F.pad(x, (left, right))
    frames = x.shape[-1]
    if left <= frames and right <= frames:
        return F.pad(x, (left, right), mode="circular")
    index = torch.arange(-left, frames + right, device=x.device) % frames
    return x.index_select(-1, index)


class TimeConv1d(nn.Module):
    """'Same'-length 1-D convolution whose padding (zeros or wrap-around) is chosen per call.

    ``(batch, in_channels, frames)`` → ``(batch, out_channels, frames)``.

    Raises:
        ValueError: if ``kernel_size`` is even.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, groups: int = 1) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.pad = (kernel_size - 1) // 2
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, groups=groups)

    def forward(self, x: torch.Tensor, circular: bool = False) -> torch.Tensor:
        """Convolve ``x (batch, in_channels, frames)``; ``circular`` wraps the clip around."""
        return self.conv(pad_time(x, self.pad, self.pad, circular))


# ------------------------------------------------------------------------------------------------
# ConvNeXt blocks
# ------------------------------------------------------------------------------------------------


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


class AdaConvNeXtBlock(nn.Module):
    """:class:`ConvNeXtBlock1d` with adaLN-Zero conditioning, ``(batch, channels, frames)`` → same shape.

    ``h = dwconv(x)``; ``h = norm(h) * (1 + scale) + shift``; ``h = pw2(gelu(pw1(h)))``;
    ``x + gate * h``, with ``(shift, scale, gate)`` a linear map of the conditioning embedding,
    initialised to zero so every block starts as the identity (DiT's adaLN-Zero).

    Why this is a class of its own and not an option of :class:`ConvNeXtBlock1d`: see the module
    docstring (the parameter names and shapes of the trained weights).
    """

    def __init__(self, channels: int, embed_dim: int, kernel_size: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden = max(1, int(channels * mlp_ratio))
        self.dwconv = TimeConv1d(channels, channels, kernel_size, groups=channels)
        self.pwconv1 = nn.Conv1d(channels, hidden, 1)
        self.pwconv2 = nn.Conv1d(hidden, channels, 1)
        self.modulation = nn.Linear(embed_dim, 3 * channels)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor, circular: bool = False) -> torch.Tensor:
        """``x (batch, channels, frames)``, ``emb (batch, embed_dim)`` (already SiLU-activated)."""
        shift, scale, gate = rearrange(self.modulation(emb), "b (n c) -> n b c 1", n=3)
        h = modulate(self.dwconv(x, circular), shift, scale)
        return x + gate * self.pwconv2(F.gelu(self.pwconv1(h)))


# ------------------------------------------------------------------------------------------------
# attention
# ------------------------------------------------------------------------------------------------


class AdaSelfAttention(nn.Module):
    """Multi-head self-attention over frames with adaLN-Zero conditioning (no positional encoding).

    ``(batch, channels, frames)`` → same shape. Equivariant to any permutation of the frames, so
    it keeps the circular-shift equivariance of the convolutions.
    """

    def __init__(self, channels: int, embed_dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj = nn.Conv1d(channels, channels, 1)
        self.modulation = nn.Linear(embed_dim, 3 * channels)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """``x (batch, channels, frames)``, ``emb (batch, embed_dim)`` (already SiLU-activated)."""
        shift, scale, gate = rearrange(self.modulation(emb), "b (n c) -> n b c 1", n=3)
        qkv = self.qkv(modulate(x, shift, scale))
        q, k, v = rearrange(qkv, "b (n h d) t -> n b h t d", n=3, h=self.heads)
        out = rearrange(F.scaled_dot_product_attention(q, k, v), "b h t d -> b (h d) t")
        return x + gate * self.proj(out)


# ------------------------------------------------------------------------------------------------
# time resampling
# ------------------------------------------------------------------------------------------------


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


# ------------------------------------------------------------------------------------------------
# embeddings
# ------------------------------------------------------------------------------------------------


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding ``(batch, dim)`` of (possibly fractional) timesteps ``(batch,)``.

    ``[cos(t * f_i), sin(t * f_i)]`` with ``f_i = max_period ** (-i / (dim // 2))``, as
    ``timestep_embedding`` in ``guided_diffusion/nn.py`` (Dhariwal & Nichol, 2021); an odd ``dim``
    gets a zero last column.
    """
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=timesteps.device) / half
    )
    args = timesteps.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))
