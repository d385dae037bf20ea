"""Neural vocoder: natural-log mel spectrogram → waveform.

The model is Vocos-style (Siuzdenko 2023, "Vocos: Closing the gap between time-domain and
Fourier-based neural vocoders", https://arxiv.org/abs/2306.00814; reference implementation
https://github.com/gemelo-ai/vocos): a ConvNeXt-1D backbone (Liu et al. 2022, "A ConvNet for the
2020s") that runs entirely at the mel frame rate, and a head that predicts the log-magnitude and
phase of a complex STFT which an inverse STFT turns into samples. There are no upsampling
convolutions, so the compute per second of audio is ``frames_per_second × cost_per_frame`` and is
small on a CPU. The head's STFT uses the mel front end's ``hop_length`` (and by default its
``n_fft``), so vocoder frame ``t`` is the mel frame ``t``.

Length contract (with the project's ``center=True`` front end, :class:`audiogen.config.MelConfig`):

* mel frame ``t`` is centred on sample ``t * hop_length``;
* a clip of ``num_samples`` samples gives ``num_samples // hop_length + 1`` frames;
* the vocoder maps ``frames`` mel frames to exactly ``frames * hop_length`` samples, sample ``n``
  of the output lining up with sample ``n`` of the clip the mel came from. Vocoding the full mel of
  a clip therefore gives up to ``hop_length`` samples more than the clip: crop with
  ``waveform[..., :num_samples]``. For training, take a segment of ``k * hop_length`` samples and
  its first ``k`` mel frames (drop the last frame), so target and output have the same length.
* with a ``center=False`` front end frame ``t`` is centred on sample ``t * hop_length + n_fft // 2``
  instead, so output sample ``n`` lines up with clip sample ``n + n_fft // 2``.

The head's inverse STFT equals :func:`torch.istft` with ``center=True`` and ``length=frames *
hop_length``, the inverse of the front end's framing (the last ``hop_length`` samples are
reconstructed from the right halves of the last frames). It runs on CPU and CUDA for any number of
frames ``>= 1``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from audiogen.config import MelConfig, from_dict
from audiogen.models.pretrained import CONFIG_NAME, PretrainedMixin


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


class Vocoder(PretrainedMixin, nn.Module):
    """Base class of the vocoders: log-mel spectrogram in, waveform out.

    Shapes (the contract every subclass keeps):
        input ``mel``: ``(batch, n_mels, frames)``, natural-log amplitude mel
        ``ln(max(mel, log_floor))`` as produced by :class:`audiogen.audio.spectral.LogMelSpectrogram`
        with the vocoder's :class:`~audiogen.config.MelConfig`; ``frames >= 1``.
        output ``waveform``: ``(batch, 1, frames * hop_length)``, float, nominally in ``[-1, 1]``, at
        ``sample_rate`` Hz. Output sample ``n`` aligns with sample ``n`` of the clip the mel was
        computed from (frame ``t`` centred on sample ``t * hop_length``); see the module docstring.

    Subclasses set ``config_class`` to a dataclass with a ``mel: MelConfig`` field, store the
    instance as ``self.config``, and implement :meth:`forward`. Saving and loading is the project's
    model-folder format (``config.json`` + ``model.safetensors``,
    :class:`audiogen.models.pretrained.PretrainedMixin`): ``save_pretrained(directory)``,
    ``from_pretrained(directory, device)``.
    """

    @property
    def mel_config(self) -> MelConfig:
        """The front end the vocoder expects its input from."""
        return self.config.mel

    @property
    def hop_length(self) -> int:
        """Output samples per input frame."""
        return self.config.mel.hop_length

    @property
    def sample_rate(self) -> int:
        """Output sample rate in Hz."""
        return self.config.mel.sample_rate

    @property
    def n_mels(self) -> int:
        """Mel bands expected at the input."""
        return self.config.mel.n_mels

    def num_samples(self, frames: int) -> int:
        """Output length in samples for ``frames`` input frames: ``frames * hop_length``."""
        return frames * self.hop_length

    def check_mel(self, mel: torch.Tensor) -> None:
        """Validate a ``(batch, n_mels, frames)`` input.

        Raises:
            ValueError: if ``mel`` is not 3-D, has the wrong number of mel bands, has no frames, or is
                not floating point.
        """
        name = type(self).__name__
        if mel.ndim != 3:
            raise ValueError(f"{name}: mel must be (batch, n_mels, frames), got shape {tuple(mel.shape)}")
        if mel.shape[1] != self.n_mels:
            raise ValueError(f"{name}: expected n_mels={self.n_mels}, got mel of shape {tuple(mel.shape)}")
        if mel.shape[2] < 1:
            raise ValueError(f"{name}: mel has no frames (shape {tuple(mel.shape)})")
        if not mel.is_floating_point():
            raise ValueError(f"{name}: mel must be floating point, got {mel.dtype}")

    def forward(self, mel: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Map ``(batch, n_mels, frames)`` log-mel to a ``(batch, 1, frames * hop_length)`` waveform."""
        raise NotImplementedError

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> Vocoder:
        """Load a vocoder folder (``config.json`` + ``model.safetensors``) in eval mode.

        Called on :class:`Vocoder` it builds whichever subclass ``config.json`` names; called on a
        subclass it requires that class (see :meth:`PretrainedMixin.from_pretrained`).

        Raises:
            FileNotFoundError: if ``config.json`` or ``model.safetensors`` is missing.
            ValueError: if ``config.json`` is malformed or names an unknown (or, on a subclass, a
                different) class, or the weights do not match the configuration.
        """
        if cls is not Vocoder:
            return super().from_pretrained(directory, device)
        config_path = Path(directory) / CONFIG_NAME
        if not config_path.is_file():
            raise FileNotFoundError(f"{directory}: missing {CONFIG_NAME}")
        try:
            class_name = json.loads(config_path.read_text())["class"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ValueError(f"{config_path}: not a model config with a 'class' key ({e})") from e
        classes = {c.__name__: c for c in _vocoder_classes()}
        if class_name not in classes:
            raise ValueError(f"{config_path}: {class_name!r} is not a vocoder; known: {sorted(classes)}")
        return classes[class_name].from_pretrained(directory, device)


def _vocoder_classes() -> list[type[Vocoder]]:
    """All :class:`Vocoder` subclasses defined so far (recursively)."""
    found, stack = [], list(Vocoder.__subclasses__())
    while stack:
        klass = stack.pop()
        found.append(klass)
        stack.extend(klass.__subclasses__())
    return found


class ConvNeXtBlock(nn.Module):
    """ConvNeXt-1D block as in Vocos: depthwise conv → LayerNorm → MLP (GELU) → layer scale → residual.

    Works channels-last so that the LayerNorm and both linear layers need no transposes.
    Shapes: ``x`` ``(batch, frames, dim)`` → ``(batch, frames, dim)``.
    Reference: ``vocos/modules.py::ConvNeXtBlock`` (without its AdaLayerNorm conditioning).
    """

    def __init__(self, dim: int, intermediate_dim: int, kernel_size: int, layer_scale_init: float):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), float(layer_scale_init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, frames, dim)`` → ``(batch, frames, dim)``."""
        h = rearrange(self.dwconv(rearrange(x, "b t c -> b c t")), "b c t -> b t c")
        h = self.pwconv2(F.gelu(self.pwconv1(self.norm(h))))
        return torch.addcmul(x, h, self.gamma)


def overlap_add(frames: torch.Tensor, hop_length: int) -> torch.Tensor:
    """Overlap-add ``(batch, frames, frame_length)`` with hop ``hop_length`` into ``(batch, samples)``.

    ``samples = (frames - 1) * hop_length + frame_length``; frame ``t`` starts at sample
    ``t * hop_length``. When ``frame_length`` is a multiple of ``hop_length`` (the usual
    ``n_fft = 4 * hop_length``) this is ``frame_length / hop_length`` shifted additions of
    ``(batch, frames, hop_length)`` blocks, which is faster on CPU than :func:`torch.nn.functional.fold`;
    otherwise it uses ``fold``.
    """
    batch, num_frames, frame_length = frames.shape
    if frame_length % hop_length == 0:
        ratio = frame_length // hop_length
        blocks = rearrange(frames, "b t (r h) -> b t r h", h=hop_length)
        out = frames.new_zeros(batch, num_frames + ratio - 1, hop_length)
        for r in range(ratio):
            out[:, r : r + num_frames] += blocks[:, :, r]
        return rearrange(out, "b k h -> b (k h)")
    length = (num_frames - 1) * hop_length + frame_length
    folded = F.fold(
        rearrange(frames, "b t n -> b n t"),
        output_size=(1, length),
        kernel_size=(1, frame_length),
        stride=(1, hop_length),
    )
    return rearrange(folded, "b 1 1 n -> b n")


class ISTFTHead(nn.Module):
    """Vocos' iSTFT head: per-frame linear layer → log-magnitude and phase → inverse STFT.

    Shapes: ``x`` ``(batch, frames, dim)`` → waveform ``(batch, 1, frames * hop_length)``.

    The linear layer predicts ``n_fft // 2 + 1`` log-magnitudes and as many phases (radians) per
    frame; the complex spectrum is ``exp(log_mag) · (cos φ + i sin φ)`` (Vocos writes the phase as the
    unit vector ``(cos φ, sin φ)``, which needs no phase wrapping). The magnitude is clamped at
    ``exp(max_log_magnitude)``. The inverse STFT equals :func:`torch.istft` with a Hann window of
    ``n_fft`` samples, ``center=True`` and ``length = frames * hop_length`` (inverse FFT, window,
    overlap-add, division by the summed squared window, dropping the first ``n_fft // 2`` samples),
    written out so that it stays channels-last and avoids ``torch.istft``'s per-call checks; it is
    computed in float32 even under autocast. Reference: ``vocos/heads.py::ISTFTHead`` and
    ``vocos/spectral_ops.py::ISTFT``.
    """

    def __init__(self, dim: int, n_fft: int, hop_length: int, max_log_magnitude: float):
        super().__init__()
        self.n_fft, self.hop_length, self.max_log_magnitude = n_fft, hop_length, max_log_magnitude
        self.out = nn.Linear(dim, n_fft + 2)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def spectrum(self, x: torch.Tensor) -> torch.Tensor:
        """Complex STFT ``(batch, frames, n_fft // 2 + 1)`` (channels-last) from ``(batch, frames, dim)``."""
        log_mag, phase = self.out(x).float().chunk(2, dim=-1)
        magnitude = torch.exp(log_mag.clamp(max=self.max_log_magnitude))
        return torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))

    def istft(self, spec: torch.Tensor) -> torch.Tensor:
        """Inverse STFT of ``(batch, frames, n_fft // 2 + 1)`` complex → ``(batch, frames * hop_length)``."""
        num_frames = spec.shape[1]
        window = self.window.float()
        frames = torch.fft.irfft(spec, n=self.n_fft, dim=-1) * window
        audio = overlap_add(frames, self.hop_length)
        envelope = overlap_add(
            rearrange(window.square(), "n -> 1 1 n").expand(1, num_frames, -1), self.hop_length
        )
        start, stop = self.n_fft // 2, self.n_fft // 2 + num_frames * self.hop_length
        return audio[:, start:stop] / envelope[:, start:stop]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, frames, dim)`` → ``(batch, 1, frames * hop_length)``."""
        return rearrange(self.istft(self.spectrum(x)), "b n -> b 1 n")


class VocosVocoder(Vocoder):
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
        scale = config.layer_scale_init if config.layer_scale_init is not None else 1.0 / config.num_layers
        self.embed = nn.Conv1d(
            config.mel.n_mels, config.dim, config.kernel_size, padding=config.kernel_size // 2
        )
        self.norm = nn.LayerNorm(config.dim, eps=1e-6)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(config.dim, config.intermediate_dim, config.kernel_size, scale)
            for _ in range(config.num_layers)
        )
        self.final_norm = nn.LayerNorm(config.dim, eps=1e-6)
        self.head = ISTFTHead(config.dim, config.n_fft, config.hop_length, config.max_log_magnitude)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        """Vocos' initialisation: truncated normal (std 0.02) weights, zero biases."""
        if isinstance(module, nn.Conv1d | nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def features(self, mel: torch.Tensor) -> torch.Tensor:
        """Backbone output ``(batch, frames, dim)`` for ``mel`` ``(batch, n_mels, frames)``."""
        x = self.norm(rearrange(self.embed(mel), "b c t -> b t c"))
        for block in self.blocks:
            x = block(x)
        return self.final_norm(x)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """``(batch, n_mels, frames)`` log-mel → ``(batch, 1, frames * hop_length)`` waveform.

        Raises:
            ValueError: if ``mel`` is not ``(batch, n_mels, frames)`` floating point with ``frames >= 1``.
        """
        self.check_mel(mel)
        return self.head(self.features(mel))
