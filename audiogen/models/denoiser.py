"""The latent denoiser: a 1-D U-Net over latents ``(batch, latent_dim, latent_frames)``.

The denoiser (:class:`LatentDenoiser`) is a small 1-D U-Net over time built from ConvNeXt blocks
(Liu et al., 2022) conditioned with adaptive layer norm and zero-initialised residual gates
("adaLN-Zero", Peebles & Xie, 2023, "Scalable Diffusion Models with Transformers", ``DiT/models.py``)
on the sum of a sinusoidal timestep embedding + MLP (Ho et al., 2020; ``timestep_embedding`` of
``guided_diffusion/nn.py``) and a learned style-label embedding. Label index ``num_classes`` is the
"null" label of classifier-free guidance (Ho & Salimans, 2022), used for unconditional predictions.
Self-attention (no positional encoding: the convolutions give position) runs at the lowest
resolution for clip-wide context.

Lengths: the network is fully convolutional; each U-Net level halves time, so internally it needs
``latent_frames`` to be a multiple of :attr:`LatentDenoiser.length_multiple`
(``2 ** (len(channel_mults) - 1)``). Other lengths are padded at the end (edge values repeated)
and the output cropped back.

Circular mode (``forward(..., circular=True)``): every convolution pads by wrapping around the
clip instead of with zeros, so the first frame sees the last one as its left neighbour. The network
is then exactly equivariant to circular shifts by multiples of ``length_multiple``
(``denoiser(roll(x, s)) == roll(denoiser(x), s)``), which is what seamless loops need: the
generated latent has no start or end. A circle of ``latent_frames`` frames cannot be halved
exactly when ``latent_frames`` is not a multiple of ``length_multiple``, so circular mode raises
for such lengths instead of padding (padding would break the wrap-around at the seam); choose loop
lengths that are multiples (``length_multiple`` latent frames are e.g. 4 x 46 ms at 22050 Hz, hop
256, ``time_downsample`` 4).

The blocks (:class:`~audiogen.models.layers.ConvNeXtBlock1d` with ``cond_dim``, the same ConvNeXt
block as the VAE's and the vocoders', conditioned with adaLN-Zero;
:class:`~audiogen.models.layers.AdaSelfAttention`, :class:`~audiogen.models.layers.TimeConv1d`,
:func:`~audiogen.models.layers.timestep_embedding`) are :mod:`audiogen.models.layers`. This module
is the network only. Its noise schedule and samplers (diffusers schedulers) are
:mod:`audiogen.samplers.factory`;
the reverse-process loop that runs them is :mod:`audiogen.pipelines.denoise`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from audiogen.models.layers import (
    AdaSelfAttention,
    ConvNeXtBlock1d,
    TimeConv1d,
    modulate,
    timestep_embedding,
)
from audiogen.models.pretrained import PretrainedMixin

PREDICTION_TYPES = ("epsilon", "v_prediction", "flow_prediction")
#: How training draws a flow model's times (``flow_time_sampling``).
FLOW_TIME_SAMPLINGS = ("logit_normal", "uniform")


@dataclass(frozen=True)
class DiffusionConfig:
    """Architecture of :class:`LatentDenoiser` and the noise process it is trained for.

    Attributes:
        latent_dim: channels of the latent (the autoencoder's ``latent_dim``).
        channels: width of the first U-Net level.
        channel_mults: width multiplier per level; each level after the first halves the frame
            count (``length_multiple = 2 ** (len(channel_mults) - 1)``).
        blocks_per_level: ConvNeXt blocks per level on the way down and on the way up.
        kernel_size: odd depthwise kernel size in frames.
        mlp_ratio: hidden width of the blocks' pointwise MLP as a multiple of the level width.
        attention_layers: self-attention layers at the lowest resolution (0: none).
        attention_heads: heads of those layers (must divide the lowest level's width).
        num_classes: style labels (0: unconditional). Label index ``num_classes`` is the null label.
        class_labels: the label names, index = class (``None``: unnamed); length ``num_classes``.
        prediction_type: what the network predicts and the noise process it is trained for: the
            noise (``"epsilon"``) or the velocity ``v = alpha_t * noise - sigma_t * latent``
            (``"v_prediction"``, Salimans & Ho, 2022) of the DDPM schedule below, or the
            rectified-flow velocity ``v = noise - latent`` (``"flow_prediction"``:
            ``x_t = (1 - t) * latent + t * noise``, ``t`` in [0, 1], the network given
            ``t * num_train_timesteps``; Liu et al., 2023, "Flow Straight and Fast"; Esser et al.,
            2024, "Scaling Rectified Flow Transformers for High-Resolution Image Synthesis";
            diffusers' ``FlowMatchEulerDiscreteScheduler``). The beta fields and
            ``rescale_betas_zero_snr`` do not apply to a flow model (it reaches pure noise at
            ``t = 1``), the ``flow_*`` fields only to one.
        num_train_timesteps: discrete timesteps of the training noise schedule (for a flow model:
            the scale of the network's time input, ``t * num_train_timesteps``).
        beta_schedule: diffusers beta schedule (``"scaled_linear"``, ``"linear"``,
            ``"squaredcos_cap_v2"``).
        beta_start: first beta of the (scaled) linear schedules.
        beta_end: last beta of the (scaled) linear schedules.
        rescale_betas_zero_snr: rescale the schedule so the last timestep is pure noise (zero
            terminal SNR, Lin et al., 2024, "Common Diffusion Noise Schedules and Sample Steps are
            Flawed"; diffusers' ``rescale_betas_zero_snr``). Without it the last training timestep
            keeps ~7 % of the signal, which a model learns to rely on, so sampling from pure noise
            drifts towards the training mean (e.g. it cannot start a clip in silence). Needs
            ``prediction_type="v_prediction"``.
        flow_time_sampling: how training draws a flow model's times ``t``: ``"logit_normal"``
            (``t = sigmoid(n)``, ``n ~ N(flow_logit_mean, flow_logit_std²)``, which weights the
            middle of the path; Esser et al., 2024, section 3.1, whose default (0, 1) this is) or
            ``"uniform"`` (``t ~ U(0, 1)``, as Liu et al., 2023).
        flow_logit_mean: mean of the logit-normal time distribution (> 0 leans towards noise).
        flow_logit_std: its standard deviation (> 0).
        flow_shift: the sampling schedule's shift ``s`` of a flow model, stored in the pipeline's
            scheduler config (diffusers' ``shift`` / ``flow_shift``): the sampler's times
            ``t' = s t / (1 + (s - 1) t)``; ``s > 1`` spends more of the steps at high noise (SD3
            samples with 3.0). Training is unaffected.
    """

    latent_dim: int = 16
    channels: int = 96
    channel_mults: tuple[int, ...] = (1, 2, 2)
    blocks_per_level: int = 2
    kernel_size: int = 7
    mlp_ratio: float = 2.0
    attention_layers: int = 1
    attention_heads: int = 4
    num_classes: int = 0
    class_labels: tuple[str, ...] | None = None
    prediction_type: Literal["epsilon", "v_prediction", "flow_prediction"] = "v_prediction"
    num_train_timesteps: int = 1000
    beta_schedule: str = "scaled_linear"
    beta_start: float = 0.00085
    beta_end: float = 0.012
    rescale_betas_zero_snr: bool = False
    flow_time_sampling: Literal["logit_normal", "uniform"] = "logit_normal"
    flow_logit_mean: float = 0.0
    flow_logit_std: float = 1.0
    flow_shift: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel_mults", tuple(int(m) for m in self.channel_mults))
        if self.class_labels is not None:
            object.__setattr__(self, "class_labels", tuple(str(x) for x in self.class_labels))
        for name in ("latent_dim", "channels", "blocks_per_level", "num_train_timesteps"):
            if getattr(self, name) < 1:
                raise ValueError(f"DiffusionConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not self.channel_mults or min(self.channel_mults) < 1:
            raise ValueError(
                f"DiffusionConfig.channel_mults must be positive integers, got {self.channel_mults}"
            )
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"DiffusionConfig.kernel_size must be odd, got {self.kernel_size}")
        if self.num_classes < 0 or self.attention_layers < 0:
            raise ValueError("DiffusionConfig.num_classes and attention_layers must be >= 0")
        if self.attention_layers and (
            self.attention_heads < 1 or (self.channels * self.channel_mults[-1]) % self.attention_heads
        ):
            raise ValueError(
                f"DiffusionConfig.attention_heads={self.attention_heads} must divide the lowest level's "
                f"width {self.channels * self.channel_mults[-1]}"
            )
        if self.class_labels is not None and len(self.class_labels) != self.num_classes:
            raise ValueError(
                f"DiffusionConfig: {len(self.class_labels)} class_labels for num_classes={self.num_classes}"
            )
        if self.prediction_type not in PREDICTION_TYPES:
            raise ValueError(
                f"DiffusionConfig.prediction_type must be one of {PREDICTION_TYPES}, "
                f"got {self.prediction_type!r}"
            )
        if self.rescale_betas_zero_snr and self.prediction_type != "v_prediction":
            raise ValueError(
                "DiffusionConfig.rescale_betas_zero_snr needs prediction_type='v_prediction'"
                + (" (a flow model reaches pure noise at t = 1 without it)" if self.is_flow else "")
            )
        if self.flow_time_sampling not in FLOW_TIME_SAMPLINGS:
            raise ValueError(
                f"DiffusionConfig.flow_time_sampling must be one of {FLOW_TIME_SAMPLINGS}, "
                f"got {self.flow_time_sampling!r}"
            )
        if not (math.isfinite(self.flow_logit_mean) and math.isfinite(self.flow_logit_std)):
            raise ValueError("DiffusionConfig.flow_logit_mean and flow_logit_std must be finite")
        if self.flow_logit_std <= 0:
            raise ValueError(f"DiffusionConfig.flow_logit_std must be > 0, got {self.flow_logit_std}")
        if not (math.isfinite(self.flow_shift) and self.flow_shift > 0):
            raise ValueError(f"DiffusionConfig.flow_shift must be a finite number > 0, got {self.flow_shift}")

    @property
    def is_flow(self) -> bool:
        """Whether this is a rectified-flow model (``prediction_type == "flow_prediction"``)."""
        return self.prediction_type == "flow_prediction"

    @property
    def length_multiple(self) -> int:
        """Latent frames the U-Net works in multiples of: ``2 ** (len(channel_mults) - 1)``."""
        return 2 ** (len(self.channel_mults) - 1)

    @property
    def null_label(self) -> int:
        """The label index of "no label" (classifier-free guidance's unconditional branch)."""
        return self.num_classes


class _Level(nn.Module):
    """The blocks of one U-Net level (ModuleList with a conditional forward)."""

    def __init__(self, channels: int, config: DiffusionConfig, embed_dim: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            ConvNeXtBlock1d(channels, config.kernel_size, config.mlp_ratio, cond_dim=embed_dim)
            for _ in range(config.blocks_per_level)
        )

    def forward(self, x: torch.Tensor, emb: torch.Tensor, circular: bool) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, emb, circular)
        return x


# ----------------------------------------------------------------------------------------------
# the denoiser


class LatentDenoiser(PretrainedMixin, nn.Module):
    """1-D U-Net denoiser: ``(noisy latent, timestep, style label)`` → noise or velocity prediction.

    Layout (widths ``channels * channel_mults[i]``)::

        conv k=3 (latent_dim → w0)
        level i: blocks_per_level conditioned ConvNeXt blocks, keep a skip, conv k=2 stride 2 (w_i → w_i+1)
        bottom: attention_layers AdaSelfAttention + blocks_per_level conditioned ConvNeXt blocks
        level i (up): nearest ×2 + conv k=3 (w_i+1 → w_i), concat skip + conv k=1, blocks
        adaLN + conv k=3 (w0 → latent_dim), zero-initialised

    The conditioning ``SiLU(MLP(timestep_embedding(t)) + label_embedding(label))`` drives every
    block's adaLN-Zero modulation. At initialisation the network outputs zeros.

    Args:
        config: :class:`DiffusionConfig`.
    """

    config_class = DiffusionConfig

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__()
        self.config = config
        widths = [config.channels * m for m in config.channel_mults]
        embed_dim = 4 * config.channels
        self.time_mlp = nn.Sequential(
            nn.Linear(config.channels, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim)
        )
        self.label_embedding = (
            nn.Embedding(config.num_classes + 1, embed_dim) if config.num_classes > 0 else None
        )
        self.in_conv = TimeConv1d(config.latent_dim, widths[0], 3)
        self.down_levels = nn.ModuleList(_Level(w, config, embed_dim) for w in widths)
        self.downsamples = nn.ModuleList(
            nn.Conv1d(widths[i], widths[i + 1], kernel_size=2, stride=2) for i in range(len(widths) - 1)
        )
        self.attention = nn.ModuleList(
            AdaSelfAttention(widths[-1], embed_dim, config.attention_heads)
            for _ in range(config.attention_layers)
        )
        self.mid_level = _Level(widths[-1], config, embed_dim)
        self.upsamples = nn.ModuleList(
            TimeConv1d(widths[i + 1], widths[i], 3) for i in range(len(widths) - 1)
        )
        self.merges = nn.ModuleList(nn.Conv1d(2 * w, w, 1) for w in widths)
        self.up_levels = nn.ModuleList(_Level(w, config, embed_dim) for w in widths)
        self.out_modulation = nn.Linear(embed_dim, 2 * widths[0])
        self.out_conv = TimeConv1d(widths[0], config.latent_dim, 3)
        for layer in (self.out_modulation, self.out_conv.conv):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.gradient_checkpointing = False

    def enable_gradient_checkpointing(self, enabled: bool = True) -> None:
        """Recompute each level's and attention layer's activations in the backward pass while training.

        Saves activation memory (the latents of long clips at large batch sizes) for extra compute
        (``benchmarks/bench_checkpointing.py``; its numbers are in docs/benchmarks.md);
        outputs and gradients are unchanged (``torch.utils.checkpoint``, non-reentrant). No effect
        in eval mode or under ``no_grad``.
        """
        self.gradient_checkpointing = enabled

    def _run(self, module: nn.Module, *args: Any) -> torch.Tensor:
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            from torch.utils.checkpoint import checkpoint

            return checkpoint(module, *args, use_reentrant=False)
        return module(*args)

    @property
    def length_multiple(self) -> int:
        """Latent frames the U-Net works in multiples of (see the module docstring)."""
        return self.config.length_multiple

    def _labels(self, labels: torch.Tensor | None, batch: int, device: torch.device) -> torch.Tensor | None:
        cfg = self.config
        if labels is None:
            if self.label_embedding is None:
                return None
            return torch.full((batch,), cfg.null_label, dtype=torch.long, device=device)
        labels = torch.as_tensor(labels, device=device).long().reshape(-1)
        if labels.numel() == 1:
            labels = labels.expand(batch)
        if labels.shape[0] != batch:
            raise ValueError(f"got {labels.shape[0]} labels for a batch of {batch}")
        if self.label_embedding is None:
            if bool((labels >= 0).any()):
                raise ValueError("this denoiser is unconditional (num_classes=0) but got style labels")
            return None
        if bool((labels > cfg.null_label).any()):
            raise ValueError(
                f"style label out of range: labels must be < num_classes={cfg.num_classes} "
                f"(or {cfg.null_label} / negative for none), got {labels.tolist()}"
            )
        return torch.where(labels < 0, torch.full_like(labels, cfg.null_label), labels)

    def forward(
        self,
        latent: torch.Tensor,
        timestep: torch.Tensor | float,
        labels: torch.Tensor | None = None,
        circular: bool = False,
    ) -> torch.Tensor:
        """Predict the noise or velocity of ``latent`` at ``timestep``.

        Args:
            latent: noisy latent ``(batch, latent_dim, latent_frames)``, any ``latent_frames >= 1``.
            timestep: diffusion timestep(s) in ``[0, num_train_timesteps)``, a scalar or ``(batch,)``;
                fractional values are fine (Euler sampling; a flow model's ``t * num_train_timesteps``).
            labels: style label per example ``(batch,)`` (or one for all), ``null_label`` or a
                negative value for "no label"; ``None``: all unconditional.
            circular: wrap-around padding (seamless loops); requires ``latent_frames`` to be a
                multiple of :attr:`length_multiple`.

        Returns:
            the prediction, ``(batch, latent_dim, latent_frames)``.

        Raises:
            ValueError: wrong latent shape, a label out of range (or any label for an unconditional
                model), or ``circular`` with a length that is not a multiple of ``length_multiple``.
        """
        cfg = self.config
        if latent.dim() != 3 or latent.shape[1] != cfg.latent_dim or latent.shape[2] < 1:
            raise ValueError(
                f"expected a latent of shape (batch, latent_dim={cfg.latent_dim}, latent_frames>=1), "
                f"got {tuple(latent.shape)}"
            )
        batch, _, frames = latent.shape
        pad = (-frames) % self.length_multiple
        if pad and circular:
            raise ValueError(
                f"circular mode needs latent_frames to be a multiple of {self.length_multiple} "
                f"(this denoiser halves time {len(cfg.channel_mults) - 1} times); got {frames}"
            )
        x = F.pad(latent, (0, pad), mode="replicate") if pad else latent

        t = torch.as_tensor(timestep, device=latent.device).float().reshape(-1)
        if t.numel() == 1:
            t = t.expand(batch)
        emb = self.time_mlp(timestep_embedding(t, cfg.channels).to(x.dtype))
        labels = self._labels(labels, batch, latent.device)
        if labels is not None and self.label_embedding is not None:
            emb = emb + self.label_embedding(labels)
        emb = F.silu(emb)

        h = self.in_conv(x, circular)
        skips = []
        for i, level in enumerate(self.down_levels):
            h = self._run(level, h, emb, circular)
            skips.append(h)
            if i < len(self.downsamples):
                h = self.downsamples[i](h)
        for attention in self.attention:
            h = self._run(attention, h, emb)
        h = self._run(self.mid_level, h, emb, circular)
        for i in reversed(range(len(self.up_levels))):
            if i < len(self.upsamples):
                h = self.upsamples[i](torch.repeat_interleave(h, 2, dim=-1), circular)
            h = self.merges[i](torch.cat([h, skips[i]], dim=1))
            h = self._run(self.up_levels[i], h, emb, circular)
        shift, scale = rearrange(self.out_modulation(emb), "b (n c) -> n b c 1", n=2)
        out = self.out_conv(F.silu(modulate(h, shift, scale)), circular)
        return out[..., :frames] if pad else out
