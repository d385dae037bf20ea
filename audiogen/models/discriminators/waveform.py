"""Waveform discriminators of the vocoder GAN.

* :class:`MultiPeriodDiscriminator` (MPD): HiFi-GAN's (Kong et al. 2020, "HiFi-GAN: Generative
  Adversarial Networks for Efficient and High Fidelity Speech Synthesis", reference implementation
  https://github.com/jik876/hifi-gan ``models.py::DiscriminatorP``), periods 2, 3, 5, 7, 11: the
  waveform is folded into ``(samples / period, period)`` and judged by 2-D convolutions that only
  see samples ``period`` apart.
* :class:`MultiResolutionDiscriminator` (MRD): UnivNet's (Jang et al. 2021) magnitude-spectrogram
  discriminator in the layout of Vocos (``vocos/discriminators.py::DiscriminatorR``): 2-D
  convolutions over ``(frequency, frames)`` of ``|STFT|`` at (n_fft, hop_length) = (1024, 256),
  (2048, 512), (512, 128).
* :class:`VocoderDiscriminator` holds both; its output is a dict ``{"mpd": ..., "mrd": ...}`` of
  :class:`DiscriminatorOutput` (logits + feature maps per sub-discriminator).

All waveforms are ``(batch, 1, samples)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from audiogen.models.pretrained import PretrainedMixin


def conv_stack(
    x: torch.Tensor, convs: nn.ModuleList, conv_post: nn.Module, slope: float
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``x`` through ``convs`` (a leaky ReLU after each) and ``conv_post``: the output and every
    feature map on the way (the last is the output)."""
    features = []
    for conv in convs:
        x = F.leaky_relu(conv(x), slope)
        features.append(x)
    x = conv_post(x)
    features.append(x)
    return x, features


@dataclass
class DiscriminatorOutput:
    """What a (multi-)discriminator says about a batch of waveforms.

    Attributes:
        logits: one tensor per sub-discriminator, ``(batch, positions)`` (the flattened map of
            real/fake scores; positions depend on the sub-discriminator and the length).
        feature_maps: per sub-discriminator, the activations of each layer (after the
            nonlinearity, and the final logit map), ``(batch, channels, height, width)``; used by
            :func:`feature_matching_loss`.
    """

    logits: list[torch.Tensor]
    feature_maps: list[list[torch.Tensor]]


def _check_waveform(name: str, waveform: torch.Tensor, min_samples: int) -> None:
    """Raise ``ValueError`` unless ``waveform`` is a float ``(batch, 1, samples >= min_samples)``."""
    if waveform.ndim != 3 or waveform.shape[1] != 1:
        raise ValueError(f"{name}: waveform must be (batch, 1, samples), got shape {tuple(waveform.shape)}")
    if not waveform.is_floating_point():
        raise ValueError(f"{name}: waveform must be floating point, got {waveform.dtype}")
    if waveform.shape[-1] < min_samples:
        raise ValueError(f"{name}: need at least {min_samples} samples, got {waveform.shape[-1]}")


class PeriodDiscriminator(nn.Module):
    """HiFi-GAN's period discriminator ``DiscriminatorP``.

    The waveform ``(batch, 1, samples)`` is reflect-padded to a multiple of ``period`` and folded to
    ``(batch, 1, samples / period, period)``; five weight-normalised ``(kernel_size, 1)`` convolutions
    (stride 3 for the first four) with leaky ReLU and a ``(3, 1)`` output convolution give a logit map.

    Args:
        period: fold period in samples.
        channels: output channels of the five convolutions (HiFi-GAN: 32, 128, 512, 1024, 1024).
        kernel_size: temporal kernel (HiFi-GAN: 5).
        stride: temporal stride of the first four convolutions (HiFi-GAN: 3).
        lrelu_slope: negative slope of the leaky ReLUs (HiFi-GAN: 0.1).
    """

    def __init__(
        self,
        period: int,
        channels: tuple[int, ...] = (32, 128, 512, 1024, 1024),
        kernel_size: int = 5,
        stride: int = 3,
        lrelu_slope: float = 0.1,
    ):
        super().__init__()
        if period < 1:
            raise ValueError(f"PeriodDiscriminator: period must be >= 1, got {period}")
        self.period, self.lrelu_slope = period, lrelu_slope
        convs, in_ch = [], 1
        for i, out_ch in enumerate(channels):
            s = stride if i < len(channels) - 1 else 1
            convs.append(
                weight_norm(nn.Conv2d(in_ch, out_ch, (kernel_size, 1), (s, 1), (kernel_size // 2, 0)))
            )
            in_ch = out_ch
        self.convs = nn.ModuleList(convs)
        self.conv_post = weight_norm(nn.Conv2d(in_ch, 1, (3, 1), 1, (1, 0)))

    def forward(self, waveform: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(batch, 1, samples)`` → logits ``(batch, positions)`` and the list of feature maps."""
        x = waveform
        remainder = x.shape[-1] % self.period
        if remainder:
            x = F.pad(x, (0, self.period - remainder), mode="reflect")
        x = rearrange(x, "b c (t p) -> b c t p", p=self.period)
        x, features = conv_stack(x, self.convs, self.conv_post, self.lrelu_slope)
        return rearrange(x, "b c t p -> b (c t p)"), features


class MultiPeriodDiscriminator(nn.Module):
    """HiFi-GAN's multi-period discriminator: one :class:`PeriodDiscriminator` per period.

    Shapes: ``waveform`` ``(batch, 1, samples)`` → :class:`DiscriminatorOutput` with one entry per period.

    Raises (from :meth:`forward`):
        ValueError: if the waveform is not float ``(batch, 1, samples)`` with ``samples > max(periods)``
            (the reflect padding needs that many samples).
    """

    def __init__(
        self,
        periods: tuple[int, ...] = (2, 3, 5, 7, 11),
        channels: tuple[int, ...] = (32, 128, 512, 1024, 1024),
        lrelu_slope: float = 0.1,
    ):
        super().__init__()
        self.periods = tuple(periods)
        self.discriminators = nn.ModuleList(
            PeriodDiscriminator(p, channels=channels, lrelu_slope=lrelu_slope) for p in self.periods
        )

    @property
    def min_samples(self) -> int:
        """Shortest waveform accepted, in samples."""
        return max(self.periods) + 1

    def forward(self, waveform: torch.Tensor) -> DiscriminatorOutput:
        """``(batch, 1, samples)`` → logits and feature maps of each period discriminator."""
        _check_waveform(type(self).__name__, waveform, self.min_samples)
        logits, features = zip(*(d(waveform) for d in self.discriminators), strict=True)
        return DiscriminatorOutput(list(logits), list(features))


class ResolutionDiscriminator(nn.Module):
    """Magnitude-spectrogram discriminator at one STFT resolution (UnivNet MRD, Vocos layout).

    ``|STFT|`` ``(batch, 1, n_fft // 2 + 1, frames)`` (rectangular window, ``center=True``, as Vocos;
    float32 even under autocast) goes through five weight-normalised 2-D convolutions over
    (frequency, frames) with leaky ReLU — kernels (7, 5), (5, 3), (5, 3), 3, 3 with strides (2, 2),
    (2, 1), (2, 2), (2, 1), (2, 2) — and a 3 × 3 output convolution.

    Args:
        n_fft: FFT size in samples (window length = ``n_fft``).
        hop_length: hop in samples.
        channels: channels of every convolution (Vocos: 64; UnivNet: 32).
        lrelu_slope: negative slope of the leaky ReLUs (Vocos: 0.1).
    """

    def __init__(self, n_fft: int, hop_length: int, channels: int = 64, lrelu_slope: float = 0.1):
        super().__init__()
        self.n_fft, self.hop_length, self.lrelu_slope = n_fft, hop_length, lrelu_slope
        specs = [((7, 5), (2, 2), (3, 2)), ((5, 3), (2, 1), (2, 1)), ((5, 3), (2, 2), (2, 1)),
                 ((3, 3), (2, 1), (1, 1)), ((3, 3), (2, 2), (1, 1))]  # fmt: skip
        convs, in_ch = [], 1
        for kernel, stride, padding in specs:
            convs.append(weight_norm(nn.Conv2d(in_ch, channels, kernel, stride, padding)))
            in_ch = channels
        self.convs = nn.ModuleList(convs)
        self.conv_post = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))
        self.register_buffer("window", torch.ones(n_fft), persistent=False)

    def spectrogram(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(batch, 1, samples)`` → magnitude ``(batch, 1, n_fft // 2 + 1, frames)``, float32."""
        with torch.autocast(device_type=waveform.device.type, enabled=False):
            spec = torch.stft(
                rearrange(waveform.float(), "b 1 n -> b n"),
                n_fft=self.n_fft,
                hop_length=self.hop_length,
                win_length=self.n_fft,
                window=self.window.float(),
                center=True,
                return_complex=True,
            ).abs()
        return rearrange(spec, "b f t -> b 1 f t")

    def forward(self, waveform: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(batch, 1, samples)`` → logits ``(batch, positions)`` and the list of feature maps."""
        x = self.spectrogram(waveform)
        x, features = conv_stack(x, self.convs, self.conv_post, self.lrelu_slope)
        return rearrange(x, "b c f t -> b (c f t)"), features


class MultiResolutionDiscriminator(nn.Module):
    """One :class:`ResolutionDiscriminator` per ``(n_fft, hop_length)`` resolution.

    Shapes: ``waveform`` ``(batch, 1, samples)`` → :class:`DiscriminatorOutput` with one entry per
    resolution.

    Raises (from :meth:`forward`):
        ValueError: if the waveform is not float ``(batch, 1, samples)`` with
            ``samples > max(n_fft) // 2`` (the STFT's reflect padding needs that many).
    """

    def __init__(
        self,
        resolutions: tuple[tuple[int, int], ...] = ((1024, 256), (2048, 512), (512, 128)),
        channels: int = 64,
        lrelu_slope: float = 0.1,
    ):
        super().__init__()
        self.resolutions = tuple(tuple(r) for r in resolutions)
        self.discriminators = nn.ModuleList(
            ResolutionDiscriminator(n_fft, hop, channels=channels, lrelu_slope=lrelu_slope)
            for n_fft, hop in self.resolutions
        )

    @property
    def min_samples(self) -> int:
        """Shortest waveform accepted, in samples."""
        return max(n_fft for n_fft, _ in self.resolutions) // 2 + 1

    def forward(self, waveform: torch.Tensor) -> DiscriminatorOutput:
        """``(batch, 1, samples)`` → logits and feature maps of each resolution discriminator."""
        _check_waveform(type(self).__name__, waveform, self.min_samples)
        logits, features = zip(*(d(waveform) for d in self.discriminators), strict=True)
        return DiscriminatorOutput(list(logits), list(features))


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Settings of :class:`VocoderDiscriminator`.

    Attributes:
        periods: MPD periods in samples (HiFi-GAN: 2, 3, 5, 7, 11).
        period_channels: MPD convolution channels (HiFi-GAN: 32, 128, 512, 1024, 1024).
        resolutions: MRD ``(n_fft, hop_length)`` pairs in samples.
        resolution_channels: MRD convolution channels (Vocos: 64).
        lrelu_slope: leaky ReLU slope of both.
    """

    periods: tuple[int, ...] = (2, 3, 5, 7, 11)
    period_channels: tuple[int, ...] = (32, 128, 512, 1024, 1024)
    resolutions: tuple[tuple[int, int], ...] = ((1024, 256), (2048, 512), (512, 128))
    resolution_channels: int = 64
    lrelu_slope: float = 0.1

    def __post_init__(self) -> None:
        # JSON / YAML give lists; keep tuples so the config stays hashable and compares equal.
        object.__setattr__(self, "periods", tuple(int(p) for p in self.periods))
        object.__setattr__(self, "period_channels", tuple(int(c) for c in self.period_channels))
        object.__setattr__(self, "resolutions", tuple((int(n), int(h)) for n, h in self.resolutions))
        if not self.periods or not self.resolutions:
            raise ValueError("DiscriminatorConfig: periods and resolutions must not be empty")

    def to_dict(self) -> dict:
        """Plain dict for JSON."""
        return dataclasses.asdict(self)


class VocoderDiscriminator(PretrainedMixin, nn.Module):
    """MPD + MRD, the discriminator of the vocoder GAN (as Vocos).

    Shapes: ``waveform`` ``(batch, 1, samples)`` →
    ``{"mpd": DiscriminatorOutput, "mrd": DiscriminatorOutput}``.

    Raises (from :meth:`forward`):
        ValueError: if the waveform is not float ``(batch, 1, samples)`` with at least
            :attr:`min_samples` samples.

    Saved and loaded like every model (``save_pretrained`` / ``from_pretrained``,
    :class:`audiogen.models.pretrained.PretrainedMixin`).
    """

    config_class = DiscriminatorConfig

    def __init__(self, config: DiscriminatorConfig | None = None):
        super().__init__()
        self.config = config = config or DiscriminatorConfig()
        self.mpd = MultiPeriodDiscriminator(config.periods, config.period_channels, config.lrelu_slope)
        self.mrd = MultiResolutionDiscriminator(
            config.resolutions, config.resolution_channels, config.lrelu_slope
        )

    @property
    def min_samples(self) -> int:
        """Shortest waveform accepted, in samples."""
        return max(self.mpd.min_samples, self.mrd.min_samples)

    def forward(self, waveform: torch.Tensor) -> dict[str, DiscriminatorOutput]:
        """``(batch, 1, samples)`` → outputs of the MPD and the MRD, keyed ``"mpd"`` and ``"mrd"``."""
        return {"mpd": self.mpd(waveform), "mrd": self.mrd(waveform)}
