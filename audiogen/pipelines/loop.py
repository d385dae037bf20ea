"""Seamless loops: periodic resampling and re-timing, loop lengths, wrap-around context, seam checks.

Loops (:meth:`LoopMixin.loop`, a method of :class:`~audiogen.pipelines.audiogen.AudioGenPipeline`)
are periodic by construction, not crossfaded: the denoiser runs in circular mode (wrap-around
padding, so the latent has no start or end), the VAE decoder sees the latent with wrapped context
on both sides (the last ``k`` latent frames before it, the first ``k`` after it, ``k`` ≥ the
decoder's receptive field; the middle is kept), and the vocoder sees the periodic mel the same
way. The waveform is then exactly one period of a periodic signal. The latent period is chosen so
that ``P = latent_frames * time_downsample * hop_length`` samples is as near the requested ``L``
as the denoiser's ``length_multiple`` allows; by default the periodic mel is re-timed to the whole
number of frames nearest ``L / hop_length`` (a tempo change, no pitch change) and only the
remaining fraction of a hop is taken up by an FFT (band-limited, periodic) resampling of the one
period to exactly ``L`` samples, which keeps it periodic and changes pitch by the reported
``pitch_ratio`` (at most ``hop_length / 2L``; ``fit="resample"`` resamples the whole way from
``P``, changing pitch by ``P / L``).

The machinery: the context a convolution stack needs
(:func:`conv_context`), wrap-around padding (``_wrap``), the loop length of bars at a tempo
(:func:`loop_samples`), band-limited periodic resampling (:func:`periodic_resample`) and
re-timing (:func:`periodic_stretch`). How smoothly a loop joins end to start is measured by
:func:`audiogen.evaluation.boundaries.seam_report`.
"""

from __future__ import annotations

import math
import time
from fractions import Fraction
from functools import cached_property
from typing import Any

import torch
from torch import nn

from audiogen.config import MelConfig
from audiogen.pipelines.outputs import LoopResult, StageTimings, _sync


def _wrap(x: torch.Tensor, context: int) -> torch.Tensor:
    """``x (batch, channels, frames)`` with the last ``context`` frames before and the first after.

    Wraps several times round when ``context > frames``. Returns ``(batch, channels,
    frames + 2 * context)``.
    """
    frames = x.shape[-1]
    index = torch.arange(-context, frames + context, device=x.device) % frames
    return x.index_select(-1, index)


def conv_context(module: nn.Module, rate: int = 1) -> int:
    """Receptive-field radius of a convolutional decoder, in input frames (rounded up, plus one).

    Walks ``module.modules()`` in definition order (the forward order of the project's
    ``nn.Sequential`` decoders) and adds ``dilation * (kernel_size - 1) / 2`` of every stride-1
    ``nn.Conv1d``, divided by the current upsampling factor; a module with an integer ``factor``
    attribute (:class:`~audiogen.models.layers.Upsample1d`) multiplies that factor. Pointwise layers
    (linear, layer norm over channels, activations) add nothing. The result bounds how many input
    frames on each side can change an output frame, which is the wrap-around context the loop
    decoders need.

    Args:
        module: the decoder (e.g. ``MelVAE.decoder``, or a whole vocoder).
        rate: output frames per input frame before the first layer.

    Returns:
        ``ceil(radius) + 1`` input frames.

    Raises:
        ValueError: if the module holds a layer whose reach cannot be bounded this way (a strided
            or transposed convolution, attention, recurrence).
    """
    radius = 0.0
    for m in module.modules():
        if isinstance(m, nn.Conv1d):
            if m.stride[0] != 1:
                raise ValueError(f"conv_context: strided {m} in {type(module).__name__}")
            radius += m.dilation[0] * (m.kernel_size[0] - 1) / 2 / rate
        elif isinstance(m, nn.ConvTranspose1d | nn.MultiheadAttention | nn.RNNBase | nn.Conv2d):
            raise ValueError(f"conv_context: cannot bound the receptive field of {type(m).__name__}")
        elif isinstance(getattr(m, "factor", None), int):
            radius += 1.0 / rate  # nearest repetition: up to one frame at the rate before it
            rate *= m.factor
    return math.ceil(radius) + 1


def periodic_resample(waveform: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Resample ONE period of a periodic signal to ``num_samples`` samples with the FFT.

    ``irfft(rfft(x), n=num_samples)`` (``norm="forward"``, so amplitudes are kept): the signal is
    treated as a trigonometric polynomial with period ``samples``, which is re-evaluated at
    ``num_samples`` equally spaced points of the same period. The output is therefore again exactly
    one period of a band-limited periodic signal: tiled, it has no seam. Content is stretched by
    ``num_samples / samples`` (pitch times ``samples / num_samples``). When upsampling an
    even-length period its Nyquist bin is split evenly between the positive and negative frequency
    (as ``scipy.signal.resample``); when downsampling to an even length the new Nyquist bin, which
    cannot hold a sine, is dropped.

    Args:
        waveform: ``(..., samples)`` float tensor holding exactly one period.
        num_samples: output length in samples, ``>= 1``.

    Returns:
        ``(..., num_samples)`` float tensor of the input's dtype.

    Raises:
        ValueError: if ``num_samples < 1`` or the input is empty.
    """
    period = waveform.shape[-1]
    if num_samples < 1 or period < 1:
        raise ValueError(f"periodic_resample: need >= 1 samples in and out, got {period} → {num_samples}")
    if period == num_samples:
        return waveform.clone()
    spec = torch.fft.rfft(waveform.float(), dim=-1, norm="forward")
    keep = min(period, num_samples) // 2 + 1
    spec = spec[..., :keep].clone()
    if num_samples > period and period % 2 == 0:
        spec[..., period // 2] *= 0.5
    elif num_samples < period and num_samples % 2 == 0:
        spec[..., num_samples // 2] = 0
    return torch.fft.irfft(spec, n=num_samples, dim=-1, norm="forward").to(waveform.dtype)


def periodic_stretch(x: torch.Tensor, frames: int) -> torch.Tensor:
    """Linearly re-time ONE period ``(..., M)`` of a periodic sequence (e.g. a log-mel) to ``frames``.

    Output frame ``i`` is read at position ``i * M / frames`` of the period, interpolating linearly
    between the two neighbouring frames, the last one's neighbour being frame 0; so the result is
    again exactly one period. On a log-mel this changes tempo (by ``frames / M``), not pitch.

    Args:
        x: ``(..., M)`` float tensor, e.g. ``(batch, n_mels, M)``.
        frames: output length ``>= 1``.

    Returns:
        ``(..., frames)``.
    """
    period = x.shape[-1]
    if frames == period:
        return x.clone()
    position = torch.arange(frames, device=x.device, dtype=torch.float64) * (period / frames)
    left = position.floor().long()
    weight = (position - left).to(x.dtype)
    return x[..., left] * (1 - weight) + x[..., (left + 1) % period] * weight


def loop_samples(bars: float, bpm: float, sample_rate: int, beats_per_bar: float = 4) -> int:
    """Exact length in samples of ``bars`` bars at ``bpm`` beats per minute.

    ``round(bars * beats_per_bar * 60 / bpm * sample_rate)``, computed with exact fractions (so
    e.g. 2 bars of 4/4 at 120 bpm and 22050 Hz are 88200 samples, not 88199).

    Raises:
        ValueError: if any argument is not positive or the length rounds to 0 samples.
    """
    if min(bars, bpm, sample_rate, beats_per_bar) <= 0 or not all(
        math.isfinite(v) for v in (bars, bpm, beats_per_bar)
    ):
        raise ValueError(
            f"bars, bpm, beats_per_bar and sample_rate must be positive, got {bars}, {bpm}, "
            f"{beats_per_bar}, {sample_rate}"
        )
    n = round(Fraction(bars) * Fraction(beats_per_bar) * 60 * sample_rate / Fraction(bpm))
    if n < 1:
        raise ValueError(f"{bars} bars at {bpm} bpm is shorter than one sample")
    return n


# ------------------------------------------------------------------------------------------------
# the pipeline's loop method
# ------------------------------------------------------------------------------------------------


class LoopMixin:
    """Seamless loops on :class:`~audiogen.pipelines.audiogen.AudioGenPipeline` (see the module docstring).

    Uses the pipeline's stages (``autoencoder``, ``denoiser``, ``scheduler``, ``vocoder``), its
    geometry (``hop_length``, ``time_downsample``, ``length_multiple``) and ``check_inputs``.
    """

    autoencoder: Any
    denoiser: Any
    scheduler: Any
    vocoder: Any
    mel_config: MelConfig


    @cached_property
    def decoder_context(self) -> int:
        """Wrapped latent frames each side for :meth:`decode_circular` (the VAE decoder's reach + 1).

        Raises:
            ValueError: as :func:`conv_context`, for a decoder whose reach cannot be bounded.
        """
        return conv_context(getattr(self.autoencoder, "decoder", self.autoencoder))

    @cached_property
    def vocoder_context(self) -> int:
        """Wrapped mel frames each side for :meth:`vocode_circular`.

        The vocoder's convolutional reach + 1, plus ``ceil(n_fft / (2 * hop_length))`` frames of
        the inverse STFT's overlap-add (``n_fft`` of the vocoder's head).

        Raises:
            ValueError: as :func:`conv_context`.
        """
        n_fft = getattr(self.vocoder.config, "n_fft", self.mel_config.n_fft)
        return conv_context(self.vocoder) + math.ceil(n_fft / (2 * self.hop_length))

    def loop_latent_frames(self, num_samples: int) -> int:
        """Latent frames of the loop period nearest to ``num_samples`` samples.

        A multiple of ``length_multiple`` (circular mode needs it), at least one:
        ``m * max(1, round(num_samples / (m * samples_per_latent_frame)))``.
        """
        m = self.length_multiple
        return m * max(1, round(num_samples / (m * self.samples_per_latent_frame)))

    def decode_circular(self, latent: torch.Tensor) -> torch.Tensor:
        """Decode a periodic latent ``(batch, latent_dim, K)`` → one mel period ``(batch, n_mels, K * td)``.

        ``td`` is ``time_downsample``.

        The latent is given ``decoder_context`` wrapped frames on each side (the end before it, the
        start after it), decoded, and the middle ``K * time_downsample`` frames kept, so the mel is
        what an infinitely repeated latent would decode to: periodic, with no edge effects.
        """
        k, td = self.decoder_context, self.time_downsample
        mel = self.autoencoder.decode(_wrap(latent, k))
        return mel[..., k * td : (k + latent.shape[-1]) * td]

    def vocode_circular(self, mel: torch.Tensor) -> torch.Tensor:
        """Vocode a periodic mel ``(batch, n_mels, M)`` → one audio period ``(batch, 1, M * hop_length)``.

        As :meth:`decode_circular`, with ``vocoder_context`` wrapped mel frames on each side (the
        vocoder's convolutions plus its inverse STFT's overlap-add); the output samples of the
        middle frames are kept. A vocoder with its own ``vocode_circular`` (one whose output couples
        every frame, e.g. :class:`~audiogen.models.vocoder.GLRefineVocoder`'s Griffin-Lim) is asked
        to do it itself, wrapping around the period at every step.
        """
        if callable(getattr(self.vocoder, "vocode_circular", None)):
            return self.vocoder.vocode_circular(mel)
        k, hop = self.vocoder_context, self.hop_length
        wav = self.vocoder(_wrap(mel, k))
        return wav[..., k * hop : (k + mel.shape[-1]) * hop]

    @torch.no_grad()
    def loop(
        self,
        seconds: float | None = None,
        *,
        samples: int | None = None,
        repeat: int = 1,
        num: int = 1,
        seed: int = 0,
        steps: int | None = None,
        cfg_scale: float | None = None,
        style: str | None = None,
        sampler: str = "dpm++",
        progress: bool = True,
        fit: str = "mel",
    ) -> LoopResult:
        """Generate seamless loops of exactly ``L`` samples, tiled ``repeat`` times.

        ``L = round(seconds * sample_rate)`` or ``samples`` (use :func:`loop_samples` for bars at a
        tempo). The latent period ``K`` (a multiple of ``length_multiple``) is the one whose period
        ``P = K * time_downsample * hop_length`` is nearest to ``L``; the latent is denoised in
        circular mode and decoded with wrapped context (:meth:`decode_circular`) to one period of a
        periodic mel of ``M = K * time_downsample`` frames. Then, by ``fit``:

        * ``"resample"``: the mel is vocoded with wrapped context (:meth:`vocode_circular`) to one
          period of ``P`` samples, FFT-resampled to ``L`` (:func:`periodic_resample`): pitch and
          tempo change by ``P / L`` (up to ``length_multiple * time_downsample * hop_length / (2L)``
          off 1, e.g. ±2.3 % = ±40 cents for 4 s at the default settings);
        * ``"mel"`` (default): the periodic mel is first re-timed to ``M'`` frames, the whole number
          nearest to ``L / hop_length`` (:func:`periodic_stretch`; tempo changes by ``M' / M``,
          pitch does not), vocoded to ``M' * hop_length`` samples and FFT-resampled to ``L``: the
          pitch changes by at most ``hop_length / (2L)`` (±0.15 % = ±2.5 cents for 4 s).

        Both keep the signal exactly periodic. Seeds as :meth:`__call__`.

        Args:
            seconds: loop length in seconds (give this or ``samples``).
            samples: loop length in samples.
            repeat: copies of the loop, back to back (>= 1).
            num, seed, steps, cfg_scale, style, sampler, progress: as :meth:`__call__`.
            fit: ``"mel"`` or ``"resample"``, how the generated period is fitted to ``L``.

        Returns:
            :class:`LoopResult` with ``waveforms (num, 1, repeat * L)``, ``mels`` the periodic mel
            the vocoder was given ``(num, n_mels, frames)`` and the ratios.

        Raises:
            ValueError: neither or both of ``seconds`` / ``samples``, a non-positive length or
                ``repeat``, an unknown ``fit``, or as :meth:`__call__`.
        """
        from einops import repeat as einops_repeat

        from audiogen.pipelines.denoise import sample_latents
        from audiogen.samplers.factory import make_sampler

        if (seconds is None) == (samples is None):
            raise ValueError("give exactly one of seconds and samples")
        steps = self.resolve_steps(steps)
        cfg_scale, label = self.check_inputs(
            seconds, num, steps, cfg_scale, seed, style, sampler, samples=samples, repeat=repeat, fit=fit
        )
        if seconds is not None:
            samples = round(seconds * self.sample_rate)
        device, timings = self.device, StageTimings()
        latent_frames = self.loop_latent_frames(samples)
        period = latent_frames * self.samples_per_latent_frame
        start = time.perf_counter()
        latents = sample_latents(
            self.denoiser,
            make_sampler(sampler, self.scheduler),
            (num, self.denoiser.config.latent_dim, latent_frames),
            labels=label,
            cfg_scale=cfg_scale,
            generator=self._generators(seed, num),  # one CPU generator per item: batch-size independent
            circular=True,
            progress=progress,
            num_inference_steps=steps,
        )
        _sync(device)
        t1 = time.perf_counter()
        mel = self.decode_circular(latents).float()
        if fit == "mel":
            mel = periodic_stretch(mel, max(1, round(samples / self.hop_length)))
        _sync(device)
        t2 = time.perf_counter()
        one_period = self.vocode_circular(mel)
        _sync(device)
        t3 = time.perf_counter()
        one_loop = periodic_resample(one_period.float(), samples)
        waveforms = einops_repeat(one_loop, "b c n -> b c (r n)", r=repeat)
        _sync(device)
        t4 = time.perf_counter()
        timings.denoise, timings.decode, timings.vocode = t1 - start, t2 - t1, t3 - t2
        timings.resample, timings.total = t4 - t3, t4 - start
        return LoopResult(
            waveforms=waveforms.cpu(),
            sample_rate=self.sample_rate,
            latents=latents.float().cpu(),
            mels=mel.float().cpu(),
            seeds=[seed + i for i in range(num)],
            style=style,
            timings=timings,
            loop_samples=samples,
            period_samples=period,
            vocoded_samples=one_period.shape[-1],
            fit=fit,
            repeat=repeat,
        )
