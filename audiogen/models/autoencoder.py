"""Mel-spectrogram VAE: log-mel ``(batch, n_mels, frames)`` ↔ latent ``(batch, latent_dim, latent_frames)``.

A fully convolutional 1-D autoencoder with the mel bands as channels, compressing time by
``time_downsample`` (strided convs, kernel = stride) and the band axis into ``latent_dim``
channels. The posterior is a diagonal Gaussian as in the latent-diffusion first stage (Rombach et
al., 2022, "High-Resolution Image Synthesis with Latent Diffusion Models",
``ldm/modules/distributions/distributions.py``) and AudioLDM (Liu et al., 2023), here with
ConvNeXt-1D residual blocks (:mod:`audiogen.models.layers`) instead of 2-D ResNet blocks.

Any number of frames works: the encoder pads the end of the mel (edge values repeated) to a
multiple of ``time_downsample``, so ``latent_frames = ceil(frames / time_downsample)``; the
decoder produces ``latent_frames * time_downsample`` frames and crops to ``frames`` when told it.

The mel is normalised inside the model with a fixed ``(mel - mel_mean) / mel_std``, and the decoder
output is mapped back, so callers always see natural-log mel values. ``latent_scale``, measured on
training data as ``1 / std`` of the posterior means, is stored as a buffer (and in ``config.json``):
:meth:`MelAutoencoder.encode` returns ``latent * latent_scale`` (unit variance, what the latent
generator models) and :meth:`MelAutoencoder.decode` divides it back out.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from audiogen.config import MelConfig, from_dict
from audiogen.models.layers import ChannelLayerNorm, ConvNeXtBlock1d, Downsample1d, Upsample1d, factorize
from audiogen.models.pretrained import PretrainedMixin

LOGVAR_MIN, LOGVAR_MAX = -30.0, 20.0  # clamp of the LDM DiagonalGaussianDistribution
# Initial posterior log-variance (std ≈ 0.14 instead of 1): with unit noise at initialisation the
# decoder first sees mostly noise and training sits for hundreds of steps on the mean spectrum; on
# corpus mels this init halved the steps needed to overfit a batch (0.38 vs 0.60 nats L1 after 200).
INITIAL_LOGVAR = -4.0


@dataclass(frozen=True)
class AutoencoderConfig:
    """Architecture and fixed normalisation of :class:`MelVAE`.

    Attributes:
        mel: the log-mel front end the model encodes (``n_mels`` bands in and out; the pipeline
            checks it equals the vocoder's).
        latent_dim: channels of the latent.
        time_downsample: frames per latent frame (product of the strides; any positive integer,
            split into prime factors, one strided stage each).
        channels: width of the residual stream at every stage.
        blocks_per_stage: ConvNeXt blocks before each down/upsampling and at the bottleneck.
        decoder_channels: width of the decoder (``None``: ``channels``). A decoder wider than the
            encoder can be trained later behind a frozen encoder (``recipes/autoencoder_decoder.yaml``).
        decoder_blocks_per_stage: the decoder's ConvNeXt blocks per stage (``None``: ``blocks_per_stage``).
        kernel_size: depthwise kernel size (frames) of the ConvNeXt blocks.
        mel_mean: offset subtracted from the natural-log mel before encoding.
        mel_std: scale the offset mel is divided by before encoding.
        latent_scale: ``1 / std`` of the raw latents on training data (1.0 until measured).
    """

    mel: MelConfig = field(default_factory=MelConfig)
    latent_dim: int = 16
    time_downsample: int = 4
    channels: int = 256
    blocks_per_stage: int = 2
    decoder_channels: int | None = None
    decoder_blocks_per_stage: int | None = None
    kernel_size: int = 7
    mel_mean: float = -5.0
    mel_std: float = 2.5
    latent_scale: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.mel, dict):  # from config.json / a recipe section
            object.__setattr__(self, "mel", from_dict(MelConfig, self.mel))
        for name in ("latent_dim", "time_downsample", "channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"AutoencoderConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.blocks_per_stage < 0:
            raise ValueError(f"AutoencoderConfig.blocks_per_stage must be >= 0, got {self.blocks_per_stage}")
        if self.decoder_channels is not None and self.decoder_channels < 1:
            raise ValueError(f"AutoencoderConfig.decoder_channels must be >= 1, got {self.decoder_channels}")
        if self.decoder_blocks_per_stage is not None and self.decoder_blocks_per_stage < 0:
            raise ValueError(
                "AutoencoderConfig.decoder_blocks_per_stage must be >= 0, got "
                f"{self.decoder_blocks_per_stage}"
            )
        if self.mel_std <= 0 or self.latent_scale <= 0:
            raise ValueError(
                f"AutoencoderConfig: mel_std and latent_scale must be positive, got {self.mel_std}, "
                f"{self.latent_scale}"
            )

    @property
    def n_mels(self) -> int:
        """Mel bands in and out (``mel.n_mels``)."""
        return self.mel.n_mels

    @property
    def decoder_width(self) -> int:
        """Channels of the decoder: ``decoder_channels``, else ``channels``."""
        return self.channels if self.decoder_channels is None else self.decoder_channels

    @property
    def decoder_depth(self) -> int:
        """ConvNeXt blocks per decoder stage: ``decoder_blocks_per_stage``, else ``blocks_per_stage``."""
        depth = self.decoder_blocks_per_stage
        return self.blocks_per_stage if depth is None else depth


@dataclass
class DiagonalGaussian:
    """Diagonal Gaussian over latents; ``mean``, ``logvar``: ``(batch, latent_dim, latent_frames)``.

    ``logvar`` is clamped to [-30, 20] as in LDM's ``DiagonalGaussianDistribution``.
    """

    mean: torch.Tensor
    logvar: torch.Tensor

    def __post_init__(self) -> None:
        self.logvar = self.logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)

    @property
    def std(self) -> torch.Tensor:
        """Standard deviation, ``(batch, latent_dim, latent_frames)``."""
        return torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """A reparameterised sample ``mean + std * eps``, ``(batch, latent_dim, latent_frames)``."""
        mean = self.mean
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return self.mean + self.std * eps

    def mode(self) -> torch.Tensor:
        """The mean, ``(batch, latent_dim, latent_frames)``."""
        return self.mean

    def kl(self) -> torch.Tensor:
        """KL divergence to N(0, 1) in nats per latent element, averaged per example: ``(batch,)``.

        ``0.5 * (mean² + var - 1 - logvar)`` averaged over latent_dim and latent_frames.
        """
        kl = 0.5 * (self.mean.float().pow(2) + self.logvar.float().exp() - 1.0 - self.logvar.float())
        return kl.mean(dim=(1, 2))


@dataclass
class AutoencoderOutput:
    """Result of :meth:`MelAutoencoder.forward`.

    Attributes:
        reconstruction: natural-log mel ``(batch, n_mels, frames)``, same frames as the input.
        posterior: the encoder's distribution over raw (unscaled) latents.
        latent: the raw latent that was decoded, ``(batch, latent_dim, latent_frames)``.
    """

    reconstruction: torch.Tensor
    posterior: DiagonalGaussian
    latent: torch.Tensor


class MelAutoencoder(PretrainedMixin, nn.Module):
    """Interface of a mel autoencoder; subclasses implement :meth:`posterior` and :meth:`decode_raw`.

    Shapes (fixed for every implementation):

    - mel: natural-log mel ``(batch, n_mels, frames)``, any ``frames >= 1``;
    - latent: ``(batch, latent_dim, latent_frames)`` with
      ``latent_frames = ceil(frames / time_downsample)``.

    "Raw" latents are what the decoder consumes; the public :meth:`encode` / :meth:`decode` work
    on scaled latents ``raw * latent_scale`` (unit variance on training data once measured).
    """

    config: AutoencoderConfig
    latent_scale: torch.Tensor

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("latent_scale", torch.tensor(float(config.latent_scale)))

    @property
    def n_mels(self) -> int:
        """Mel bands in and out."""
        return self.config.n_mels

    @property
    def mel_config(self) -> MelConfig:
        """The front end the model expects its input from."""
        return self.config.mel

    @property
    def latent_dim(self) -> int:
        """Latent channels."""
        return self.config.latent_dim

    @property
    def time_downsample(self) -> int:
        """Mel frames per latent frame."""
        return self.config.time_downsample

    def latent_frames(self, frames: int) -> int:
        """``ceil(frames / time_downsample)``: latent frames for a mel of ``frames`` frames."""
        return math.ceil(frames / self.time_downsample)

    def set_latent_scale(self, value: float) -> None:
        """Store a measured ``1 / std`` of the raw latents (buffer and config).

        Raises:
            ValueError: if ``value`` is not a finite positive number.
        """
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"latent_scale must be finite and positive, got {value}")
        self.latent_scale.fill_(value)
        self.config = dataclasses.replace(self.config, latent_scale=float(value))

    def _config_for_save(self) -> AutoencoderConfig:
        return dataclasses.replace(self.config, latent_scale=float(self.latent_scale))

    def _check_mel(self, mel: torch.Tensor) -> None:
        if mel.dim() != 3 or mel.shape[1] != self.n_mels or mel.shape[2] < 1:
            raise ValueError(
                f"expected a log-mel of shape (batch, n_mels={self.n_mels}, frames>=1), "
                f"got {tuple(mel.shape)}"
            )

    def posterior(self, mel: torch.Tensor) -> DiagonalGaussian:
        """Encode ``mel (batch, n_mels, frames)`` → distribution over raw latents.

        The distribution's tensors are ``(batch, latent_dim, latent_frames)``.
        """
        raise NotImplementedError

    def decode_raw(self, latent: torch.Tensor, frames: int | None = None) -> torch.Tensor:
        """Decode raw ``latent (batch, latent_dim, latent_frames)`` → mel ``(batch, n_mels, frames)``.

        ``frames`` (default ``latent_frames * time_downsample``) crops the output.
        """
        raise NotImplementedError

    def encode(
        self, mel: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Scaled latent ``(batch, latent_dim, latent_frames)`` of ``mel (batch, n_mels, frames)``.

        Args:
            mel: natural-log mel.
            sample: draw from the posterior instead of taking its mean.
            generator: random generator for ``sample=True``.

        Returns:
            ``raw_latent * latent_scale``.
        """
        post = self.posterior(mel)
        z = post.sample(generator) if sample else post.mode()
        return z * self.latent_scale.to(z.dtype)

    def decode(self, latent: torch.Tensor, frames: int | None = None) -> torch.Tensor:
        """Mel ``(batch, n_mels, frames)`` from a scaled ``latent (batch, latent_dim, latent_frames)``.

        Divides by ``latent_scale``, then decodes; ``frames`` crops (default: all
        ``latent_frames * time_downsample``).

        Raises:
            ValueError: if the latent is not 3-D with ``latent_dim`` channels.
        """
        if latent.dim() != 3 or latent.shape[1] != self.latent_dim:
            raise ValueError(
                f"expected a latent of shape (batch, latent_dim={self.latent_dim}, latent_frames), "
                f"got {tuple(latent.shape)}"
            )
        return self.decode_raw(latent / self.latent_scale.to(latent.dtype), frames)

    def forward(
        self, mel: torch.Tensor, sample_posterior: bool = True, generator: torch.Generator | None = None
    ) -> AutoencoderOutput:
        """Training pass: encode, sample (or take the mean), decode, crop to the input length.

        Args:
            mel: natural-log mel ``(batch, n_mels, frames)``.
            sample_posterior: reparameterised sample (training) or posterior mean (evaluation).
            generator: random generator for the sample.

        Returns:
            :class:`AutoencoderOutput` with ``reconstruction (batch, n_mels, frames)``.
        """
        post = self.posterior(mel)
        z = post.sample(generator) if sample_posterior else post.mode()
        return AutoencoderOutput(reconstruction=self.decode_raw(z, mel.shape[-1]), posterior=post, latent=z)


class MelVAE(MelAutoencoder):
    """ConvNeXt-1D mel VAE (see the module docstring for the design and shapes).

    Encoder: conv(k=7) n_mels→channels, then per prime factor ``f`` of ``time_downsample``:
    ``blocks_per_stage`` ConvNeXt blocks + a stride-``f`` conv; bottleneck blocks; LayerNorm;
    conv(k=1) → ``2 * latent_dim`` (mean, logvar; the logvar bias starts at ``INITIAL_LOGVAR``).
    The decoder mirrors it with repeat-and-convolve upsampling and ends with conv(k=7) → n_mels;
    its width and depth may differ (``decoder_channels``, ``decoder_blocks_per_stage``).

    Args:
        config: :class:`AutoencoderConfig`.
    """

    config_class = AutoencoderConfig

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__(config)
        c, k, n = config.channels, config.kernel_size, config.blocks_per_stage
        factors = factorize(config.time_downsample)

        def blocks(c: int = c, n: int = n) -> list[nn.Module]:
            return [ConvNeXtBlock1d(c, kernel_size=k) for _ in range(n)]

        enc: list[nn.Module] = [nn.Conv1d(config.n_mels, c, 7, padding=3)]
        for f in factors:
            enc += [*blocks(), Downsample1d(c, c, f)]
        enc += [*blocks(), ChannelLayerNorm(c), nn.Conv1d(c, 2 * config.latent_dim, 1)]
        self.encoder = nn.Sequential(*enc)
        with torch.no_grad():
            enc[-1].bias[config.latent_dim :].fill_(INITIAL_LOGVAR)  # type: ignore[index]

        dc, dn = config.decoder_width, config.decoder_depth
        dec: list[nn.Module] = [nn.Conv1d(config.latent_dim, dc, 7, padding=3), *blocks(dc, dn)]
        for f in reversed(factors):
            dec += [Upsample1d(dc, dc, f), *blocks(dc, dn)]
        dec += [ChannelLayerNorm(dc), nn.Conv1d(dc, config.n_mels, 7, padding=3)]
        self.decoder = nn.Sequential(*dec)

    def posterior(self, mel: torch.Tensor) -> DiagonalGaussian:
        """Encode ``mel (batch, n_mels, frames)`` → posterior over ``(batch, latent_dim, latent_frames)``.

        Raises:
            ValueError: if ``mel`` is not ``(batch, n_mels, frames>=1)``.
        """
        self._check_mel(mel)
        x = (mel - self.config.mel_mean) / self.config.mel_std
        pad = self.latent_frames(x.shape[-1]) * self.time_downsample - x.shape[-1]
        if pad:
            x = F.pad(x, (0, pad), mode="replicate")
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return DiagonalGaussian(mean=mean, logvar=logvar)

    def decode_raw(self, latent: torch.Tensor, frames: int | None = None) -> torch.Tensor:
        """Decode raw ``latent (batch, latent_dim, latent_frames)`` → mel ``(batch, n_mels, frames)``.

        Raises:
            ValueError: if ``frames`` exceeds ``latent_frames * time_downsample``.
        """
        full = latent.shape[-1] * self.time_downsample
        if frames is not None and not 0 < frames <= full:
            raise ValueError(f"frames={frames} is outside (0, {full}] for {latent.shape[-1]} latent frames")
        x = self.decoder(latent)
        mel = x * self.config.mel_std + self.config.mel_mean
        return mel if frames is None else mel[..., :frames]


def deepen_decoder_state(
    state: dict[str, torch.Tensor], saved_blocks_per_stage: int, model: MelVAE
) -> dict[str, torch.Tensor]:
    """Map the weights of a :class:`MelVAE` onto ``model``, whose decoder has more blocks per stage.

    Every saved tensor is kept; each decoder stage keeps its saved ConvNeXt blocks first and gets
    the new ones after them. A new block is a copy of its stage's last saved block with the layer
    scale ``gamma`` set to 0, so it is exactly the identity and the deeper model decodes exactly as
    the saved one until training moves it (function-preserving deepening as in Net2Net, Chen et al.,
    2016, "Net2Net: Accelerating Learning via Knowledge Transfer"; a zero residual scale as in
    ReZero, Bachlechner et al., 2021). Copying a trained block rather than starting from fresh
    weights matters here: with fresh weights the new branch's output is unrelated to the error, its
    ``gamma`` gets gradients of random sign and stayed near 3e-4 over 4,000 steps (docs/training.md,
    "Deepening the decoder"). The encoder, and so the latents, are untouched.

    Args:
        state: the saved model's state dict (decoder with ``saved_blocks_per_stage`` blocks per
            stage, otherwise the same settings as ``model``).
        saved_blocks_per_stage: the saved decoder's blocks per stage.
        model: the deeper model (its ``config.decoder_blocks_per_stage`` is the new depth).

    Returns:
        A state dict that loads into ``model`` strictly.

    Raises:
        ValueError: ``model``'s decoder is not deeper than ``saved_blocks_per_stage``.
    """
    cfg = model.config
    new_blocks = cfg.decoder_depth
    if not 0 < saved_blocks_per_stage < new_blocks:
        raise ValueError(
            f"deepen_decoder_state: the saved decoder has {saved_blocks_per_stage} blocks per stage, "
            f"the model {new_blocks}; it can only grow"
        )
    stages = len(factorize(cfg.time_downsample)) + 1

    def layout(blocks: int) -> dict[str, int]:
        """Decoder index by layer name: conv, per stage (upsample,) blocks, then LayerNorm, conv."""
        names = ["conv_in"]
        for s in range(stages):
            names += ([f"upsample{s}"] if s else []) + [f"block{s}.{j}" for j in range(blocks)]
        return {name: i for i, name in enumerate([*names, "norm_out", "conv_out"])}

    saved_index, new_name = layout(saved_blocks_per_stage), {i: n for n, i in layout(new_blocks).items()}
    out: dict[str, torch.Tensor] = {}
    for key, fresh in model.state_dict().items():
        if not key.startswith("decoder."):
            out[key] = state[key]
            continue
        _, index, rest = key.split(".", 2)
        name = new_name[int(index)]
        if name not in saved_index:  # a new block: copy of the stage's last saved one, switched off
            name = f"{name.split('.')[0]}.{saved_blocks_per_stage - 1}"
            if rest == "gamma":
                out[key] = torch.zeros_like(fresh)
                continue
        out[key] = state[f"decoder.{saved_index[name]}.{rest}"].clone()
    return out
