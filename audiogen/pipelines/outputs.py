"""Result types of the pipelines: what a call returns, and the wall-clock time of each stage."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch


def _sync(device: torch.device) -> None:
    """Wait for queued CUDA work on ``device`` (so a stage's wall-clock time is its own); no-op on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class StageTimings:
    """Wall-clock seconds spent per stage of one call (CUDA is synchronised before each reading).

    Attributes:
        encode: front end + VAE encoder (variation only; 0 otherwise).
        denoise: the sampler loop of the latent denoiser (all steps, guidance included).
        decode: VAE decoder, latent → mel.
        vocode: vocoder, mel → waveform.
        resample: periodic FFT resampling and tiling (loops only; 0 otherwise).
        total: the whole call.
    """

    encode: float = 0.0
    denoise: float = 0.0
    decode: float = 0.0
    vocode: float = 0.0
    resample: float = 0.0
    total: float = 0.0

    def to_dict(self) -> dict[str, float]:
        """Plain dict (stage → seconds)."""
        return asdict(self)

    def start(self, device: torch.device) -> StageTimings:
        """Start the clock on ``device``; returns ``self`` (then :meth:`lap` after each stage)."""
        self._device = device
        self._start = self._last = time.perf_counter()
        return self

    def lap(self, stage: str) -> None:
        """Charge the time since the previous lap (or :meth:`start`) to ``stage``, CUDA synchronised
        first; ``total`` becomes the time since :meth:`start`."""
        _sync(self._device)
        now = time.perf_counter()
        setattr(self, stage, now - self._last)
        self.total, self._last = now - self._start, now


@dataclass
class LongReportPlaces:
    """Where a long (windowed) generation has joints, in output samples (for
    :func:`audiogen.evaluation.boundaries.boundary_report`).

    Attributes:
        window_boundaries: the middle of each denoising-window overlap.
        vocoder_joints: the centres of the vocoder chunks' crossfades.
    """

    window_boundaries: list[int]
    vocoder_joints: list[int]


@dataclass
class GenerationResult:
    """Output of :meth:`AudioGenPipeline.__call__` and :meth:`AudioGenPipeline.variation`.

    All tensors are float32 on the CPU.

    Attributes:
        waveforms: ``(batch, channels=1, samples)`` in [-1, 1] nominally, at ``sample_rate`` Hz.
        sample_rate: Hz.
        latents: the denoised scaled latents ``(batch, latent_dim, latent_frames)``.
        mels: the decoded natural-log mels ``(batch, n_mels, frames)`` the vocoder was given
            (cropped to the frames that cover ``samples``).
        seeds: the seed of each batch item (item ``i`` has ``seed + i``).
        style: the style name, or ``None`` (unconditional).
        timings: :class:`StageTimings` of the call.
        joints: for a clip longer than one denoising window, its :class:`LongReportPlaces`;
            ``None`` for one window.
    """

    waveforms: torch.Tensor
    sample_rate: int
    latents: torch.Tensor
    mels: torch.Tensor
    seeds: list[int]
    style: str | None
    timings: StageTimings = field(default_factory=StageTimings)
    joints: LongReportPlaces | None = None

    @property
    def num_samples(self) -> int:
        """Samples per clip."""
        return int(self.waveforms.shape[-1])

    @property
    def seconds(self) -> float:
        """Duration of one clip in seconds."""
        return self.num_samples / self.sample_rate

    @property
    def real_time_factor(self) -> float:
        """Compute over audio time, ``timings.total / (batch * seconds)`` (< 1: faster than real time)."""
        return self.timings.total / (self.waveforms.shape[0] * self.seconds)


@dataclass
class LoopResult(GenerationResult):
    """Output of :meth:`AudioGenPipeline.loop`: a :class:`GenerationResult` plus the loop geometry.

    ``waveforms`` is ``(batch, 1, repeat * loop_samples)``: the loop tiled ``repeat`` times.

    Attributes:
        loop_samples: ``L``, the exact requested loop length in samples.
        period_samples: ``P = latent_frames * time_downsample * hop_length``, the period the decoded
            latent spans.
        vocoded_samples: the period the vocoder produced: ``P`` with ``fit="resample"``; with
            ``fit="mel"`` ``M' * hop_length``, ``M'`` the whole number of mel frames nearest to
            ``L / hop_length``.
        pitch_ratio: ``vocoded_samples / L``, the factor the final FFT resampling multiplies pitch
            by (1 = unchanged).
        stretch_ratio: ``vocoded_samples / period_samples``, the tempo change of the mel stretch
            (pitch unchanged; 1 with ``fit="resample"``).
        fit: ``"mel"`` or ``"resample"`` (see :meth:`AudioGenPipeline.loop`).
        repeat: how many times the loop is tiled.
    """

    loop_samples: int = 0
    period_samples: int = 0
    vocoded_samples: int = 0
    fit: str = "mel"
    repeat: int = 1

    @property
    def pitch_ratio(self) -> float:
        """``vocoded_samples / loop_samples`` (1 when either is unknown)."""
        if not (self.loop_samples and self.vocoded_samples):
            return 1.0
        return self.vocoded_samples / self.loop_samples

    @property
    def stretch_ratio(self) -> float:
        """``vocoded_samples / period_samples`` (1 when either is unknown)."""
        if not (self.period_samples and self.vocoded_samples):
            return 1.0
        return self.vocoded_samples / self.period_samples


def concat_results(results: list[GenerationResult]) -> GenerationResult:
    """One :class:`GenerationResult` of the clips of ``results`` in order (each computed on its own).

    Tensors are concatenated along the batch axis, seeds listed in order, and the stage timings
    summed. ``results`` must share ``sample_rate``, ``style`` and the clip shape (so also their
    ``joints``, which come from the first).
    """
    first = results[0]
    if len(results) == 1:
        return first
    timings = StageTimings(
        **{name: sum(getattr(r.timings, name) for r in results) for name in first.timings.to_dict()}
    )
    return GenerationResult(
        waveforms=torch.cat([r.waveforms for r in results]),
        sample_rate=first.sample_rate,
        latents=torch.cat([r.latents for r in results]),
        mels=torch.cat([r.mels for r in results]),
        seeds=[s for r in results for s in r.seeds],
        style=first.style,
        timings=timings,
        joints=first.joints,
    )


__all__ = ["GenerationResult", "LongReportPlaces", "LoopResult", "StageTimings", "concat_results"]
