"""The Vocos-style vocoder: a ConvNeXt-1D trunk at the mel frame rate and an iSTFT head.

:class:`VocosVocoder` is Vocos-style (Siuzdenko 2023, "Vocos: Closing the gap between time-domain and
Fourier-based neural vocoders", https://arxiv.org/abs/2306.00814; reference implementation
https://github.com/gemelo-ai/vocos): a ConvNeXt-1D backbone (Liu et al. 2022, "A ConvNet for the
2020s") that runs entirely at the mel frame rate, and a head that predicts the log-magnitude and
phase of a complex STFT which an inverse STFT turns into samples. There are no upsampling
convolutions, so the compute per second of audio is ``frames_per_second × cost_per_frame`` and is
small on a CPU. The head's STFT uses the mel front end's ``hop_length`` (and by default its
``n_fft``), so vocoder frame ``t`` is the mel frame ``t``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from audiogen.config import MelConfig, from_dict
from audiogen.models.vocoder.backbone import ConvNeXtBackbone, init_weights
from audiogen.models.vocoder.base import Vocoder
from audiogen.models.vocoder.heads import ISTFTHead


@dataclass(frozen=True)
class VocoderConfig:
    """Hyper-parameters of :class:`VocosVocoder`.

    Attributes:
        mel: the log-mel front end whose output the vocoder inverts (``n_mels``, ``hop_length``,
            ``sample_rate`` and, by default, ``n_fft`` come from here). Input is natural-log
            amplitude ``ln(max(mel, mel.log_floor))``.
        dim: ConvNeXt channel width. Vocos uses 512.
        intermediate_dim: hidden width of each block's pointwise MLP. Vocos uses 1536 (3 × dim).
        num_layers: number of ConvNeXt blocks. Vocos uses 8.
        kernel_size: depthwise convolution kernel (frames) in each block and in the input embedding.
        layer_scale_init: initial value of the per-channel residual scale (ConvNeXt "layer scale");
            ``None`` means ``1 / num_layers`` as in Vocos.
        head_n_fft: FFT size (samples) of the inverse STFT in the head; ``None`` means ``mel.n_fft``.
            Must be even and ``>= 4 * mel.hop_length``: the last ``hop_length`` output samples come
            from the right halves of the last frames, and with less than 75 % window overlap the
            summed squared Hann window there is close to zero (the division by it would blow up).
        max_log_magnitude: the predicted log-magnitude is clamped to this before ``exp`` (Vocos
            clips the magnitude at 100, i.e. ``ln 100`` ≈ 4.6), guarding against overflow early in
            training.
    """

    mel: MelConfig = field(default_factory=MelConfig)
    dim: int = 256
    intermediate_dim: int = 768
    num_layers: int = 8
    kernel_size: int = 7
    layer_scale_init: float | None = None
    head_n_fft: int | None = None
    max_log_magnitude: float = math.log(100.0)

    def __post_init__(self) -> None:
        if isinstance(self.mel, dict):  # from config.json / a recipe section
            object.__setattr__(self, "mel", from_dict(MelConfig, self.mel))
        for name in ("dim", "intermediate_dim", "num_layers", "kernel_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"VocoderConfig.{name} must be positive, got {getattr(self, name)}")
        if self.kernel_size % 2 != 1:
            raise ValueError(
                f"VocoderConfig.kernel_size must be odd (same-length padding), got {self.kernel_size}"
            )
        n_fft = self.n_fft
        if n_fft % 2 != 0 or n_fft < 4 * self.mel.hop_length:
            raise ValueError(
                f"VocoderConfig.head_n_fft must be even and >= 4 * hop_length ({4 * self.mel.hop_length}), "
                f"got {n_fft}"
            )

    @property
    def n_fft(self) -> int:
        """FFT size of the head's inverse STFT in samples (``head_n_fft`` or ``mel.n_fft``)."""
        return self.mel.n_fft if self.head_n_fft is None else self.head_n_fft

    @property
    def hop_length(self) -> int:
        """Samples per mel frame (the mel front end's ``hop_length``)."""
        return self.mel.hop_length

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict for JSON."""
        return dataclasses.asdict(self)


class VocosVocoder(ConvNeXtBackbone, Vocoder):
    """Vocos-style vocoder: conv embedding → ConvNeXt-1D blocks at frame rate → iSTFT head.

    Shapes: ``mel`` ``(batch, n_mels, frames)`` (natural-log amplitude) → waveform
    ``(batch, 1, frames * hop_length)`` at ``config.mel.sample_rate`` Hz.

    Same layers as Vocos' ``VocosBackbone`` + ``ISTFTHead`` (Siuzdenko 2023), with the width and
    depth of :class:`VocoderConfig`: by default Vocos' depth (8 blocks, kernel 7, so the same
    receptive field of 55 frames) at half its width (256 channels, MLP 768), which is about a
    quarter of its compute per frame; measured speed in ``docs/vocoder.md``. No weight norm, no
    upsampling convolutions: the model is used as is at inference.

    Raises (from :meth:`forward`):
        ValueError: if ``mel`` is not ``(batch, n_mels, frames)`` floating point with ``frames >= 1``.
    """

    config_class = VocoderConfig

    def __init__(self, config: VocoderConfig | None = None):
        super().__init__()
        self.config = config = config or VocoderConfig()
        self.build_backbone(
            config.mel.n_mels,
            config.dim,
            config.intermediate_dim,
            config.num_layers,
            config.kernel_size,
            config.layer_scale_init,
        )
        self.head = ISTFTHead(config.dim, config.n_fft, config.hop_length, config.max_log_magnitude)
        self.apply(init_weights)

    def features(self, mel: torch.Tensor) -> torch.Tensor:
        """Backbone output ``(batch, frames, dim)`` for ``mel`` ``(batch, n_mels, frames)``."""
        return self.backbone(mel)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """``(batch, n_mels, frames)`` log-mel → ``(batch, 1, frames * hop_length)`` waveform.

        Raises:
            ValueError: if ``mel`` is not ``(batch, n_mels, frames)`` floating point with ``frames >= 1``.
        """
        self.check_mel(mel)
        return self.head(self.features(mel))
