"""Neural vocoders: natural-log mel spectrogram → waveform.

Two classes share the :class:`Vocoder` contract below and are picked by name from a recipe
(``model.vocoder.type``, :data:`VOCODER_TYPES`) or from a model folder's ``config.json``
(:meth:`Vocoder.from_pretrained`): :class:`VocosVocoder` (``"vocos"``, described here) and the
hybrid :class:`GLRefineVocoder` (``"gl_refine"``: NNLS mel inversion + fast Griffin-Lim + a learned
complex refinement, after Masuyama et al. 2019, "Deep Griffin-Lim Iteration"; see its docstring).

:class:`VocosVocoder` is Vocos-style (Siuzdenko 2023, "Vocos: Closing the gap between time-domain and
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
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from audiogen.config import MelConfig, from_dict
from audiogen.models.pretrained import PretrainedMixin


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
        from audiogen.hub import load_model

        return load_model(directory, device=device, base=Vocoder)


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


def istft_centered(spec: torch.Tensor, window: torch.Tensor, n_fft: int, hop_length: int) -> torch.Tensor:
    """Inverse STFT of a channels-last complex spectrogram, ``center=True`` framing.

    Shapes: ``spec`` ``(batch, frames, n_fft // 2 + 1)`` complex → ``(batch, frames * hop_length)``
    float32 samples. Equals :func:`torch.istft` with ``window`` (``n_fft`` samples), ``center=True``
    and ``length = frames * hop_length``: inverse real FFT, windowing, overlap-add, division by the
    summed squared window, dropping the first ``n_fft // 2`` samples. Needs ``n_fft >= 4 *
    hop_length`` for a well-conditioned last hop (see :class:`VocoderConfig`).
    """
    num_frames = spec.shape[1]
    window = window.float()
    frames = torch.fft.irfft(spec, n=n_fft, dim=-1) * window
    audio = overlap_add(frames, hop_length)
    envelope = overlap_add(rearrange(window.square(), "n -> 1 1 n").expand(1, num_frames, -1), hop_length)
    start, stop = n_fft // 2, n_fft // 2 + num_frames * hop_length
    return audio[:, start:stop] / envelope[:, start:stop]


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
        return istft_centered(spec, self.window, self.n_fft, self.hop_length)

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


# ------------------------------------------------------------------------------------------------
# hybrid vocoder: Griffin-Lim phase retrieval + learned complex refinement (Deep Griffin-Lim style)
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GLRefineConfig:
    """Hyper-parameters of :class:`GLRefineVocoder`.

    Attributes:
        mel: the log-mel front end whose output the vocoder inverts. The Griffin-Lim projections and
            the inverse STFT use a Hann window of ``mel.n_fft`` samples and ``mel.hop_length``.
        gl_iters: fast Griffin-Lim iterations (Perraudin et al. 2013) run before the refiner
            (``torchaudio``'s default is 32, as the project's Griffin-Lim baseline).
        momentum: fast Griffin-Lim momentum in ``[0, 1)`` (0.99 as ``torchaudio``).
        nnls_steps: multiplicative NNLS updates of the mel-filterbank inversion
            (:func:`audiogen.audio.spectral._invert_filterbank`).
        init_seed: seed of the fixed random initial phase (uniform in ``[0, 2π)``, drawn on the CPU
            for each ``(n_freqs, frames)`` shape, so a mel always gives the same waveform).
        dim: ConvNeXt channel width of the refiner.
        intermediate_dim: hidden width of each block's pointwise MLP.
        num_layers: ConvNeXt blocks.
        kernel_size: depthwise kernel (frames) of each block and of the input embedding (odd).
        layer_scale_init: initial per-channel residual scale; ``None`` means ``1 / num_layers``.
        max_log_gain: bound (nepers) of the predicted log-magnitude correction, applied as
            ``max_log_gain · tanh(Δ / max_log_gain)`` (identity near 0, no overflow).
    """

    mel: MelConfig = field(default_factory=MelConfig)
    gl_iters: int = 32
    momentum: float = 0.99
    nnls_steps: int = 10
    init_seed: int = 0
    dim: int = 160
    intermediate_dim: int = 480
    num_layers: int = 4
    kernel_size: int = 7
    layer_scale_init: float | None = None
    max_log_gain: float = 3.0

    def __post_init__(self) -> None:
        if isinstance(self.mel, dict):  # from config.json / a recipe section
            object.__setattr__(self, "mel", from_dict(MelConfig, self.mel))
        for name in ("dim", "intermediate_dim", "num_layers", "kernel_size", "gl_iters"):
            if getattr(self, name) <= 0:
                raise ValueError(f"GLRefineConfig.{name} must be positive, got {getattr(self, name)}")
        if self.nnls_steps < 0:
            raise ValueError(f"GLRefineConfig.nnls_steps must be >= 0, got {self.nnls_steps}")
        if self.kernel_size % 2 != 1:
            raise ValueError(f"GLRefineConfig.kernel_size must be odd, got {self.kernel_size}")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"GLRefineConfig.momentum must be in [0, 1), got {self.momentum}")
        if self.max_log_gain <= 0:
            raise ValueError(f"GLRefineConfig.max_log_gain must be positive, got {self.max_log_gain}")
        if self.n_fft % 2 != 0 or self.n_fft < 4 * self.mel.hop_length:
            raise ValueError(
                f"GLRefineConfig: mel.n_fft must be even and >= 4 * hop_length ({4 * self.mel.hop_length}), "
                f"got {self.n_fft}"
            )

    @property
    def n_fft(self) -> int:
        """FFT size (samples) of the Griffin-Lim projections and of the inverse STFT (``mel.n_fft``)."""
        return self.mel.n_fft

    @property
    def hop_length(self) -> int:
        """Samples per mel frame."""
        return self.mel.hop_length

    @property
    def n_freqs(self) -> int:
        """Frequency bins of the STFT, ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict for JSON."""
        return dataclasses.asdict(self)


@dataclass
class GLRefineOutput:
    """What :meth:`GLRefineVocoder.analyse` computes for a mel.

    Attributes:
        waveform: refined waveform ``(batch, 1, frames * hop_length)``.
        gl_waveform: the Griffin-Lim waveform the refiner started from, same shape.
        spectrum: refined complex STFT ``(batch, n_freqs, frames)``.
        gl_spectrum: Griffin-Lim complex STFT ``(batch, n_freqs, frames)`` (NNLS magnitude, GL phase).
    """

    waveform: torch.Tensor
    gl_waveform: torch.Tensor
    spectrum: torch.Tensor
    gl_spectrum: torch.Tensor


@dataclass(frozen=True)
class _ProjectionPlan:
    """Per-run constants of :meth:`GLRefineVocoder._project` (see :meth:`GLRefineVocoder._projection_plan`).

    Attributes:
        gain: per-sample factor on the raw overlap-add ``(samples,)``, or on the wrapped period
            ``(period,)`` when ``index`` is set.
        index: ``(samples,)`` long, each overlap-add sample's time modulo the period (circular
            framing), or None (zero-padded framing).
    """

    gain: torch.Tensor
    index: torch.Tensor | None = None


class GLRefineVocoder(Vocoder):
    """Hybrid vocoder: NNLS mel inversion + fast Griffin-Lim phase, then a learned complex refinement.

    Follows Masuyama et al. 2019, "Deep Griffin-Lim Iteration" (ICASSP, https://arxiv.org/abs/1903.03971),
    which refines the complex spectrogram given by Griffin-Lim projections with a DNN; here the DNN
    is a small Vocos-style ConvNeXt-1D stack at the frame rate (Siuzdenko 2023), applied once after
    ``gl_iters`` fast Griffin-Lim iterations (Perraudin et al. 2013) rather than interleaved.

    Forward, for ``mel`` ``(batch, n_mels, frames)`` natural-log amplitude:

    1. without gradients, in float32: magnitude ``|S| (batch, n_freqs, frames)`` = non-negative
       least-squares inverse of the mel filterbank applied to ``exp(mel)`` (``** (1 / power)``);
       phase by ``gl_iters`` fast Griffin-Lim iterations (momentum ``momentum``) from a fixed
       random phase, with a Hann window of ``n_fft``, ``hop_length``, centred frames and zero
       padding at the ends (the inverse STFT of :func:`istft_centered`, length ``frames * hop_length``).
       This gives ``X_gl = |S| · e^{iφ}``.
    2. per-frame features ``(batch, 3 · n_freqs + n_mels, frames)``: ``ln|X_gl|``,
       ``ln|STFT(iSTFT(X_gl))|`` (the magnitude the GL waveform really has, i.e. where the spectrogram
       is inconsistent), ``Δφ_t = φ_t − φ_{t−1}`` wrapped to ``(−π, π]`` scaled by ``1/π`` (the
       instantaneous-frequency cue), and the input log-mel.
    3. a conv embedding, ``num_layers`` :class:`ConvNeXtBlock`, LayerNorm and a linear head to
       ``2 · n_freqs`` values per frame: a log-gain ``g`` (bounded by ``max_log_gain · tanh``) and a
       phase shift ``ψ`` (radians); ``X = X_gl · e^{g + iψ}``. The head is zero-initialised, so the
       untrained model outputs exactly the Griffin-Lim waveform.
    4. :func:`istft_centered` → waveform ``(batch, 1, frames * hop_length)`` (the length contract of
       :class:`Vocoder`).

    Gradients reach only the refiner (steps 2–4); Griffin-Lim has no parameters.

    Raises (from :meth:`forward`):
        ValueError: if ``mel`` is not ``(batch, n_mels, frames)`` floating point with ``frames >= 1``.
    """

    config_class = GLRefineConfig

    def __init__(self, config: GLRefineConfig | None = None):
        super().__init__()
        self.config = config = config or GLRefineConfig()
        scale = config.layer_scale_init if config.layer_scale_init is not None else 1.0 / config.num_layers
        in_channels = 3 * config.n_freqs + config.mel.n_mels
        self.embed = nn.Conv1d(in_channels, config.dim, config.kernel_size, padding=config.kernel_size // 2)
        self.norm = nn.LayerNorm(config.dim, eps=1e-6)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(config.dim, config.intermediate_dim, config.kernel_size, scale)
            for _ in range(config.num_layers)
        )
        self.final_norm = nn.LayerNorm(config.dim, eps=1e-6)
        self.out = nn.Linear(config.dim, 2 * config.n_freqs)
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)
        self.apply(VocosVocoder._init_weights)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    # ------------------------------------------------------------------ STFT helpers
    def _stft(self, wave: torch.Tensor, frames: int, circular: bool) -> torch.Tensor:
        """STFT ``(batch, n_freqs, frames)`` of ``(batch, samples)``: centred frames, Hann ``n_fft``.

        Frame ``t`` is centred on sample ``t * hop_length``; outside the signal it sees zeros, or
        with ``circular`` the signal repeated with period ``samples``.
        """
        n_fft, hop = self.config.n_fft, self.config.hop_length
        if circular:
            index = (
                rearrange(torch.arange(frames, device=wave.device) * hop - n_fft // 2, "t -> t 1")
                + torch.arange(n_fft, device=wave.device)
            ) % wave.shape[-1]
            segments = wave[:, index] * self.window.float()  # (batch, frames, n_fft)
            return rearrange(torch.fft.rfft(segments, dim=-1), "b t f -> b f t")
        window = self.window.float()
        spec = torch.stft(
            wave, n_fft, hop, n_fft, window, center=True, pad_mode="constant", return_complex=True
        )
        return spec[..., :frames]

    def _istft(self, spec: torch.Tensor, circular: bool) -> torch.Tensor:
        """Inverse of :meth:`_stft`: ``(batch, n_freqs, frames)`` → ``(batch, frames * hop_length)``.

        With ``circular`` the overlap-add wraps around a period of ``frames * hop_length`` samples.
        """
        n_fft, hop = self.config.n_fft, self.config.hop_length
        spec = rearrange(spec, "b f t -> b t f")
        if not circular:
            return istft_centered(spec, self.window, n_fft, hop)
        num_frames, period = spec.shape[1], spec.shape[1] * hop
        window = self.window.float()
        audio = overlap_add(torch.fft.irfft(spec, n=n_fft, dim=-1) * window, hop)
        envelope = overlap_add(rearrange(window.square(), "n -> 1 1 n").expand(1, num_frames, -1), hop)
        index = (torch.arange(audio.shape[-1], device=spec.device) - n_fft // 2) % period
        wrapped = audio.new_zeros(audio.shape[0], period).index_add_(1, index, audio)
        norm = envelope.new_zeros(1, period).index_add_(1, index, envelope)
        return wrapped / norm

    def _projection_plan(self, frames: int, circular: bool, device: torch.device) -> _ProjectionPlan:
        """What :meth:`_project` needs for ``frames`` frames, computed once per Griffin-Lim run.

        The raw overlap-add of ``frames`` windowed frames has ``(frames - 1) * hop_length + n_fft``
        samples; its sample ``i`` is time ``i - n_fft // 2`` of the waveform :meth:`_istft` returns.
        Non-circular: ``gain`` is ``1 / Σ window²`` on the ``frames * hop_length`` samples that
        :meth:`_istft` keeps and 0 elsewhere, so the scaled overlap-add is that waveform already
        zero-padded by ``n_fft // 2`` each side as :meth:`_stft` pads it. Circular: ``index`` maps
        each overlap-add sample to its time modulo the period ``frames * hop_length`` (to wrap the
        overlap-add, then to read the frames back from the wrapped waveform), and ``gain`` is
        ``1 / Σ window²`` of the wrapped window envelope ``(period,)``.
        """
        n_fft, hop = self.config.n_fft, self.config.hop_length
        window = self.window.float().to(device)
        envelope = overlap_add(rearrange(window.square(), "n -> 1 1 n").expand(1, frames, -1), hop)[0]
        if not circular:
            gain = torch.zeros_like(envelope)
            keep = slice(n_fft // 2, n_fft // 2 + frames * hop)
            gain[keep] = 1.0 / envelope[keep]
            return _ProjectionPlan(gain=gain)
        period = frames * hop
        index = (torch.arange(envelope.shape[0], device=device) - n_fft // 2) % period
        wrapped = envelope.new_zeros(period).index_add_(0, index, envelope)
        return _ProjectionPlan(gain=1.0 / wrapped, index=index)

    def _project(
        self, spec: torch.Tensor, circular: bool, plan: _ProjectionPlan | None = None
    ) -> torch.Tensor:
        """``STFT(iSTFT(spec))`` channels-last: complex ``(batch, frames, n_freqs)`` → the same shape.

        The Griffin-Lim projection onto consistent spectrograms, equal to :meth:`_stft` of
        :meth:`_istft` (same framing; zero padding, or with ``circular`` wrap-around at the period
        ``frames * hop_length``). It never forms the waveform separately: inverse FFT, window,
        overlap-add, then the envelope division and the padding (or wrapping) of
        :meth:`_projection_plan`, then the frames as strided views of that signal, window, FFT;
        2–3× faster on CPU than the inverse and forward STFT written out.
        ``plan``: a precomputed :meth:`_projection_plan` for these frames (computed if None).
        """
        frames = spec.shape[1]
        n_fft, hop = self.config.n_fft, self.config.hop_length
        if plan is None:
            plan = self._projection_plan(frames, circular, spec.device)
        window = self.window.float()
        audio = overlap_add(torch.fft.irfft(spec, n=n_fft, dim=-1) * window, hop)
        if plan.index is None:
            audio = audio * plan.gain
        else:  # wrap the overlap-add onto one period, normalise, and lay it out again with wrap-around
            wave = audio.new_zeros(audio.shape[0], plan.gain.shape[0]).index_add_(1, plan.index, audio)
            audio = (wave * plan.gain)[:, plan.index]
        return torch.fft.rfft(audio.unfold(-1, n_fft, hop) * window, dim=-1)

    # ------------------------------------------------------------------ the three stages
    def griffin_lim_spectrum(
        self, mel: torch.Tensor, circular: bool = False, init: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Complex spectrogram ``(batch, n_freqs, frames)`` from NNLS magnitude + fast Griffin-Lim phase.

        Same algorithm as ``torchaudio.functional.griffinlim`` (fast GL, Perraudin et al. 2013), with
        this model's framing (:meth:`_stft` / :meth:`_istft`) and a fixed-seed random initial phase.
        Runs in float32 without gradients. ``circular``: treat the mel as one period of a loop.
        ``init``: optional complex ``(batch, n_freqs, frames)`` whose phase starts the iterations
        where it is non-zero (e.g. a neighbouring chunk's result on shared frames, so that chunks
        vocoded one after another agree there; :func:`audiogen.longform.vocode_chunked`).
        """
        from audiogen.audio.spectral import _invert_filterbank, filterbank_inverse

        cfg = self.config
        frames = mel.shape[-1]
        with torch.no_grad(), torch.autocast(mel.device.type, enabled=False):
            operators = filterbank_inverse(cfg.mel, str(mel.device))  # pseudo-inverse + sparse filterbank
            power_spec = _invert_filterbank(mel.float().exp(), operators, cfg.nnls_steps)
            magnitude = power_spec.pow(1.0 / cfg.mel.power) if cfg.mel.power != 1.0 else power_spec
            gen = torch.Generator().manual_seed(cfg.init_seed)
            phase = torch.rand(cfg.n_freqs, frames, generator=gen) * (2 * math.pi)
            # channels-last (batch, frames, n_freqs) inside the loop: the FFTs run over the last axis
            magnitude = rearrange(magnitude, "b f t -> b t f").contiguous()
            angles = rearrange(torch.polar(torch.ones_like(phase), phase), "f t -> 1 t f").to(mel.device)
            angles = angles.expand_as(magnitude)
            if init is not None:
                given = rearrange(init.to(mel.device), "b f t -> b t f")
                angles = torch.where(given.abs() > 0, torch.sgn(given), angles)
            plan = self._projection_plan(frames, circular, mel.device)
            previous = torch.zeros_like(magnitude, dtype=angles.dtype)
            for _ in range(cfg.gl_iters):
                rebuilt = self._project(magnitude * angles, circular, plan)
                # torch.add with alpha and torch.sgn (z / |z|, 0 at 0): several times faster on CPU than
                # `rebuilt - previous * c` and `z / (|z| + eps)` on complex tensors
                angles = torch.sgn(torch.add(rebuilt, previous, alpha=-cfg.momentum / (1 + cfg.momentum)))
                previous = rebuilt
            return rearrange(magnitude * angles, "b t f -> b f t")

    def refine(self, gl_spectrum: torch.Tensor, mel: torch.Tensor, circular: bool = False) -> torch.Tensor:
        """Refined complex spectrogram ``(batch, n_freqs, frames)`` = ``X_gl · exp(g + iψ)``.

        Args:
            gl_spectrum: ``X_gl`` ``(batch, n_freqs, frames)`` complex from :meth:`griffin_lim_spectrum`.
            mel: the input log-mel ``(batch, n_mels, frames)``.
            circular: wrap the convolutions around the frame axis (a loop) instead of zero padding.
        """
        cfg = self.config
        frames = mel.shape[-1]
        with torch.no_grad(), torch.autocast(mel.device.type, enabled=False):
            consistent = rearrange(
                self._project(rearrange(gl_spectrum, "b f t -> b t f"), circular), "b t f -> b f t"
            )
            phase = torch.angle(gl_spectrum)
            previous = torch.roll(phase, 1, dims=-1) if circular else F.pad(phase, (1, 0))[..., :-1]
            advance = torch.remainder(phase - previous + math.pi, 2 * math.pi) - math.pi
            features = torch.cat(
                [
                    torch.log(gl_spectrum.abs().clamp_min(1e-5)),
                    torch.log(consistent.abs().clamp_min(1e-5)),
                    advance / math.pi,
                    mel.float(),
                ],
                dim=1,
            )  # (batch, 3 * n_freqs + n_mels, frames)
        context = self.receptive_field if circular else 0
        if context:
            index = torch.arange(-context, frames + context, device=mel.device) % frames
            features = features[..., index]
        x = self.norm(rearrange(self.embed(features.to(self.embed.weight.dtype)), "b c t -> b t c"))
        for block in self.blocks:
            x = block(x)
        x = self.out(self.final_norm(x)).float()[:, context : context + frames]
        log_gain, shift = rearrange(x, "b t (two f) -> two b f t", two=2)
        log_gain = cfg.max_log_gain * torch.tanh(log_gain / cfg.max_log_gain)
        return gl_spectrum * torch.polar(torch.exp(log_gain), shift)

    @property
    def receptive_field(self) -> int:
        """Frames each side that the refiner's convolutions reach (the Griffin-Lim stage reaches further)."""
        return (self.config.kernel_size // 2) * (self.config.num_layers + 1)

    def analyse(
        self, mel: torch.Tensor, circular: bool = False, init: torch.Tensor | None = None
    ) -> GLRefineOutput:
        """Every stage's result for ``mel`` ``(batch, n_mels, frames)``; see :class:`GLRefineOutput`.

        ``init``: initial Griffin-Lim phase where non-zero, as :meth:`griffin_lim_spectrum`.

        Raises:
            ValueError: if ``mel`` is not ``(batch, n_mels, frames)`` floating point with ``frames >= 1``.
        """
        self.check_mel(mel)
        gl_spectrum = self.griffin_lim_spectrum(mel, circular, init)
        spectrum = self.refine(gl_spectrum, mel, circular)
        with torch.no_grad():
            gl_waveform = rearrange(self._istft(gl_spectrum, circular), "b n -> b 1 n")
        waveform = rearrange(self._istft(spectrum, circular), "b n -> b 1 n")
        return GLRefineOutput(waveform, gl_waveform, spectrum, gl_spectrum)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """``(batch, n_mels, frames)`` log-mel → ``(batch, 1, frames * hop_length)`` waveform.

        Raises:
            ValueError: if ``mel`` is not ``(batch, n_mels, frames)`` floating point with ``frames >= 1``.
        """
        self.check_mel(mel)
        spectrum = self.refine(self.griffin_lim_spectrum(mel), mel)
        return rearrange(self._istft(spectrum, circular=False), "b n -> b 1 n")

    def vocode_circular(self, mel: torch.Tensor) -> torch.Tensor:
        """One period of a loop: periodic mel ``(batch, n_mels, M)`` → ``(batch, 1, M * hop_length)``.

        Griffin-Lim, the refiner's convolutions and the inverse STFT all wrap around the ``M``
        frames, so the output repeated end to end has no seam. Use this instead of vocoding a mel
        padded with a finite wrapped context: Griffin-Lim couples every frame to every other, so no
        finite context makes the ends of a non-circular run line up.

        Raises:
            ValueError: if ``mel`` is not ``(batch, n_mels, M)`` floating point with ``M >= 1``.
        """
        self.check_mel(mel)
        spectrum = self.refine(self.griffin_lim_spectrum(mel, circular=True), mel, circular=True)
        return rearrange(self._istft(spectrum, circular=True), "b n -> b 1 n")


#: Vocoder classes by the short name a recipe's ``model.vocoder.type`` uses, with their configs.
VOCODER_TYPES: dict[str, tuple[type[Vocoder], type]] = {
    "vocos": (VocosVocoder, VocoderConfig),
    "gl_refine": (GLRefineVocoder, GLRefineConfig),
}


@dataclass(frozen=True)
class VocoderSpec:
    """A vocoder type and its resolved configuration (see :func:`vocoder_spec`).

    Attributes:
        type: key of :data:`VOCODER_TYPES` (``"vocos"`` or ``"gl_refine"``).
        config: the matching config dataclass (:class:`VocoderConfig` or :class:`GLRefineConfig`).
    """

    type: str
    config: Any

    def build(self) -> Vocoder:
        """A fresh (untrained) vocoder of this type and configuration."""
        return VOCODER_TYPES[self.type][0](self.config)


def vocoder_spec(fields: dict[str, Any] | None, mel: MelConfig) -> VocoderSpec:
    """Resolve a recipe's ``model.vocoder`` section against the recipe's front end.

    Args:
        fields: the section: an optional ``type`` (a key of :data:`VOCODER_TYPES`, default
            ``"vocos"``) and the chosen config dataclass's fields except ``mel``.
        mel: the front end (the recipe's ``mel`` section).

    Returns:
        :class:`VocoderSpec` with the type and the validated config.

    Raises:
        ValueError: if ``type`` is unknown (lists the known ones), ``mel`` is given in ``fields``, or
            a field is unknown / invalid for the chosen config.
    """
    fields = dict(fields or {})
    kind = fields.pop("type", "vocos")
    if kind not in VOCODER_TYPES:
        raise ValueError(f"model.vocoder.type: unknown vocoder {kind!r}; known: {sorted(VOCODER_TYPES)}")
    if "mel" in fields:
        raise ValueError("model.vocoder.mel: the front end is set in the recipe's 'mel' section")
    return VocoderSpec(kind, from_dict(VOCODER_TYPES[kind][1], {**fields, "mel": mel}))


def build_vocoder(fields: dict[str, Any] | None, mel: MelConfig) -> Vocoder:
    """A fresh vocoder from a recipe's ``model.vocoder`` section: ``vocoder_spec(fields, mel).build()``.

    Raises:
        ValueError: as :func:`vocoder_spec`.
    """
    return vocoder_spec(fields, mel).build()
