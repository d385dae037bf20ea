"""The generation pipeline: latent denoiser → mel VAE decoder → vocoder, in one object and one folder.

:class:`AudioGenPipeline` composes the trained stages (:class:`~audiogen.pipelines.stages.PipelineStages`:
it holds them, checks that they agree, reads and writes their folder) and samples from them
(diffusers-style: it trains nothing). Every generating method takes one
:class:`~audiogen.pipelines.sampling.SamplingConfig` (seed, steps, CFG scale, style, sampler,
progress), or its fields as keyword arguments, and checks it once in :meth:`check_inputs`.
:meth:`AudioGenPipeline.__call__` runs, in numbered steps:

1. :meth:`~AudioGenPipeline.check_inputs`, the one check of a call's arguments;
2. a sampler (DPM-Solver++, DDIM or Euler, :func:`audiogen.samplers.factory.make_sampler`; ports of
   diffusers' schedulers in :mod:`audiogen.samplers`) built from the stored training noise
   schedule (a rectified-flow model's: DPM-Solver++ or the flow's Euler), and its timesteps;
3. the initial noise ``(1, latent_dim, latent_frames)``, the clip's own CPU generator (one clip at a time);
4. the denoising loop (:func:`audiogen.pipelines.denoise.denoise_loop`), with classifier-free
   guidance towards a style label; a latent longer than one window is denoised in overlapping
   windows (:class:`~audiogen.pipelines.windows.WindowedDenoiser`), so length costs linear time;
5. the VAE decoder: the latent becomes a natural-log mel ``(batch, n_mels, latent_frames *
   time_downsample)`` (long latents in chunks, :func:`~audiogen.pipelines.windows.decode_chunked`);
6. the vocoder: the mel becomes a waveform ``(batch, 1, frames * hop_length)`` (long mels in
   chunks, :func:`~audiogen.pipelines.windows.vocode_chunked`), cropped to exactly
   ``round(seconds * sample_rate)`` samples.

:meth:`loop` runs the same steps round a circle (seamless loops, :mod:`audiogen.pipelines.loop`);
:meth:`variation` from an encoded input (SDEdit); :meth:`extend` and :meth:`inpaint` with the
input's latent kept (:mod:`audiogen.pipelines.inpaint`). The caller never picks one-piece or
windowed generation: the length does.

A pipeline folder (``model_index.json`` and a folder per stage, no pickle) is read and written
through :mod:`audiogen.hub` (its module docstring shows the layout).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import torch

from audiogen import hub
from audiogen.pipelines.denoise import (
    check_pair,
    denoise_loop,
    item_generators,
    prepare_latents,
    sample_latents,
)
from audiogen.pipelines.lora import LoraMixin
from audiogen.pipelines.outputs import (
    GenerationResult,
    LongReportPlaces,
    LoopResult,
    StageTimings,
    concat_results,
)
from audiogen.pipelines.sampling import Guidance, SamplingConfig
from audiogen.pipelines.stages import PipelineStages
from audiogen.pipelines.windows import WINDOW_SECONDS, decode_chunked, vocode_chunked, windowed
from audiogen.samplers.factory import make_sampler, sampler_refusal


def default_model_dir() -> Path:
    """The bundled default pipeline folder, :data:`audiogen.hub.DEFAULT_PIPELINE` (package data).

    It may not exist (e.g. before the default model is trained); :func:`load_pretrained` then
    raises a :class:`FileNotFoundError` telling the user to pass a checkpoint folder.
    """
    return hub.DEFAULT_PIPELINE


class AudioGenPipeline(LoraMixin, PipelineStages):
    """Latent diffusion → mel VAE → vocoder: generate, loop, variation, extend, inpaint.

    The constructor and the folder methods (:meth:`from_pretrained`, :meth:`save_pretrained`,
    :meth:`from_stage_folders`) are :class:`~audiogen.pipelines.stages.PipelineStages`'; the LoRA
    methods (:meth:`load_lora`, ...) :class:`~audiogen.pipelines.lora.LoraMixin`'s. Each generating
    method takes ``sampling`` (a :class:`~audiogen.pipelines.sampling.SamplingConfig`) and/or its
    fields as keyword arguments (``pipe(10.0, seed=3, style="organ")``), which replace the
    config's.
    """

    # ------------------------------------------------------------------ checks
    def resolve_cfg_scale(self, cfg_scale: float | None) -> float:
        """The CFG scale a call uses: ``cfg_scale``, or the default :attr:`cfg_scale` if ``None``."""
        return self.cfg_scale if cfg_scale is None else cfg_scale

    def resolve_steps(self, steps: int | None) -> int:
        """The sampler steps a call uses: ``steps``, or the default :attr:`steps` if ``None``."""
        return self.steps if steps is None else steps

    def check_inputs(
        self,
        sampling: SamplingConfig,
        num: int = 1,
        seconds: float | None = None,
        *,
        samples: int | None = None,
        repeat: int = 1,
        fit: str = "mel",
        strength: float | None = None,
    ) -> Guidance:
        """Check the arguments of a call; the one place they are checked.

        Args:
            sampling: the sampling settings (``steps`` at least 1, ``cfg_scale`` finite, ``seed`` at
                least 0, ``style`` one of :attr:`styles` or ``None``, ``sampler`` one of
                :data:`audiogen.samplers.factory.SAMPLERS` that runs this model: not ``"ddim"`` for a
                rectified-flow model, :func:`~audiogen.samplers.factory.sampler_refusal`).
            num: clips in the batch, at least 1.
            seconds: clip length (``None``: not given); a positive number of at least one sample.
            samples: a length in samples (loops); at least 1.
            repeat: copies of a loop; at least 1.
            fit: ``"mel"`` or ``"resample"`` (loops).
            strength: ``None``, or in [0, 1] (variation).

        Returns:
            the :class:`~audiogen.pipelines.sampling.Guidance` the call uses (style label, CFG
            scale and steps, the pipeline's defaults filled in).

        Raises:
            ValueError: naming the first argument out of range, an unknown style (listing the
                known ones) or an unknown sampler (or one this model cannot run).
        """
        if seconds is not None:
            if not (math.isfinite(seconds) and seconds > 0):
                raise ValueError(f"seconds must be a positive number, got {seconds}")
            if round(seconds * self.sample_rate) < 1:
                raise ValueError(f"seconds={seconds} is shorter than one sample at {self.sample_rate} Hz")
        if samples is not None and samples < 1:
            raise ValueError(f"the loop must be at least one sample long, got {samples}")
        if repeat < 1:
            raise ValueError(f"repeat must be >= 1, got {repeat}")
        if fit not in ("mel", "resample"):
            raise ValueError(f"fit must be 'mel' or 'resample', got {fit!r}")
        if strength is not None and not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {strength}")
        cfg_scale, steps = self.resolve_cfg_scale(sampling.cfg_scale), self.resolve_steps(sampling.steps)
        if num < 1:
            raise ValueError(f"num must be >= 1, got {num}")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if not math.isfinite(cfg_scale):
            raise ValueError(f"cfg_scale must be finite, got {cfg_scale}")
        if sampling.seed < 0:
            raise ValueError(f"seed must be >= 0, got {sampling.seed}")
        refusal = sampler_refusal(sampling.sampler, self.scheduler)
        if refusal:  # an unknown name, or one that cannot run this model (DDIM and a flow model)
            raise ValueError(refusal)
        negative = self.style_label(sampling.negative_style)
        if negative is not None and sampling.style is None:
            raise ValueError("a negative style needs a style to steer towards")
        return Guidance(self.style_label(sampling.style), cfg_scale, steps, negative=negative)

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def __call__(
        self,
        seconds: float,
        num: int = 1,
        sampling: SamplingConfig | None = None,
        *,
        window_seconds: float = WINDOW_SECONDS,
        overlap_seconds: float | None = None,
        **settings: Any,
    ) -> GenerationResult:
        """Generate ``num`` clips of exactly ``round(seconds * sample_rate)`` samples, of any length.

        Item ``i`` is drawn from ``torch.Generator("cpu").manual_seed(seed + i)`` and computed alone
        (batched kernels round differently by batch size, and Griffin-Lim amplifies that), so a seed
        gives the same waveform bit for bit on the same device whatever ``num`` and its position.
        Clips longer than ``window_seconds`` are denoised in overlapping windows and decoded and
        vocoded in chunks (memory bounded, time linear in the length); their joints are in the
        result's ``joints``.

        Args:
            seconds: clip length in seconds (> 0).
            num: clips, each computed alone (see above).
            sampling: the sampling settings; ``settings``: any of its fields, replacing them.
            window_seconds: denoising window (the length above which windows are used).
            overlap_seconds: overlap of neighbouring windows (default: a quarter window).

        Returns:
            :class:`GenerationResult` with ``waveforms (num, 1, round(seconds * sample_rate))``.

        Raises:
            ValueError: bad ``seconds`` / ``num`` / settings, an unknown style or sampler.
        """
        # 1. check inputs
        sampling = SamplingConfig.of(sampling, **settings)
        guidance = self.check_inputs(sampling, num, seconds)
        if num > 1:  # one clip at a time (see above)
            windows = dict(window_seconds=window_seconds, overlap_seconds=overlap_seconds)
            return concat_results([
                self(seconds, 1, dataclasses.replace(sampling, seed=sampling.seed + i), **windows)
                for i in range(num)
            ])  # fmt: skip
        num_samples = round(seconds * self.sample_rate)
        device, timings = self.device, StageTimings().start(self.device)
        # 2. the sampler and its timesteps
        scheduler = make_sampler(sampling.sampler, self.scheduler)
        shape = (num, self.denoiser.config.latent_dim, self.latent_frames_for(num_samples))
        check_pair(self.denoiser, scheduler, shape[1])
        scheduler.set_timesteps(guidance.steps, device=device)
        # 3. the initial noise: the clip's own CPU generator
        generators = item_generators(sampling.seed, num)
        latents = prepare_latents(scheduler, shape, generators, device)
        # 4. the denoising loop (classifier-free guidance towards the style), in windows if long
        denoiser = windowed(self, window_seconds, overlap_seconds)
        labels, uncond = guidance.labels(num, device)
        latents = denoise_loop(
            denoiser, scheduler, latents, scheduler.timesteps, labels, guidance.scale, generators,
            circular=False, progress=sampling.progress, uncond_labels=uncond,
        )  # fmt: skip
        timings.lap("denoise")
        # 5. decode: latent → log-mel
        mel = decode_chunked(self, latents)
        timings.lap("decode")
        # 6. vocode: log-mel → waveform, cropped to the exact length
        waveforms, joints = vocode_chunked(self, mel)
        waveforms = waveforms[..., :num_samples]
        timings.lap("vocode")
        # 7. the result
        frames = min(mel.shape[-1], num_samples // self.hop_length + 1)
        spl = self.samples_per_latent_frame
        places = None
        if shape[-1] > denoiser.size:
            places = LongReportPlaces(
                window_boundaries=[b * spl for b in denoiser.boundaries if 0 < b * spl < num_samples],
                vocoder_joints=[j for j in joints if 0 < j < num_samples],
            )
        return GenerationResult(
            waveforms=waveforms.float().cpu(),
            sample_rate=self.sample_rate,
            latents=latents.float().cpu(),
            mels=mel[..., :frames].float().cpu(),
            seeds=[sampling.seed + i for i in range(num)],
            style=sampling.style,
            timings=timings,
            joints=places,
        )

    @torch.no_grad()
    def loop(
        self,
        seconds: float | None = None,
        *,
        samples: int | None = None,
        repeat: int = 1,
        num: int = 1,
        fit: str = "mel",
        sampling: SamplingConfig | None = None,
        window_seconds: float = WINDOW_SECONDS,
        **settings: Any,
    ) -> LoopResult:
        """Generate seamless loops of exactly ``L`` samples, tiled ``repeat`` times.

        ``L = round(seconds * sample_rate)`` or ``samples`` (use
        :func:`~audiogen.pipelines.loop.loop_samples` for bars at a tempo). The latent period ``K``
        (a multiple of ``length_multiple``) is the one whose period ``P = K * time_downsample *
        hop_length`` is nearest to ``L``; the latent is denoised in circular mode (in windows spread
        round the circle when longer than ``window_seconds``) and decoded with wrapped context
        (:meth:`decode_circular`, in chunks round the circle when long) to one period of a
        periodic mel of ``M = K * time_downsample`` frames. Then, by ``fit``:

        * ``"resample"``: the mel is vocoded with wrapped context (:meth:`vocode_circular`) to one
          period of ``P`` samples, FFT-resampled to ``L``
          (:func:`~audiogen.pipelines.loop.periodic_resample`): pitch and tempo change by ``P / L``;
        * ``"mel"`` (default): the periodic mel is first re-timed to ``M'`` frames, the whole number
          nearest to ``L / hop_length`` (:func:`~audiogen.pipelines.loop.periodic_stretch`; tempo
          changes by ``M' / M``, pitch does not), vocoded to ``M' * hop_length`` samples and
          FFT-resampled to ``L``: the pitch changes by at most ``hop_length / (2L)``.

        Both keep the signal exactly periodic. Seeds as :meth:`__call__`.

        Args:
            seconds: loop length in seconds (give this or ``samples``).
            samples: loop length in samples.
            repeat: copies of the loop, back to back (>= 1).
            num: loops, generated as one batch.
            fit: ``"mel"`` or ``"resample"``, how the generated period is fitted to ``L``.
            sampling, settings: as :meth:`__call__`.
            window_seconds: denoising window round the circle.

        Returns:
            :class:`LoopResult` with ``waveforms (num, 1, repeat * L)``, ``mels`` the periodic mel
            the vocoder was given ``(num, n_mels, frames)``, the ratios, and for long loops the
            ``joints`` of one period (in samples of the generated period before fitting).

        Raises:
            ValueError: neither or both of ``seconds`` / ``samples``, a non-positive length or
                ``repeat``, an unknown ``fit``, or as :meth:`__call__`.
        """
        from einops import repeat as einops_repeat

        from audiogen.pipelines.loop import periodic_resample, periodic_stretch

        # 1. check inputs
        sampling = SamplingConfig.of(sampling, **settings)
        if (seconds is None) == (samples is None):
            raise ValueError("give exactly one of seconds and samples")
        guidance = self.check_inputs(sampling, num, seconds, samples=samples, repeat=repeat, fit=fit)
        if seconds is not None:
            samples = round(seconds * self.sample_rate)
        device, timings = self.device, StageTimings().start(self.device)
        latent_frames = self.loop_latent_frames(samples)
        period = latent_frames * self.samples_per_latent_frame
        # 2.-4. sampler, noise, circular denoising (windows round the circle if long)
        denoiser = windowed(self, window_seconds)
        labels, uncond = guidance.labels(num, device)
        latents = sample_latents(
            denoiser,
            make_sampler(sampling.sampler, self.scheduler),
            (num, self.denoiser.config.latent_dim, latent_frames),
            labels=labels,
            cfg_scale=guidance.scale,
            generator=item_generators(sampling.seed, num),
            circular=True,
            progress=sampling.progress,
            num_inference_steps=guidance.steps,
            uncond_labels=uncond,
        )
        timings.lap("denoise")
        # 5. decode round the circle, then re-time the mel to the loop length (fit="mel")
        mel = decode_chunked(self, latents, circular=True).float()
        if fit == "mel":
            mel = periodic_stretch(mel, max(1, round(samples / self.hop_length)))
        timings.lap("decode")
        # 6. vocode round the circle
        one_period, joints = vocode_chunked(self, mel, circular=True)
        timings.lap("vocode")
        # 7. resample the period to exactly L samples, tile it
        one_loop = periodic_resample(one_period.float(), samples)
        waveforms = einops_repeat(one_loop, "b c n -> b c (r n)", r=repeat)
        timings.lap("resample")
        spl = self.samples_per_latent_frame
        long = latent_frames > denoiser.size
        return LoopResult(
            waveforms=waveforms.cpu(),
            sample_rate=self.sample_rate,
            latents=latents.float().cpu(),
            mels=mel.float().cpu(),
            seeds=[sampling.seed + i for i in range(num)],
            style=sampling.style,
            timings=timings,
            joints=LongReportPlaces([b * spl for b in denoiser.boundaries], joints) if long else None,
            loop_samples=samples,
            period_samples=period,
            vocoded_samples=one_period.shape[-1],
            fit=fit,
            repeat=repeat,
        )

    # ------------------------------------------------------------------ audio to audio
    @torch.no_grad()
    def variation(
        self,
        waveform: torch.Tensor,
        sample_rate: int,
        strength: float = 0.5,
        sampling: SamplingConfig | None = None,
        **settings: Any,
    ) -> GenerationResult:
        """A variation of ``waveform``: encode, noise to ``strength``, denoise, decode, vocode (SDEdit).

        The input is mixed to mono and resampled to the model's rate (libsoxr), and brought to -1
        dBFS if it peaks above full scale (:func:`~audiogen.audio.levels.limit_peak`); its log-mel is
        encoded to the posterior mean (in chunks: memory bounded whatever the input's length),
        :func:`~audiogen.pipelines.denoise.noise_and_denoise` runs the last ``round(strength *
        steps)`` sampler steps, and the result is decoded and vocoded to the (resampled) input's
        length.

        Args:
            waveform: ``(samples,)`` or ``(channels, samples)`` float audio.
            sample_rate: its rate in Hz.
            strength: in [0, 1]; 0 = the input's reconstruction, 1 = a new clip of the same length.
            sampling, settings: as :meth:`__call__`.

        Returns:
            :class:`GenerationResult` with ``waveforms (1, 1, n)`` at the model's rate, ``n`` the
            input's length at that rate (equal to the input's sample count when the rates agree).

        Raises:
            ValueError: bad shape or rate, ``strength`` outside [0, 1], fewer samples than one mel
                frame's hop, or as :meth:`__call__`.
        """
        from audiogen.audio.features import LogMelSpectrogram
        from audiogen.audio.io import convert_channels, resample
        from audiogen.audio.levels import limit_peak
        from audiogen.pipelines.denoise import noise_and_denoise
        from audiogen.pipelines.windows import encode_chunked

        # 1. check inputs
        sampling = SamplingConfig.of(sampling, **settings)
        if waveform.dim() == 1:
            waveform = waveform[None]
        if waveform.dim() != 2 or not waveform.is_floating_point():
            raise ValueError(
                f"variation: waveform must be float (samples,) or (channels, samples), got "
                f"{tuple(waveform.shape)} {waveform.dtype}"
            )
        guidance = self.check_inputs(sampling, 1, strength=strength)
        device, timings = self.device, StageTimings().start(self.device)
        mono = resample(convert_channels(waveform.float().cpu(), 1), sample_rate, self.sample_rate)
        mono = limit_peak(mono)  # an input above full scale (MP3 overshoot) to -1 dBFS, as extend's
        num_samples = mono.shape[-1]
        if num_samples < self.hop_length:
            raise ValueError(
                f"variation: the input is too short ({num_samples} samples at {self.sample_rate} Hz)"
            )
        # 2. encode: waveform → log-mel → latent (posterior mean)
        mel = LogMelSpectrogram(self.mel_config).to(device)(mono.to(device)).mel  # (1, n_mels, frames)
        latent = encode_chunked(self, mel)
        del mono
        timings.lap("encode")
        # 3. noise to `strength`, denoise from there
        labels, uncond = guidance.labels(1, device)
        latents = noise_and_denoise(
            self.denoiser,
            make_sampler(sampling.sampler, self.scheduler),
            latent,
            strength,
            labels=labels,
            cfg_scale=guidance.scale,
            generator=item_generators(sampling.seed, 1),
            progress=sampling.progress,
            num_inference_steps=guidance.steps,
            uncond_labels=uncond,
        )
        timings.lap("denoise")
        # 4. decode and vocode (in chunks), cropped to the input's length
        out_mel = decode_chunked(self, latents)[..., : mel.shape[-1]]
        timings.lap("decode")
        wav = vocode_chunked(self, out_mel.float())[0][..., :num_samples]
        timings.lap("vocode")
        return GenerationResult(
            waveforms=wav.float().cpu(),
            sample_rate=self.sample_rate,
            latents=latents.float().cpu(),
            mels=out_mel.float().cpu(),
            seeds=[sampling.seed],
            style=sampling.style,
            timings=timings,
        )

    def extend(
        self,
        waveform: torch.Tensor,
        sample_rate: int,
        seconds: float = 0.0,
        before: float = 0.0,
        sampling: SamplingConfig | None = None,
        **options: Any,
    ) -> Any:
        """Continue ``waveform (batch, channels, samples)``: ``seconds`` after it, ``before`` seconds before.

        ``options``: the fields of :class:`~audiogen.pipelines.inpaint.EditOptions` (crossfade,
        ramp, window_seconds, harmonize, match_level) and of :class:`SamplingConfig`. See
        :func:`audiogen.pipelines.inpaint.extend` for the result and errors.
        """
        from audiogen.pipelines.inpaint import extend

        settings = self._edit_settings(waveform, sampling, options)
        return extend(self, waveform, sample_rate, seconds, before, *settings)

    def inpaint(
        self,
        waveform: torch.Tensor,
        sample_rate: int,
        start: float,
        end: float,
        sampling: SamplingConfig | None = None,
        **options: Any,
    ) -> Any:
        """Regenerate ``[start, end)`` seconds of ``waveform (batch, channels, samples)``, keep the rest.

        ``options`` as :meth:`extend`; see :func:`audiogen.pipelines.inpaint.inpaint`.
        """
        from audiogen.pipelines.inpaint import inpaint

        settings = self._edit_settings(waveform, sampling, options)
        return inpaint(self, waveform, sample_rate, start, end, *settings)

    def stream(
        self, seconds: float | None = None, sampling: SamplingConfig | None = None, **options: Any
    ) -> Any:
        """Waveform chunks ``(channels, samples)`` of the sequence model: :func:`.stream.stream`."""
        from audiogen.pipelines.stream import stream

        return stream(self, seconds, sampling=sampling, **options)

    def _edit_settings(self, waveform: torch.Tensor, sampling: SamplingConfig | None, options: dict) -> tuple:
        """``(sampling, guidance, EditOptions)`` of an edit: the :class:`SamplingConfig` fields of
        ``options`` replace ``sampling``'s, the rest are :class:`EditOptions`; checked."""
        from audiogen.pipelines.inpaint import EditOptions

        names = SamplingConfig.field_names()
        sampling = SamplingConfig.of(sampling, **{k: v for k, v in options.items() if k in names})
        guidance = self.check_inputs(sampling, waveform.shape[0] if waveform.dim() == 3 else 1)
        return sampling, guidance, EditOptions(**{k: v for k, v in options.items() if k not in names})


def load_pretrained(
    path: str | Path | None = None, device: str | torch.device | None = None
) -> AudioGenPipeline:
    """Load a pipeline folder, by default the bundled one (:data:`audiogen.hub.DEFAULT_PIPELINE`).

    Args:
        path: pipeline folder (``None``: the bundled default model).
        device: torch device (``None``: CUDA if available, else CPU).

    Raises:
        FileNotFoundError: no folder there; for the default, the message says to pass a checkpoint.
        ValueError: as :meth:`AudioGenPipeline.from_pretrained`.
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return AudioGenPipeline.from_pretrained(hub.find_pipeline_folder(path), device=device)


__all__ = ["AudioGenPipeline", "default_model_dir", "load_pretrained"]
