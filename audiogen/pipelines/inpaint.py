"""Editing audio with a trained pipeline: continue a clip (extend / outpaint) or regenerate a span (inpaint).

Training-free, with the pipeline's own denoiser (no mask-conditioned model): the *replacement*
method of RePaint (Lugmayr et al., 2022, "RePaint: Inpainting using Denoising Diffusion
Probabilistic Models", without its resampling jumps) as diffusers' inpainting pipelines run it
with any sampler. In latent space:

1. the input (mixed to the model's one channel and resampled to its rate) is encoded to its latent
   (posterior mean) and placed on a timeline of latent frames with room for the new audio;
2. a mask marks the latent frames that lie wholly inside audio the user keeps (1) and the frames
   to generate (0); the ``ramp`` kept frames nearest each boundary get mask values falling from 1
   towards 0 (a short latent-domain crossfade), so the new part is denoised against a soft edge;
3. the sampler starts from noise; after every step the latent becomes
   ``lerp(x, add_noise(known, noise, t_next), mask)``: the known frames are replaced by the
   input's latent noised to the sampler's current noise level by the sampler's own ``add_noise``
   (a rectified-flow model's: ``(1 - t) known + t noise``; the same noise draw every step, as
   diffusers does), so the denoiser always sees the kept audio at the right noise level around
   the part it is generating and continues it; after the last step the known frames are set to the
   clean input latent. Frames with mask 1 are the input's latent bit for bit (tested);
   with ``harmonize = r > 1``, every step but the last is run ``r`` times (RePaint's *resampling*
   with a jump of one step): after a pass the latent is noised back from the step's noise level to
   the level it started from (the forward process ``q(x_t | x_s)``, fresh noise from the item's
   generator) and the step is taken again, so the generated frames are pulled towards agreement
   with the kept ones before the noise level falls (Lugmayr et al., 2022, section 4.2);
4. the whole timeline latent is decoded and vocoded (the convolutional decoder and the vocoder
   need context on both sides of a boundary; long timelines in chunks, :mod:`audiogen.pipelines.windows`);
5. outside the edited spans the ORIGINAL input samples are pasted back, and at each boundary the
   output crossfades between the input and the vocoded audio over ``crossfade`` seconds
   (default 0.1 s, at most 0.5 s) lying on the kept side of the boundary: from the input to the
   re-synthesised audio before a new part, from the re-synthesised audio to the input after one.
   The two are the same music with different phase (the vocoder's Griffin-Lim phase), so the
   crossfade is equal-power (``cos² + sin² = 1``). Everywhere else kept, the output *is* the
   input, sample for sample.

Long timelines are denoised in overlapping windows (:class:`~audiogen.pipelines.windows.WindowedDenoiser`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from audiogen.pipelines.stages import prepare_input

if TYPE_CHECKING:
    from audiogen.pipelines.sampling import Guidance, SamplingConfig
    from audiogen.pipelines.stages import PipelineStages

#: Default crossfade between kept input and generated audio, seconds.
CROSSFADE_SECONDS = 0.1
#: The longest crossfade accepted, seconds.
MAX_CROSSFADE_SECONDS = 0.5
#: Kept latent frames per boundary whose mask ramps down towards it.
RAMP_FRAMES = 2
#: Passes per sampler step (RePaint's resampling ``r``; 1 = plain replacement).
HARMONIZE_PASSES = 3


@dataclass
class EditResult:
    """Output of :func:`extend` and :func:`inpaint` (all tensors float32 on the CPU).

    Attributes:
        waveforms: ``(batch, 1, samples)`` at ``sample_rate``.
        sample_rate: Hz (the model's).
        latents: the final timeline latents ``(batch, latent_dim, latent_frames)``.
        mask: ``(latent_frames,)``: 1 where the latent is the input's (bit for bit), 0 where it was
            generated, in between on the ramps.
        lead_samples: timeline samples before the first output sample (latent frame 0 starts
            ``lead_samples`` before the output).
        kept: ``[start, stop)`` sample ranges of the output copied from the input (crossfade zones
            included, at the kept ends next to a boundary).
        edited: ``[start, stop)`` sample ranges of newly generated audio.
        boundaries: output samples where kept and generated audio meet.
        crossfade_samples: length of each crossfade.
        seeds: seed of each batch item.
        style: the style the new audio was generated with, or ``None``.
        timings: :class:`~audiogen.pipelines.outputs.StageTimings` of the call.
    """

    waveforms: torch.Tensor
    sample_rate: int
    latents: torch.Tensor
    mask: torch.Tensor
    lead_samples: int
    kept: list[tuple[int, int]]
    edited: list[tuple[int, int]]
    boundaries: list[int]
    crossfade_samples: int
    seeds: list[int]
    style: str | None
    timings: Any = field(default=None)

    @property
    def num_samples(self) -> int:
        """Samples per clip."""
        return int(self.waveforms.shape[-1])


@dataclass(frozen=True)
class EditOptions:
    """How :func:`extend` and :func:`inpaint` join the new audio to the kept audio.

    Attributes:
        crossfade: seconds of equal-power crossfade on the kept side of each boundary (<= 0.5).
        ramp: kept latent frames per boundary whose replacement weight ramps down.
        window_seconds: denoising window (longer timelines use overlapping windows).
        harmonize: passes per sampler step (RePaint's resampling ``r``, module docstring step 3);
            1 = plain replacement, each extra pass costs one more denoiser run per step.
        match_level: bring the new audio to the RMS level of the input next to it
            (:func:`audiogen.pipelines.edit_levels.match_levels`).
    """

    crossfade: float = CROSSFADE_SECONDS
    ramp: int = RAMP_FRAMES
    window_seconds: float = 10.0
    harmonize: int = HARMONIZE_PASSES
    match_level: bool = True

    def checked(self) -> EditOptions:
        """Returns ``self``.

        Raises:
            ValueError: a crossfade, ramp or harmonize out of range.
        """
        if not 0 <= self.crossfade <= MAX_CROSSFADE_SECONDS:
            raise ValueError(
                f"crossfade must be in [0, {MAX_CROSSFADE_SECONDS}] seconds, got {self.crossfade}"
            )
        if self.ramp < 0:
            raise ValueError(f"ramp must be >= 0 latent frames, got {self.ramp}")
        h = self.harmonize
        if isinstance(h, bool) or int(h) != h or h < 1:
            raise ValueError(f"harmonize must be a whole number of passes >= 1, got {h!r}")
        return self


def _mask(total: int, kept_frames: list[tuple[int, int, bool, bool]], ramp: int) -> torch.Tensor:
    """Latent mask ``(total,)``: 1 on kept frame runs ``(lo, hi, ramp_left, ramp_right)``, with the
    ``ramp`` frames at a flagged end falling towards 0 (``d / (ramp + 1)`` at distance ``d``)."""
    mask = torch.zeros(total)
    for lo, hi, ramp_left, ramp_right in kept_frames:
        if hi <= lo:
            continue
        run = torch.ones(hi - lo)
        steps = torch.arange(1, ramp + 1, dtype=torch.float32) / (ramp + 1)
        k = min(ramp, hi - lo)
        if ramp_left and k:
            run[:k] = torch.minimum(run[:k], steps[:k])
        if ramp_right and k:
            run[-k:] = torch.minimum(run[-k:], steps[:k].flip(0))
        mask[lo:hi] = run
    return mask


@torch.no_grad()
def _denoise_replacing(
    stages: PipelineStages,
    known: torch.Tensor,
    mask: torch.Tensor,
    sampling: SamplingConfig,
    guidance: Guidance,
    window_seconds: float,
    harmonize: int = 1,
) -> torch.Tensor:
    """The sampler loop with the known frames replaced after every step, each step but the last
    taken ``harmonize`` times (see the module docstring)."""
    from tqdm.auto import tqdm

    from audiogen.pipelines.denoise import cfg_labels, check_pair, guided_prediction, item_generators
    from audiogen.pipelines.windows import windowed
    from audiogen.samplers import randn
    from audiogen.samplers.factory import make_sampler
    from audiogen.samplers.repaint import load_run_state, renoise, run_state

    denoiser = windowed(stages, window_seconds)
    scheduler = make_sampler(sampling.sampler, stages.scheduler)
    check_pair(stages.denoiser, scheduler, known.shape[1])
    device, batch = stages.device, known.shape[0]
    known = known.to(device)
    weight = mask.to(device)
    scheduler.set_timesteps(guidance.steps, device=device)
    generators = item_generators(sampling.seed, batch)  # one CPU generator per item, as AudioGenPipeline
    noise = randn(tuple(known.shape), generators, device, torch.float32)
    timesteps = scheduler.timesteps
    x = torch.lerp(
        noise * scheduler.init_noise_sigma, scheduler.add_noise(known, noise, timesteps[:1]), weight
    )
    labels, uncond = guidance.labels(batch, device)
    both = cfg_labels(stages.denoiser, labels, guidance.scale, uncond)

    def step(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        model_input = scheduler.scale_model_input(x, t)
        prediction = guided_prediction(denoiser, model_input, t, labels, both, guidance.scale)
        return scheduler.step(prediction, t, x, generator=generators).prev_sample

    for i, t in enumerate(tqdm(timesteps, desc="denoise", leave=False, disable=not sampling.progress)):
        last = i + 1 == len(timesteps)
        target = known if last else scheduler.add_noise(known, noise, timesteps[i + 1 : i + 2])
        passes = 1 if last else harmonize
        state = run_state(scheduler) if passes > 1 else None
        x_in = x
        for k in range(passes):
            if k:  # back to step i's noise level, then the step again (RePaint's resampling)
                load_run_state(scheduler, state)
                fresh = randn(tuple(x.shape), generators, device, torch.float32)
                x_in = renoise(scheduler, x, timesteps[i + 1], t, fresh)
            x = torch.lerp(step(x_in, t), target, weight)
    return x


def _fades(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    u = (torch.arange(n, dtype=torch.float32) + 0.5) / n
    return torch.cos(0.5 * math.pi * u), torch.sin(0.5 * math.pi * u)


@torch.no_grad()
def _edit(
    stages: PipelineStages,
    audio: torch.Tensor,
    before: int,
    after: int,
    span: tuple[int, int] | None,
    sampling: SamplingConfig,
    guidance: Guidance,
    options: EditOptions,
) -> EditResult:
    """The shared body of :func:`extend` and :func:`inpaint` (``audio (batch, 1, n)`` at the model's rate)."""
    from audiogen.audio.features import LogMelSpectrogram
    from audiogen.pipelines.outputs import StageTimings
    from audiogen.pipelines.windows import decode_chunked, vocode_chunked

    options.checked()
    batch, n = audio.shape[0], audio.shape[-1]
    spl, device = stages.samples_per_latent_frame, stages.device
    timings = StageTimings().start(device)

    # the timeline: `lead` samples (whole latent frames) of new audio, the input, `after` samples
    q = math.ceil(before / spl)
    lead = q * spl
    out_len = before + n + after
    total = stages.latent_frames_for(lead + n + after)
    mel = LogMelSpectrogram(stages.mel_config).to(device)(audio[:, 0].to(device)).mel  # (batch, n_mels, T)
    z_in = stages.autoencoder.encode(mel).float()
    known = torch.zeros(batch, z_in.shape[1], total, device=device)
    width = min(z_in.shape[-1], total - q)
    known[..., q : q + width] = z_in[..., :width]
    # kept sample ranges on the timeline → latent frames wholly inside them
    kept_timeline = (
        [(lead, lead + n)] if span is None else [(lead, lead + span[0]), (lead + span[1], lead + n)]
    )
    # the input's own ends are no boundaries when nothing is generated beyond them
    edge_lo, edge_hi = lead, lead + n
    kept_frames = [
        (
            math.ceil(a / spl),
            q + width if (b == edge_hi and not after) else b // spl,
            not (a == edge_lo and not before),
            not (b == edge_hi and not after),
        )
        for a, b in kept_timeline
        if b > a
    ]
    mask = _mask(total, kept_frames, options.ramp)
    if not bool((mask < 1).any()):
        raise ValueError("nothing to generate: the edited span covers no whole latent frame")
    timings.lap("encode")
    latents = _denoise_replacing(
        stages, known, mask, sampling, guidance, options.window_seconds, int(options.harmonize)
    )
    timings.lap("denoise")
    mel_out = decode_chunked(stages, latents)
    timings.lap("decode")
    wav, _ = vocode_chunked(stages, mel_out)
    timings.lap("vocode")
    offset = lead - before
    out = wav[..., offset : offset + out_len].float().cpu().clone()
    if out.shape[-1] < out_len:  # cannot happen with latent_frames_for, kept as a guard
        out = torch.nn.functional.pad(out, (0, out_len - out.shape[-1]))

    # paste the input back, crossfading on the kept side of each boundary
    kept = (
        [(before, before + n)]
        if span is None
        else [(before, before + span[0]), (before + span[1], before + n)]
    )
    kept = [(a, b) for a, b in kept if b > a]
    edited = [(0, before)] if before else []
    edited += [(before + n, out_len)] if after else []
    edited += [(before + span[0], before + span[1])] if span is not None else []
    boundaries = sorted({p for a, b in kept for p in (a, b) if 0 < p < out_len})
    fade = round(options.crossfade * stages.sample_rate)
    source = audio.cpu()
    if options.match_level:
        from audiogen.pipelines.edit_levels import match_levels

        out = match_levels(out, source, before, kept, edited, stages.sample_rate)
    synth = out.clone()
    for a, b in kept:
        out[..., a:b] = source[..., a - before : b - before]
        left, right = a in boundaries, b in boundaries
        length = min(fade, (b - a) // (2 if left and right else 1))
        if not length:
            continue
        fade_out, fade_in = _fades(length)
        if left:  # generated before: re-synthesis → input
            out[..., a : a + length] = (
                synth[..., a : a + length] * fade_out + out[..., a : a + length] * fade_in
            )
        if right:  # generated after: input → re-synthesis
            out[..., b - length : b] = (
                out[..., b - length : b] * fade_out + synth[..., b - length : b] * fade_in
            )
    timings.lap("resample")
    return EditResult(
        waveforms=out,
        sample_rate=stages.sample_rate,
        latents=latents.float().cpu(),
        mask=mask,
        lead_samples=offset,
        kept=kept,
        edited=sorted(edited),
        boundaries=boundaries,
        crossfade_samples=fade,
        seeds=[sampling.seed + i for i in range(batch)],
        style=sampling.style,
        timings=timings,
    )


def extend(
    stages: PipelineStages,
    waveform: torch.Tensor,
    sample_rate: int,
    seconds: float,
    before: float,
    sampling: SamplingConfig,
    guidance: Guidance,
    options: EditOptions,
) -> EditResult:
    """Continue ``waveform`` by ``seconds`` after it and/or ``before`` seconds before it (outpainting).

    The input is mixed to one channel and resampled to the model's rate; the output is
    ``round(before * sr)`` new samples, the input, then ``round(seconds * sr)`` new samples, with
    the input itself (sample for sample) except in the ``crossfade`` at its generated sides.

    Args:
        stages: the pipeline (:class:`~audiogen.pipelines.stages.PipelineStages`) whose models run.
        waveform: ``(batch, channels, samples)`` float audio; item ``i`` gets seed ``seed + i``.
        sample_rate: its rate in Hz.
        seconds: new audio after the input (>= 0).
        before: new audio before the input (>= 0); at least one of the two must be > 0.
        sampling: the sampling settings; guidance: what
            :meth:`AudioGenPipeline.check_inputs <audiogen.pipelines.audiogen.AudioGenPipeline.check_inputs>`
            made of them.
        options: the :class:`EditOptions` (crossfade, ramp, window, harmonize, level matching).

    Returns:
        :class:`EditResult` with ``waveforms (batch, 1, before + n + after)`` samples.

    Raises:
        ValueError: a bad shape, rate, length, crossfade, ramp or harmonize, or as
            :meth:`AudioGenPipeline.__call__`.
    """
    for name, value in (("seconds", seconds), ("before", before)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a non-negative number of seconds, got {value}")
    audio = prepare_input(stages, waveform, sample_rate)
    after_samples, before_samples = round(seconds * stages.sample_rate), round(before * stages.sample_rate)
    if after_samples + before_samples < stages.samples_per_latent_frame:
        raise ValueError(
            f"extend: {seconds + before:g} s of new audio is shorter than one latent frame "
            f"({stages.samples_per_latent_frame / stages.sample_rate:.3f} s)"
        )
    return _edit(stages, audio, before_samples, after_samples, None, sampling, guidance, options)


def inpaint(
    stages: PipelineStages,
    waveform: torch.Tensor,
    sample_rate: int,
    start: float,
    end: float,
    sampling: SamplingConfig,
    guidance: Guidance,
    options: EditOptions,
) -> EditResult:
    """Regenerate the span ``[start, end)`` seconds of ``waveform`` and keep the rest.

    The output has the input's length (at the model's rate, one channel); outside the span and the
    ``crossfade`` before and after it, it is the input sample for sample.

    Args:
        stages, waveform, sample_rate, sampling, guidance, options: as :func:`extend`.
        start: span start in seconds (>= 0).
        end: span end in seconds (<= the input's duration).

    Returns:
        :class:`EditResult` with ``waveforms (batch, 1, n)``.

    Raises:
        ValueError: ``start >= end``, a span outside the clip or shorter than one latent frame, or
            as :func:`extend`.
    """
    if not (math.isfinite(start) and math.isfinite(end)):
        raise ValueError(f"the span must be finite seconds, got [{start}, {end})")
    if start >= end:
        raise ValueError(f"the span start ({start:g} s) must be before its end ({end:g} s)")
    audio = prepare_input(stages, waveform, sample_rate)
    n, sr = audio.shape[-1], stages.sample_rate
    if start < 0 or end > n / sr + 0.5 / sr:
        raise ValueError(f"the span [{start:g}, {end:g}) s is outside the clip (0 to {n / sr:.3f} s)")
    a, b = round(start * sr), min(n, round(end * sr))
    spl = stages.samples_per_latent_frame
    if b - a < spl:
        raise ValueError(
            f"the span [{start:g}, {end:g}) s is shorter than one latent frame ({spl / sr:.3f} s)"
        )
    return _edit(stages, audio, 0, 0, (a, b), sampling, guidance, options)
