"""Discriminators and losses for training the vocoder as a GAN.

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
* Losses, each a scalar tensor computed in float32: hinge adversarial losses by default, as Vocos
  (``"lsgan"``, HiFi-GAN's least squares, on request); feature matching (L1 between the
  discriminator's feature maps of real and generated audio, Larsen et al. 2016 / MelGAN); log-mel L1
  of the project's log-mel (:class:`MelL1Loss`); multi-resolution STFT
  loss from ``auraloss`` (Yamamoto et al. 2020, Parallel WaveGAN). :class:`VocoderLoss` returns them
  as named dicts whose keys are the names the trainer logs and weighs: generator phase
  ``mel_l1``, ``mrstft``, ``adv_gen``, ``feature_matching``; discriminator phase ``adv_disc``.

Adversarial and feature-matching losses are averaged over the sub-discriminators of a group
(as Vocos does) and the groups are then added with ``group_weights`` (Vocos: MPD 1, MRD 0.1).

All waveforms are ``(batch, 1, samples)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from audiogen.config import MelConfig
from audiogen.models.pretrained import PretrainedMixin

AdversarialLossType = Literal["hinge", "lsgan"]

GENERATOR_LOSS_NAMES = ("mel_l1", "mrstft", "adv_gen", "feature_matching")
DISCRIMINATOR_LOSS_NAMES = ("adv_disc",)

# Suggested ``loss_weights`` for a recipe: Vocos' (mel 45, adversarial 1, feature matching 1 for the
# group-averaged losses) plus a unit-weight MR-STFT term, and the discriminator loss at 1.
DEFAULT_LOSS_WEIGHTS = {
    "mel_l1": 45.0,
    "mrstft": 1.0,
    "adv_gen": 1.0,
    "feature_matching": 1.0,
    "adv_disc": 1.0,
}


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
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), self.lrelu_slope)
            features.append(x)
        x = self.conv_post(x)
        features.append(x)
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
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), self.lrelu_slope)
            features.append(x)
        x = self.conv_post(x)
        features.append(x)
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


# ------------------------------------------------------------------------------------------------
# Losses
# ------------------------------------------------------------------------------------------------


def _check_loss_type(loss_type: str) -> None:
    if loss_type not in ("hinge", "lsgan"):
        raise ValueError(f"adversarial loss_type must be 'hinge' or 'lsgan', got {loss_type!r}")


def generator_adversarial_loss(
    fake_logits: list[torch.Tensor], loss_type: AdversarialLossType = "hinge"
) -> torch.Tensor:
    """Generator's adversarial loss, averaged over sub-discriminators.

    Per sub-discriminator with logits ``D(G(x))`` ``(batch, positions)``: hinge
    ``mean(relu(1 - D))`` (Vocos ``GeneratorLoss``), or least squares ``mean((1 - D)²)`` (HiFi-GAN
    ``generator_loss``). Computed in float32.

    Raises:
        ValueError: on an unknown ``loss_type`` or an empty list.
    """
    _check_loss_type(loss_type)
    if not fake_logits:
        raise ValueError("generator_adversarial_loss: no logits")
    terms = []
    for d in fake_logits:
        d = d.float()
        terms.append(F.relu(1 - d).mean() if loss_type == "hinge" else (1 - d).square().mean())
    return torch.stack(terms).mean()


def discriminator_adversarial_loss(
    real_logits: list[torch.Tensor], fake_logits: list[torch.Tensor], loss_type: AdversarialLossType = "hinge"
) -> torch.Tensor:
    """Discriminator's adversarial loss, averaged over sub-discriminators.

    Per sub-discriminator: hinge ``mean(relu(1 - D(x))) + mean(relu(1 + D(G(x))))`` (Vocos
    ``DiscriminatorLoss``) or least squares ``mean((1 - D(x))²) + mean(D(G(x))²)`` (HiFi-GAN
    ``discriminator_loss``). Pass generated audio detached. Computed in float32.

    Raises:
        ValueError: on an unknown ``loss_type``, an empty list or lists of different lengths.
    """
    _check_loss_type(loss_type)
    if not real_logits or len(real_logits) != len(fake_logits):
        raise ValueError(
            f"discriminator_adversarial_loss: need as many real as fake logits, got {len(real_logits)} "
            f"and {len(fake_logits)}"
        )
    terms = []
    for dr, dg in zip(real_logits, fake_logits, strict=True):
        dr, dg = dr.float(), dg.float()
        if loss_type == "hinge":
            terms.append(F.relu(1 - dr).mean() + F.relu(1 + dg).mean())
        else:
            terms.append((1 - dr).square().mean() + dg.square().mean())
    return torch.stack(terms).mean()


def feature_matching_loss(
    real_features: list[list[torch.Tensor]], fake_features: list[list[torch.Tensor]]
) -> torch.Tensor:
    """L1 between discriminator feature maps of real and generated audio.

    Sum over layers of ``mean(|real - fake|)`` per sub-discriminator (Vocos ``FeatureMatchingLoss``;
    HiFi-GAN additionally multiplies by 2), averaged over sub-discriminators. Real features are
    detached (they are targets). Computed in float32.

    Raises:
        ValueError: if the nesting or the shapes of the two lists differ, or they are empty.
    """
    if not real_features or len(real_features) != len(fake_features):
        raise ValueError(
            f"feature_matching_loss: need as many real as fake sub-discriminators, got {len(real_features)} "
            f"and {len(fake_features)}"
        )
    terms = []
    for real_layers, fake_layers in zip(real_features, fake_features, strict=True):
        if len(real_layers) != len(fake_layers):
            raise ValueError(
                f"feature_matching_loss: {len(real_layers)} real vs {len(fake_layers)} fake layers"
            )
        total = real_layers[0].new_zeros((), dtype=torch.float32)
        for r, g in zip(real_layers, fake_layers, strict=True):
            if r.shape != g.shape:
                raise ValueError(
                    f"feature_matching_loss: feature shapes differ, {tuple(r.shape)} vs {tuple(g.shape)}"
                )
            total = total + (r.detach().float() - g.float()).abs().mean()
        terms.append(total)
    return torch.stack(terms).mean()


class MelL1Loss(nn.Module):
    """Mean absolute difference of natural-log mels (nats) of two waveforms.

    Shapes: ``prediction``, ``target`` ``(batch, 1, samples)`` → scalar. The log-mel is the project's
    (:class:`audiogen.audio.spectral.LogMelSpectrogram` with ``mel_config``: same periodic Hann
    window zero-padded to ``n_fft``, ``center=True`` reflect padding, the filterbank of
    :func:`audiogen.audio.spectral.mel_filterbank`, ``ln(max(mel, log_floor))``), computed here with
    plain differentiable ops — :func:`torch.stft` and a dense filterbank product — because the front
    end's fast CPU path writes into preallocated outputs, which autograd does not support. The
    magnitude is ``sqrt(re² + im² + 1e-12)`` so that an exactly silent frame has a finite gradient.
    Multiply by ``20 / ln 10 ≈ 8.69`` for dB. Reference: Vocos ``MelSpecReconstructionLoss``.

    Raises (from :meth:`forward`):
        ValueError: if the shapes differ or are not ``(batch, 1, samples)``.
    """

    def __init__(self, mel_config: MelConfig):
        super().__init__()
        from audiogen.audio.spectral import mel_filterbank

        self.mel_config = mel_config
        win_length = mel_config.effective_win_length
        self.register_buffer("window", torch.hann_window(win_length, periodic=True), persistent=False)
        self.register_buffer("filterbank", mel_filterbank(mel_config), persistent=False)

    def log_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(batch, 1, samples)`` → float32 log-mel ``(batch, n_mels, frames)``.

        ``frames = samples // hop_length + 1`` for ``center=True``, as the front end.

        Raises:
            ValueError: if the waveform is not ``(batch, 1, samples)`` with ``samples > n_fft // 2``
                (needed by the reflect padding when ``center=True``).
        """
        cfg = self.mel_config
        _check_waveform("MelL1Loss", waveform, cfg.n_fft // 2 + 1 if cfg.center else cfg.n_fft)
        with torch.autocast(device_type=waveform.device.type, enabled=False):
            spec = torch.stft(
                rearrange(waveform.float(), "b 1 n -> b n"),
                n_fft=cfg.n_fft,
                hop_length=cfg.hop_length,
                win_length=cfg.effective_win_length,
                window=self.window,
                center=cfg.center,
                pad_mode="reflect",
                return_complex=True,
            )
            power = torch.view_as_real(spec).square().sum(-1)
            magnitude = power if cfg.power == 2.0 else (power + 1e-12).sqrt()
            mel = torch.einsum("mf,bft->bmt", self.filterbank, magnitude)
            return mel.clamp_min(cfg.log_floor).log()

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """L1 of log-mels of ``prediction`` vs ``target``, both ``(batch, 1, samples)``."""
        _check_pair("MelL1Loss", prediction, target)
        with torch.no_grad():
            target_mel = self.log_mel(target)
        return F.l1_loss(self.log_mel(prediction), target_mel)


def _check_pair(name: str, prediction: torch.Tensor, target: torch.Tensor) -> None:
    if prediction.shape != target.shape:
        raise ValueError(
            f"{name}: prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ"
        )
    _check_waveform(name, prediction, 1)


@dataclass(frozen=True)
class VocoderLossConfig:
    """Settings of :class:`VocoderLoss`.

    Attributes:
        adversarial: ``"hinge"`` (Vocos, default) or ``"lsgan"`` (HiFi-GAN least squares).
        group_weights: weight of each discriminator group inside ``adv_gen``, ``adv_disc`` and
            ``feature_matching`` (Vocos: ``mrd_loss_coeff`` 0.1, MPD 1).
        mrstft_fft_sizes: FFT sizes of the multi-resolution STFT loss in samples (auraloss defaults,
            Parallel WaveGAN's).
        mrstft_hop_sizes: its hops in samples.
        mrstft_win_lengths: its Hann window lengths in samples.
    """

    adversarial: AdversarialLossType = "hinge"
    group_weights: dict[str, float] = field(default_factory=lambda: {"mpd": 1.0, "mrd": 0.1})
    mrstft_fft_sizes: tuple[int, ...] = (1024, 2048, 512)
    mrstft_hop_sizes: tuple[int, ...] = (120, 240, 50)
    mrstft_win_lengths: tuple[int, ...] = (600, 1200, 240)

    def __post_init__(self) -> None:
        _check_loss_type(self.adversarial)
        if not len(self.mrstft_fft_sizes) == len(self.mrstft_hop_sizes) == len(self.mrstft_win_lengths):
            raise ValueError(
                "VocoderLossConfig: mrstft_fft_sizes, mrstft_hop_sizes, mrstft_win_lengths differ in length"
            )


class VocoderLoss(nn.Module):
    """The vocoder's training losses as named dicts (keys = logged names = ``loss_weights`` keys).

    Generator phase (:meth:`generator_losses`): ``mel_l1`` (:class:`MelL1Loss`), ``mrstft``
    (``auraloss.freq.MultiResolutionSTFTLoss``: spectral convergence + log-magnitude L1, averaged
    over resolutions), ``adv_gen`` and ``feature_matching`` (group-weighted sums of
    :func:`generator_adversarial_loss` / :func:`feature_matching_loss` over the MPD and MRD).
    Discriminator phase (:meth:`discriminator_losses`): ``adv_disc``.

    The module holds no trainable parameters; the discriminator is passed in, so the trainer owns it
    (its own optimizer, device placement, DDP wrapping).

    Args:
        mel_config: the vocoder's front end (for ``mel_l1``).
        config: loss settings.
    """

    def __init__(self, mel_config: MelConfig, config: VocoderLossConfig | None = None):
        super().__init__()
        import auraloss

        self.config = config = config or VocoderLossConfig()
        self.mel_l1 = MelL1Loss(mel_config)
        self.mrstft = auraloss.freq.MultiResolutionSTFTLoss(
            fft_sizes=list(config.mrstft_fft_sizes),
            hop_sizes=list(config.mrstft_hop_sizes),
            win_lengths=list(config.mrstft_win_lengths),
        )

    def _weight(self, group: str) -> float:
        return float(self.config.group_weights.get(group, 1.0))

    def reconstruction_losses(
        self, prediction: torch.Tensor, target: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """``{"mel_l1", "mrstft"}`` for ``prediction`` vs ``target`` ``(batch, 1, samples)``, float32.

        Raises:
            ValueError: if the shapes differ or are not ``(batch, 1, samples)``.
        """
        _check_pair("VocoderLoss", prediction, target)
        with torch.autocast(device_type=prediction.device.type, enabled=False):
            prediction, target = prediction.float(), target.float()
            return {"mel_l1": self.mel_l1(prediction, target), "mrstft": self.mrstft(prediction, target)}

    def generator_losses(
        self,
        prediction: torch.Tensor,
        target: torch.Tensor,
        discriminator: nn.Module | None = None,
    ) -> dict[str, torch.Tensor]:
        """Generator-phase losses.

        Args:
            prediction: vocoder output ``(batch, 1, samples)`` (with its graph).
            target: real audio ``(batch, 1, samples)``.
            discriminator: a :class:`VocoderDiscriminator` (or anything returning a dict of
                :class:`DiscriminatorOutput`); ``None`` gives only the reconstruction losses (for a
                mel-only warm-up, Vocos' ``pretrain_mel_steps``).

        Returns:
            ``{"mel_l1", "mrstft", "adv_gen", "feature_matching"}`` (the last two only with a
            discriminator), scalar float32 tensors.

        Raises:
            ValueError: if the shapes differ or are not ``(batch, 1, samples)``, or the waveform is
                shorter than the discriminator accepts.
        """
        losses = self.reconstruction_losses(prediction, target)
        if discriminator is None:
            return losses
        fake = discriminator(prediction)
        with torch.no_grad():
            real = discriminator(target)
        adv = [
            self._weight(g) * generator_adversarial_loss(fake[g].logits, self.config.adversarial)
            for g in fake
        ]
        fm = [
            self._weight(g) * feature_matching_loss(real[g].feature_maps, fake[g].feature_maps) for g in fake
        ]
        losses["adv_gen"] = torch.stack(adv).sum()
        losses["feature_matching"] = torch.stack(fm).sum()
        return losses

    def discriminator_losses(
        self, prediction: torch.Tensor, target: torch.Tensor, discriminator: nn.Module
    ) -> dict[str, torch.Tensor]:
        """Discriminator-phase loss ``{"adv_disc"}``; ``prediction`` is detached here.

        Args:
            prediction: vocoder output ``(batch, 1, samples)``.
            target: real audio ``(batch, 1, samples)``.
            discriminator: the :class:`VocoderDiscriminator` being trained.

        Raises:
            ValueError: if the shapes differ or are not ``(batch, 1, samples)``.
        """
        _check_pair("VocoderLoss", prediction, target)
        fake = discriminator(prediction.detach())
        real = discriminator(target)
        terms = [
            self._weight(g)
            * discriminator_adversarial_loss(real[g].logits, fake[g].logits, self.config.adversarial)
            for g in fake
        ]
        return {"adv_disc": torch.stack(terms).sum()}
