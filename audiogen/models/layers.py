"""Building blocks shared by the models: ConvNeXt blocks, norms, time padding and resampling, embeddings.

Every block here works on sequences laid out ``(batch, channels, frames)`` and keeps ``frames``
unchanged unless its name says otherwise (:class:`Downsample1d`, :class:`Upsample1d`).

The ConvNeXt block (Liu et al., 2022, "A ConvNet for the 2020s"; 1-D as in Vocos) is one class,
:class:`ConvNeXtBlock1d`: depthwise convolution → per-frame norm over channels → pointwise MLP
(GELU) → scaled residual. Plain (affine LayerNorm, layer scale ``gamma``) in the VAE
(:mod:`audiogen.models.autoencoder`) and the vocoders' trunk (:mod:`audiogen.models.vocoder.backbone`);
conditioned with adaLN-Zero (DiT) in the latent denoiser (:mod:`audiogen.models.denoiser`), where the
norm's shift and scale and the residual gate come from the timestep and style embedding.
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
    """Residual 1-D ConvNeXt block: depthwise conv → LayerNorm → pointwise MLP (GELU) → scaled residual.

    Follows ConvNeXt (Liu et al., 2022, "A ConvNet for the 2020s") in the 1-D form used by Vocos
    (Siuzdak, 2023; ``vocos/modules.py: ConvNeXtBlock``). Shape-preserving: ``(batch, channels,
    frames)`` → ``(batch, channels, frames)`` for any ``frames >= 1`` (the depthwise conv is padded
    to "same" length); with ``channels_last`` ``(batch, frames, channels)`` → ``(batch, frames,
    channels)``, which lets a stack of blocks (the vocoders' trunk,
    :mod:`audiogen.models.vocoder.backbone`) skip the transposes between blocks since the LayerNorm
    and both linear layers work channels-last.

    Two forms of the same block, chosen by ``cond_dim``:

    * plain (``cond_dim=None``; the VAE and the vocoders): affine LayerNorm and a learned
      per-channel residual scale ``gamma`` (layer scale). Parameters ``dwconv``, ``norm``,
      ``pwconv1``, ``pwconv2``, ``gamma``.
    * conditioned (``cond_dim`` set; the latent denoiser): adaLN-Zero as in DiT (Peebles & Xie,
      2023): the LayerNorm has no parameters of its own, ``modulation`` (a linear map of the
      conditioning embedding, initialised to zero so the block starts as the identity) gives its
      shift and scale and the residual gate in ``gamma``'s place. Parameters ``dwconv``,
      ``pwconv1``, ``pwconv2``, ``modulation``. Its depthwise conv can wrap round the clip
      (``circular``, for seamless loops).

    Weights saved by the denoiser's earlier block class (``dwconv.conv.*`` and 1x1 ``nn.Conv1d``
    pointwise weights ``(out, in, 1)``, also inside LoRA adapters) load unchanged: a load hook
    renames and reshapes them (:func:`upgrade_legacy_state`).

    Args:
        channels: width of the residual stream.
        kernel_size: odd depthwise kernel size in frames.
        mlp_ratio: hidden width of the pointwise MLP as a multiple of ``channels``.
        layer_scale_init: initial value of the plain block's per-channel residual scale (small →
            near-identity blocks at initialisation, which keeps deep stacks stable).
        dilation: dilation of the depthwise conv.
        hidden_dim: hidden width of the pointwise MLP; ``None``: ``int(channels * mlp_ratio)``.
        channels_last: input and output laid out ``(batch, frames, channels)``.
        cond_dim: width of the conditioning embedding (adaLN-Zero); ``None``: the plain block.

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
        cond_dim: int | None = None,
    ) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd for 'same' padding, got {kernel_size}")
        self.channels_last = channels_last
        self.pad = dilation * (kernel_size - 1) // 2
        hidden = max(1, int(channels * mlp_ratio)) if hidden_dim is None else hidden_dim
        self.dwconv = nn.Conv1d(
            channels, channels, kernel_size, padding=self.pad, dilation=dilation, groups=channels
        )
        self.norm = nn.LayerNorm(channels, eps=1e-6, elementwise_affine=cond_dim is None)
        self.pwconv1 = nn.Linear(channels, hidden)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(hidden, channels)
        self.modulation: nn.Linear | None = None
        if cond_dim is None:
            self.gamma = nn.Parameter(torch.full((channels,), float(layer_scale_init)))
        else:
            self.register_parameter("gamma", None)
            self.modulation = nn.Linear(cond_dim, 3 * channels)
            nn.init.zeros_(self.modulation.weight)
            nn.init.zeros_(self.modulation.bias)
            self.register_load_state_dict_pre_hook(_upgrade_legacy_hook)

    def _depthwise(self, x: torch.Tensor, circular: bool) -> torch.Tensor:
        if not circular:
            return self.dwconv(x)
        conv = self.dwconv
        x = pad_time(x, self.pad, self.pad, circular=True)
        return F.conv1d(x, conv.weight, conv.bias, dilation=conv.dilation, groups=conv.groups)

    def forward(
        self, x: torch.Tensor, emb: torch.Tensor | None = None, circular: bool = False
    ) -> torch.Tensor:
        """``x (batch, channels, frames)`` → ``x + block(x)``, same shape.

        With ``channels_last``: ``x (batch, frames, channels)`` → ``x + block(x)``, same shape.
        ``emb (batch, cond_dim)`` (already activated) is required by the conditioned block and
        refused by the plain one; ``circular`` wraps the depthwise conv round the clip.

        Raises:
            ValueError: ``emb`` given to the plain block or missing for the conditioned one.
        """
        if (emb is None) != (self.modulation is None):
            raise ValueError("the conditioned ConvNeXt block needs emb; the plain one takes none")
        if self.channels_last:
            h = rearrange(self._depthwise(rearrange(x, "b t c -> b c t"), circular), "b c t -> b t c")
        else:
            h = rearrange(self._depthwise(x, circular), "b c t -> b t c")
        h = self.norm(h)
        if self.modulation is None:
            h = self.pwconv2(self.act(self.pwconv1(h)))
            if self.channels_last:
                return torch.addcmul(x, h, self.gamma)
            return x + rearrange(h * self.gamma, "b t c -> b c t")
        shift, scale, gate = rearrange(self.modulation(emb), "b (n c) -> n b 1 c", n=3)
        h = gate * self.pwconv2(self.act(self.pwconv1(torch.addcmul(shift, h, 1 + scale))))
        return x + h if self.channels_last else x + rearrange(h, "b t c -> b c t")


def _upgrade_legacy_keys(state: dict[str, torch.Tensor], prefix: str) -> None:
    """In place: one conditioned block's legacy keys and shapes (under ``prefix``) → the current ones."""
    for name in ("weight", "bias"):
        old = f"{prefix}dwconv.conv.{name}"
        if old in state:
            state[f"{prefix}dwconv.{name}"] = state.pop(old)
    pointwise = (f"{prefix}pwconv1.", f"{prefix}pwconv2.")
    for key in [k for k in state if k.startswith(pointwise)]:
        tensor = state[key]
        if tensor.ndim == 3 and tensor.shape[-1] == 1:
            state[key] = tensor[..., 0]


def _upgrade_legacy_hook(module: nn.Module, state: dict, prefix: str, *args: object) -> None:
    _upgrade_legacy_keys(state, prefix)


def conditioned_blocks(model: nn.Module) -> list[str]:
    """Name prefixes (``"down_levels.0.blocks.0."``) of the conditioned ConvNeXt blocks inside ``model``."""
    return [
        f"{name}." if name else ""
        for name, module in model.named_modules()
        if isinstance(module, ConvNeXtBlock1d) and module.modulation is not None
    ]


def upgrade_legacy_state(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` (a state dict of ``model``) with legacy conditioned-block keys renamed and reshaped.

    The denoiser's ConvNeXt blocks were once saved as ``dwconv.conv.*`` with 1x1-convolution
    pointwise weights ``(out, in, 1)``; ``load_state_dict`` converts those itself (a load hook of
    :class:`ConvNeXtBlock1d`). This is for state used outside ``load_state_dict``: a weights file's
    header checked against the model, tensors cast before ``assign=True`` loading, EMA shadows.
    Only the keys of conditioned blocks change; values are reshaped views, not copies. Returns a new
    dict; ``state`` is not changed.
    """
    state = dict(state)
    for prefix in conditioned_blocks(model):
        _upgrade_legacy_keys(state, prefix)
    return state


def legacy_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model.state_dict()`` in the legacy layout of the conditioned blocks (inverse of the upgrade).

    Used to recognise LoRA adapters whose sidecar records the SHA-256 of a base denoiser saved in
    that layout (:func:`audiogen.models.lora.weights_sha256`).
    """
    state = dict(model.state_dict())
    for prefix in conditioned_blocks(model):
        for name in ("weight", "bias"):
            key = f"{prefix}dwconv.{name}"
            if key in state:
                state[f"{prefix}dwconv.conv.{name}"] = state.pop(key)
        for layer in ("pwconv1", "pwconv2"):
            key = f"{prefix}{layer}.weight"
            if key in state and state[key].ndim == 2:
                state[key] = state[key][..., None]
    return state


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
