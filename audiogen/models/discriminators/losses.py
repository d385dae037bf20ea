"""Losses of adversarial training, shared by the vocoder GAN and the mel VAE's adversarial phase.

Each a scalar tensor computed in float32: hinge adversarial losses by default, as Vocos
(``"lsgan"``, HiFi-GAN's least squares, on request); feature matching (L1 between the
discriminator's feature maps of real and generated data, Larsen et al. 2016 / MelGAN); log-mel L1
of the project's log-mel (:class:`MelL1Loss`); multi-resolution STFT loss from ``auraloss``
(Yamamoto et al. 2020, Parallel WaveGAN). :class:`VocoderLoss` returns them as named dicts whose keys
are the names the trainer logs and weighs: generator phase ``mel_l1``, ``mrstft``, ``adv_gen``,
``feature_matching``; discriminator phase ``adv_disc``.

Adversarial and feature-matching losses are averaged over the sub-discriminators of a group
(as Vocos does) and the groups are then added with ``group_weights`` (Vocos: MPD 1, MRD 0.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from audiogen.config import MelConfig
from audiogen.models.discriminators.waveform import _check_waveform

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


def _check_pairs(name: str, what: str, real: list, fake: list) -> None:
    """Raise ``ValueError`` unless ``real`` and ``fake`` are non-empty and equally long."""
    if not real or len(real) != len(fake):
        raise ValueError(f"{name}: need as many real as fake {what}, got {len(real)} and {len(fake)}")


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
    _check_pairs("discriminator_adversarial_loss", "logits", real_logits, fake_logits)
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
    _check_pairs("feature_matching_loss", "sub-discriminators", real_features, fake_features)
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
    (:class:`audiogen.audio.features.LogMelSpectrogram` with ``mel_config``: same periodic Hann
    window zero-padded to ``n_fft``, ``center=True`` reflect padding, the filterbank of
    :func:`audiogen.audio.filterbank.mel_filterbank`, ``ln(max(mel, log_floor))``), computed here with
    plain differentiable ops — :func:`torch.stft` and a dense filterbank product — because the front
    end's fast CPU path writes into preallocated outputs, which autograd does not support. The
    magnitude is ``sqrt(re² + im² + 1e-12)`` so that an exactly silent frame has a finite gradient.
    Multiply by :data:`~audiogen.audio.levels.DB_PER_NEPER` for dB. Reference: Vocos
    ``MelSpecReconstructionLoss``.

    Raises (from :meth:`forward`):
        ValueError: if the shapes differ or are not ``(batch, 1, samples)``.
    """

    def __init__(self, mel_config: MelConfig):
        super().__init__()
        from audiogen.audio.filterbank import mel_filterbank

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
