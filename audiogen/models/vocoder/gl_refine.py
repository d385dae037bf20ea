"""The hybrid vocoder: NNLS mel inversion + fast Griffin-Lim phase, then a learned complex refinement.

:class:`GLRefineVocoder` (recipe type ``"gl_refine"``) follows Masuyama et al. 2019, "Deep
Griffin-Lim Iteration": Griffin-Lim projections give a complex spectrogram, and a small ConvNeXt-1D
trunk (:mod:`audiogen.models.vocoder.backbone`) predicts a bounded gain and a phase shift per bin
that refine it; see the class docstring.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from audiogen.config import MelConfig, from_dict
from audiogen.models.vocoder.backbone import ConvNeXtBackbone, init_weights
from audiogen.models.vocoder.base import Vocoder
from audiogen.models.vocoder.heads import istft_centered, overlap_add


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
            (:func:`audiogen.audio.inverse._invert_filterbank`).
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


class GLRefineVocoder(ConvNeXtBackbone, Vocoder):
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
    3. the trunk (:class:`~audiogen.models.vocoder.backbone.ConvNeXtBackbone`: a conv embedding,
       ``num_layers`` ConvNeXt blocks, LayerNorm) and a linear head to
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
        self.build_backbone(
            3 * config.n_freqs + config.mel.n_mels,
            config.dim,
            config.intermediate_dim,
            config.num_layers,
            config.kernel_size,
            config.layer_scale_init,
        )
        self.out = nn.Linear(config.dim, 2 * config.n_freqs)
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)
        self.apply(init_weights)
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
        self,
        mel: torch.Tensor,
        circular: bool = False,
        init: torch.Tensor | None = None,
        hold: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Complex spectrogram ``(batch, n_freqs, frames)`` from NNLS magnitude + fast Griffin-Lim phase.

        Same algorithm as ``torchaudio.functional.griffinlim`` (fast GL, Perraudin et al. 2013), with
        this model's framing (:meth:`_stft` / :meth:`_istft`) and a fixed-seed random initial phase.
        Runs in float32 without gradients. ``circular``: treat the mel as one period of a loop.
        ``init``: optional complex ``(batch, n_freqs, frames)`` whose phase starts the iterations
        where it is non-zero (e.g. a neighbouring chunk's result on shared frames, so that chunks
        vocoded one after another agree there; :func:`audiogen.pipelines.windows.vocode_chunked`).
        ``hold``: optional bool ``(frames,)``: frames whose phase stays ``init``'s through every
        iteration (frames already played by the previous chunk), as RTISI-LA does (Zhu, Beauregard
        and Wyse 2007, "Real-time signal estimation from modified short-time Fourier transform
        magnitude spectra"): the new frames' phases converge to agree with them.
        """
        from audiogen.audio.filterbank import filterbank_inverse
        from audiogen.audio.inverse import _invert_filterbank

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
            held = None
            if init is not None:
                given = rearrange(init.to(mel.device), "b f t -> b t f")
                known, fixed = given.abs() > 0, torch.sgn(given)
                angles = torch.where(known, fixed, angles)
                if hold is not None and bool(hold.any()):  # else no where() in every iteration
                    held = rearrange(hold.to(mel.device), "t -> 1 t 1") & known
            plan = self._projection_plan(frames, circular, mel.device)
            previous = torch.zeros_like(magnitude, dtype=angles.dtype)
            for _ in range(cfg.gl_iters):
                rebuilt = self._project(magnitude * angles, circular, plan)
                # torch.add with alpha and torch.sgn (z / |z|, 0 at 0): several times faster on CPU than
                # `rebuilt - previous * c` and `z / (|z| + eps)` on complex tensors
                angles = torch.sgn(torch.add(rebuilt, previous, alpha=-cfg.momentum / (1 + cfg.momentum)))
                if held is not None:
                    angles = torch.where(held, fixed, angles)
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
        x = self.backbone(features.to(self.embed.weight.dtype))
        x = self.out(x).float()[:, context : context + frames]
        log_gain, shift = rearrange(x, "b t (two f) -> two b f t", two=2)
        log_gain = cfg.max_log_gain * torch.tanh(log_gain / cfg.max_log_gain)
        return gl_spectrum * torch.polar(torch.exp(log_gain), shift)

    @property
    def receptive_field(self) -> int:
        """Frames each side that the refiner's convolutions reach (the Griffin-Lim stage reaches further)."""
        return (self.config.kernel_size // 2) * (self.config.num_layers + 1)

    def analyse(
        self,
        mel: torch.Tensor,
        circular: bool = False,
        init: torch.Tensor | None = None,
        hold: torch.Tensor | None = None,
    ) -> GLRefineOutput:
        """Every stage's result for ``mel`` ``(batch, n_mels, frames)``; see :class:`GLRefineOutput`.

        ``init``: initial Griffin-Lim phase where non-zero, and ``hold``: frames whose phase stays
        ``init``'s, as :meth:`griffin_lim_spectrum`.

        Raises:
            ValueError: if ``mel`` is not ``(batch, n_mels, frames)`` floating point with ``frames >= 1``.
        """
        self.check_mel(mel)
        gl_spectrum = self.griffin_lim_spectrum(mel, circular, init, hold)
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
