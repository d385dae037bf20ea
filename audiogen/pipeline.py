"""The generation pipeline: latent denoiser → mel VAE decoder → vocoder, in one object and one folder.

:class:`AudioGenPipeline` composes the trained stages (diffusers-style: it holds them, checks that
they agree, and runs them; it trains nothing):

1. :func:`~audiogen.models.diffusion.sample_latents` draws a latent ``(batch, latent_dim,
   latent_frames)`` with a diffusers sampler (DPM-Solver++, DDIM or Euler) built from the stored
   training noise schedule, with classifier-free guidance towards a style label;
2. :meth:`MelAutoencoder.decode <audiogen.models.autoencoder.MelAutoencoder.decode>` turns it into
   a natural-log mel ``(batch, n_mels, latent_frames * time_downsample)``;
3. the vocoder turns the mel into a waveform ``(batch, 1, frames * hop_length)``, cropped to exactly
   ``round(seconds * sample_rate)`` samples.

Seamless loops (:meth:`AudioGenPipeline.loop`) are periodic by construction, not crossfaded: the
denoiser runs in circular mode (wrap-around padding, so the latent has no start or end), the VAE
decoder sees the latent with wrapped context on both sides (the last ``k`` latent frames before it,
the first ``k`` after it, ``k`` ≥ the decoder's receptive field; the middle is kept), and the
vocoder sees the periodic mel the same way. The waveform is then exactly one period of a periodic
signal. The latent period is chosen so that ``P = latent_frames * time_downsample * hop_length``
samples is as near the requested ``L`` as the denoiser's ``length_multiple`` allows; by default the
periodic mel is re-timed to the whole number of frames nearest ``L / hop_length`` (a tempo change,
no pitch change) and only the remaining fraction of a hop is taken up by an FFT (band-limited,
periodic) resampling of the one period to exactly ``L`` samples, which keeps it periodic and
changes pitch by the reported ``pitch_ratio`` (at most ``hop_length / 2L``; ``fit="resample"``
resamples the whole way from ``P``, changing pitch by ``P / L``). :func:`seam_report` measures how
a loop joins end to start.

Audio-to-audio variation (:meth:`AudioGenPipeline.variation`) follows SDEdit (Meng et al., 2022):
encode, noise to ``strength``, denoise (:func:`~audiogen.models.diffusion.noise_and_denoise`),
decode, vocode.

A pipeline folder (no pickle anywhere)::

    model_index.json               stage → subfolder and class, audiogen version, mel front end,
                                   latent layout (latent_dim, time_downsample, length_multiple),
                                   styles, generation.cfg_scale (the default CFG scale)
    autoencoder/  config.json  model.safetensors
    denoiser/     config.json  model.safetensors     (the EMA weights of training)
    scheduler/    scheduler_config.json              (diffusers ``save_config`` of the training
                                                      noise schedule; samplers are built from it)
    vocoder/      config.json  model.safetensors
    MODEL_CARD.md                                    (optional)
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from einops import repeat as einops_repeat
from torch import nn

from audiogen.config import MelConfig, from_dict
from audiogen.loops import (  # noqa: F401  (re-exported: the loop API predates audiogen.loops)
    SeamReport,
    _wrap,
    conv_context,
    loop_samples,
    periodic_resample,
    periodic_stretch,
    seam_report,
)

MODEL_INDEX_NAME = "model_index.json"
DEFAULT_CFG_SCALE = 3.0
"""CFG scale of pipeline folders whose ``model_index.json`` records none (written before it did)."""
SCHEDULER_CONFIG_NAME = "scheduler_config.json"
MODEL_CARD_NAME = "MODEL_CARD.md"
#: Stage name → subfolder of a pipeline folder.
STAGES = ("autoencoder", "denoiser", "scheduler", "vocoder")
#: Longest clip (seconds) the command line accepts; the library itself has no limit.
MAX_SECONDS = 600.0


def default_model_dir() -> Path:
    """The bundled default pipeline folder, ``audiogen/assets/default`` (package data).

    It may not exist (e.g. before the default model is trained); :func:`load_pretrained` then
    raises a :class:`FileNotFoundError` telling the user to pass a checkpoint folder.
    """
    import audiogen

    return Path(audiogen.__file__).resolve().parent / "assets" / "default"


# ------------------------------------------------------------------------------------------------
# results
# ------------------------------------------------------------------------------------------------


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
    """

    waveforms: torch.Tensor
    sample_rate: int
    latents: torch.Tensor
    mels: torch.Tensor
    seeds: list[int]
    style: str | None
    timings: StageTimings = field(default_factory=StageTimings)

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
    pitch_ratio: float = 1.0
    stretch_ratio: float = 1.0
    fit: str = "mel"
    repeat: int = 1


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------


def _differences(a: Any, b: Any, names: list[str] | None = None) -> list[str]:
    """``["name: a_value vs b_value", ...]`` for the dataclass fields where ``a`` and ``b`` differ."""
    names = names or [f.name for f in fields(a)]
    return [f"{n}: {getattr(a, n)!r} vs {getattr(b, n)!r}" for n in names if getattr(a, n) != getattr(b, n)]


def _module_device(module: nn.Module) -> torch.device:
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _read_json(path: Path) -> dict[str, Any]:
    from audiogen.models.config_checks import read_json

    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing")
    data = read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def _subclasses(base: type) -> dict[str, type]:
    found, stack = {base.__name__: base}, list(base.__subclasses__())
    while stack:
        klass = stack.pop()
        found[klass.__name__] = klass
        stack.extend(klass.__subclasses__())
    return found


def _load_model(folder: Path, base: type, device: str | torch.device) -> Any:
    """Load whichever subclass of ``base`` ``folder/config.json`` names (eval mode)."""
    class_name = _read_json(folder / "config.json").get("class")
    classes = _subclasses(base)
    if class_name not in classes:
        raise ValueError(
            f"{folder / 'config.json'}: class {class_name!r} is not a {base.__name__}; "
            f"known: {sorted(classes)}"
        )
    return classes[class_name].from_pretrained(folder, device=device)


def _load_scheduler(folder: Path) -> Any:
    """A diffusers scheduler from ``folder/scheduler_config.json`` (its ``_class_name``)."""
    import diffusers
    from diffusers import SchedulerMixin

    from audiogen.models.config_checks import check_scheduler_config

    path = folder / SCHEDULER_CONFIG_NAME
    config = _read_json(path)
    name = config.get("_class_name")
    klass = getattr(diffusers, str(name), None)
    if not (isinstance(klass, type) and issubclass(klass, SchedulerMixin)):
        raise ValueError(f"{path}: _class_name {name!r} is not a diffusers scheduler")
    check_scheduler_config(config, path)
    try:
        return klass.from_config(config)
    except (NotImplementedError, ValueError, TypeError, KeyError, AttributeError) as e:
        raise ValueError(f"{path}: diffusers cannot build {name} from it ({type(e).__name__}: {e})") from e


def _find_denoiser(path: Path) -> Path:
    """The denoiser model folder for a model folder, checkpoint or training run folder."""
    from audiogen.training.checkpoint import find_model_folder

    return find_model_folder(path, "denoiser")


# ------------------------------------------------------------------------------------------------
# the pipeline
# ------------------------------------------------------------------------------------------------


class AudioGenPipeline:
    """Latent diffusion → mel VAE → vocoder, with generate / loop / variation (see the module docstring).

    Args:
        mel_config: the log-mel front end every stage was trained with.
        autoencoder: a :class:`~audiogen.models.autoencoder.MelAutoencoder` (e.g. ``MelVAE``).
        denoiser: a :class:`~audiogen.models.diffusion.LatentDenoiser` (the EMA weights).
        scheduler: the diffusers training noise scheduler
            (:func:`~audiogen.models.diffusion.noise_scheduler`); samplers are built from its config.
        vocoder: a :class:`~audiogen.models.vocoder.Vocoder`.
        cfg_scale: this model's default classifier-free guidance scale (what :meth:`__call__`,
            :meth:`loop` and :meth:`variation` use when given ``cfg_scale=None``; 1 = none). It is a
            property of the trained denoiser, measured per bundle, and saved in ``model_index.json``
            as ``generation.cfg_scale`` (folders without it load with :data:`DEFAULT_CFG_SCALE`).

    Raises:
        ValueError: if ``cfg_scale`` is not finite, or if the stages disagree, naming every
            difference: the autoencoder's or the vocoder's front end vs ``mel_config`` (sample
            rate, n_mels, hop_length, ...), the latent channels of the autoencoder vs the
            denoiser, the scheduler's noise process (prediction type, timesteps, betas) vs the
            denoiser's, or (when the denoiser's config records one)
            the time compression it was trained on vs the autoencoder's ``time_downsample``.
    """

    def __init__(
        self,
        mel_config: MelConfig,
        autoencoder: nn.Module,
        denoiser: nn.Module,
        scheduler: Any,
        vocoder: nn.Module,
        cfg_scale: float = DEFAULT_CFG_SCALE,
    ) -> None:
        if not math.isfinite(cfg_scale):
            raise ValueError(f"cfg_scale (the pipeline's default) must be finite, got {cfg_scale}")
        problems = []
        for name, stage in (("autoencoder", autoencoder), ("vocoder", vocoder)):
            diff = _differences(mel_config, stage.mel_config)
            if diff:
                problems.append(f"the {name}'s mel front end differs from the pipeline's ({'; '.join(diff)})")
        dcfg = denoiser.config
        if autoencoder.latent_dim != dcfg.latent_dim:
            problems.append(
                f"latent_dim: the autoencoder makes {autoencoder.latent_dim}-channel latents, the denoiser "
                f"expects {dcfg.latent_dim}"
            )
        trained_downsample = getattr(dcfg, "time_downsample", None)
        if trained_downsample is not None and trained_downsample != autoencoder.time_downsample:
            problems.append(
                f"time_downsample: the denoiser was trained on latents of {trained_downsample} mel frames "
                f"per latent frame, the autoencoder compresses by {autoencoder.time_downsample}"
            )
        scfg = scheduler.config
        for key in ("prediction_type", "num_train_timesteps", "beta_schedule", "beta_start", "beta_end"):
            if key in scfg and scfg[key] != getattr(dcfg, key):
                problems.append(
                    f"scheduler {key}={scfg[key]!r} but the denoiser was trained with {getattr(dcfg, key)!r}"
                )
        if problems:
            raise ValueError("AudioGenPipeline: the stages do not agree: " + "; ".join(problems))
        self.mel_config = mel_config
        self.autoencoder = autoencoder.eval()
        self.denoiser = denoiser.eval()
        self.scheduler = scheduler
        self.vocoder = vocoder.eval()
        self.cfg_scale = float(cfg_scale)

    # ------------------------------------------------------------------ properties
    @property
    def sample_rate(self) -> int:
        """Output sample rate in Hz."""
        return self.mel_config.sample_rate

    @property
    def hop_length(self) -> int:
        """Samples per mel frame."""
        return self.mel_config.hop_length

    @property
    def time_downsample(self) -> int:
        """Mel frames per latent frame."""
        return self.autoencoder.time_downsample

    @property
    def length_multiple(self) -> int:
        """Latent frames the denoiser works in multiples of (circular mode requires it)."""
        return self.denoiser.config.length_multiple

    @property
    def samples_per_latent_frame(self) -> int:
        """``time_downsample * hop_length`` samples."""
        return self.time_downsample * self.hop_length

    @property
    def styles(self) -> list[str]:
        """The style names (the denoiser's class labels, class index order); ``[]``: unconditional."""
        cfg = self.denoiser.config
        if cfg.num_classes == 0:
            return []
        return list(cfg.class_labels) if cfg.class_labels else [str(i) for i in range(cfg.num_classes)]

    @property
    def device(self) -> torch.device:
        """The device of the models."""
        return _module_device(self.denoiser)

    def to(self, device: str | torch.device) -> AudioGenPipeline:
        """Move every model to ``device``; returns ``self``."""
        for model in (self.autoencoder, self.denoiser, self.vocoder):
            model.to(device)
        return self

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

    # ------------------------------------------------------------------ checks
    def resolve_cfg_scale(self, cfg_scale: float | None) -> float:
        """The CFG scale a call uses: ``cfg_scale``, or the default :attr:`cfg_scale` if ``None``."""
        return self.cfg_scale if cfg_scale is None else cfg_scale

    def style_label(self, style: str | None) -> int | None:
        """Class index of ``style`` (``None`` → ``None``, unconditional).

        Raises:
            ValueError: if the style is unknown (lists the known ones) or the model has no styles.
        """
        if style is None:
            return None
        styles = self.styles
        if not styles:
            raise ValueError(f"unknown style {style!r}: this model is unconditional (it has no styles)")
        if style not in styles:
            raise ValueError(f"unknown style {style!r}; known styles: {', '.join(styles)}")
        return styles.index(style)

    def latent_frames_for(self, num_samples: int) -> int:
        """Latent frames whose decoding covers ``num_samples`` samples, rounded up to ``length_multiple``.

        ``ceil(ceil(num_samples / hop_length) / time_downsample)`` rounded up to a multiple of the
        denoiser's ``length_multiple`` (at least one multiple).
        """
        frames = math.ceil(num_samples / self.hop_length)
        latent = math.ceil(frames / self.time_downsample)
        m = self.length_multiple
        return max(m, math.ceil(latent / m) * m)

    def loop_latent_frames(self, num_samples: int) -> int:
        """Latent frames of the loop period nearest to ``num_samples`` samples.

        A multiple of ``length_multiple`` (circular mode needs it), at least one:
        ``m * max(1, round(num_samples / (m * samples_per_latent_frame)))``.
        """
        m = self.length_multiple
        return m * max(1, round(num_samples / (m * self.samples_per_latent_frame)))

    @staticmethod
    def _check_common(num: int, steps: int, cfg_scale: float, seed: int) -> None:
        if num < 1:
            raise ValueError(f"num must be >= 1, got {num}")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if not math.isfinite(cfg_scale):
            raise ValueError(f"cfg_scale must be finite, got {cfg_scale}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")

    @staticmethod
    def _check_seconds(seconds: float) -> None:
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"seconds must be a positive number, got {seconds}")

    @staticmethod
    def _generators(seed: int, num: int) -> list[torch.Generator]:
        return [torch.Generator("cpu").manual_seed(seed + i) for i in range(num)]

    # ------------------------------------------------------------------ stages
    def _sample(
        self,
        latent_frames: int,
        num: int,
        seed: int,
        steps: int,
        cfg_scale: float,
        label: int | None,
        sampler: str,
        circular: bool,
        progress: bool,
    ) -> torch.Tensor:
        from audiogen.models.diffusion import make_sampler, sample_latents

        return sample_latents(
            self.denoiser,
            make_sampler(sampler, self.scheduler),
            (num, self.denoiser.config.latent_dim, latent_frames),
            labels=label,
            cfg_scale=cfg_scale,
            generator=self._generators(seed, num),  # one CPU generator per item: batch-size independent
            circular=circular,
            progress=progress,
            num_inference_steps=steps,
        )

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

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def __call__(
        self,
        seconds: float,
        num: int = 1,
        seed: int = 0,
        steps: int = 25,
        cfg_scale: float | None = None,
        style: str | None = None,
        sampler: str = "dpm++",
        progress: bool = True,
    ) -> GenerationResult:
        """Generate ``num`` clips of exactly ``round(seconds * sample_rate)`` samples.

        Item ``i`` is drawn from ``torch.Generator("cpu").manual_seed(seed + i)``, so a seed gives
        the same audio on the same device whatever the batch size (up to float rounding of batched
        kernels).

        Args:
            seconds: clip length in seconds (> 0).
            num: clips, generated as one batch.
            seed: seed of the first clip.
            steps: sampler steps.
            cfg_scale: classifier-free guidance scale (used only with a ``style``; 1 = none);
                ``None``: the pipeline's default, :attr:`cfg_scale`.
            style: one of :attr:`styles`, or ``None`` for unconditional generation.
            sampler: ``"dpm++"``, ``"ddim"`` or ``"euler"``.
            progress: tqdm bar over the sampler steps.

        Returns:
            :class:`GenerationResult` with ``waveforms (num, 1, round(seconds * sample_rate))``.

        Raises:
            ValueError: bad ``seconds`` / ``num`` / ``steps`` / ``seed``, an unknown style or sampler.
        """
        self._check_seconds(seconds)
        cfg_scale = self.resolve_cfg_scale(cfg_scale)
        self._check_common(num, steps, cfg_scale, seed)
        label = self.style_label(style)
        num_samples = round(seconds * self.sample_rate)
        if num_samples < 1:
            raise ValueError(f"seconds={seconds} is shorter than one sample at {self.sample_rate} Hz")
        device, timings = self.device, StageTimings()
        start = time.perf_counter()
        latents = self._sample(
            self.latent_frames_for(num_samples), num, seed, steps, cfg_scale, label, sampler, False, progress
        )
        _sync(device)
        t1 = time.perf_counter()
        mel = self.autoencoder.decode(latents)
        _sync(device)
        t2 = time.perf_counter()
        waveforms = self.vocoder(mel.float())[..., :num_samples]
        _sync(device)
        t3 = time.perf_counter()
        timings.denoise, timings.decode, timings.vocode = t1 - start, t2 - t1, t3 - t2
        timings.total = t3 - start
        frames = min(mel.shape[-1], num_samples // self.hop_length + 1)
        return GenerationResult(
            waveforms=waveforms.float().cpu(),
            sample_rate=self.sample_rate,
            latents=latents.float().cpu(),
            mels=mel[..., :frames].float().cpu(),
            seeds=[seed + i for i in range(num)],
            style=style,
            timings=timings,
        )

    @torch.no_grad()
    def loop(
        self,
        seconds: float | None = None,
        *,
        samples: int | None = None,
        repeat: int = 1,
        num: int = 1,
        seed: int = 0,
        steps: int = 25,
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
        if (seconds is None) == (samples is None):
            raise ValueError("give exactly one of seconds and samples")
        if seconds is not None:
            self._check_seconds(seconds)
            samples = round(seconds * self.sample_rate)
        if samples is None or samples < 1:
            raise ValueError(f"the loop must be at least one sample long, got {samples}")
        if repeat < 1:
            raise ValueError(f"repeat must be >= 1, got {repeat}")
        if fit not in ("mel", "resample"):
            raise ValueError(f"fit must be 'mel' or 'resample', got {fit!r}")
        cfg_scale = self.resolve_cfg_scale(cfg_scale)
        self._check_common(num, steps, cfg_scale, seed)
        label = self.style_label(style)
        device, timings = self.device, StageTimings()
        latent_frames = self.loop_latent_frames(samples)
        period = latent_frames * self.samples_per_latent_frame
        start = time.perf_counter()
        latents = self._sample(latent_frames, num, seed, steps, cfg_scale, label, sampler, True, progress)
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
            pitch_ratio=one_period.shape[-1] / samples,
            stretch_ratio=one_period.shape[-1] / period,
            fit=fit,
            repeat=repeat,
        )

    @torch.no_grad()
    def variation(
        self,
        waveform: torch.Tensor,
        sample_rate: int,
        strength: float = 0.5,
        seed: int = 0,
        steps: int = 25,
        cfg_scale: float | None = None,
        style: str | None = None,
        sampler: str = "dpm++",
        progress: bool = True,
    ) -> GenerationResult:
        """A variation of ``waveform``: encode, noise to ``strength``, denoise, decode, vocode (SDEdit).

        The input is mixed to mono and resampled to the model's rate (libsoxr); its log-mel is
        encoded to the posterior mean, :func:`~audiogen.models.diffusion.noise_and_denoise` runs the
        last ``round(strength * steps)`` sampler steps, and the result is decoded and vocoded to
        the (resampled) input's length.

        Args:
            waveform: ``(samples,)`` or ``(channels, samples)`` float audio.
            sample_rate: its rate in Hz.
            strength: in [0, 1]; 0 = the input's reconstruction, 1 = a new clip of the same length.
            seed, steps, cfg_scale, style, sampler, progress: as :meth:`__call__`.

        Returns:
            :class:`GenerationResult` with ``waveforms (1, 1, n)`` at the model's rate, ``n`` the
            input's length at that rate (equal to the input's sample count when the rates agree).

        Raises:
            ValueError: bad shape or rate, ``strength`` outside [0, 1], fewer samples than one mel
                frame's hop, or as :meth:`__call__`.
        """
        from audiogen.audio.features import LogMelSpectrogram
        from audiogen.audio.io import convert_channels, resample
        from audiogen.models.diffusion import make_sampler, noise_and_denoise

        if waveform.dim() == 1:
            waveform = waveform[None]
        if waveform.dim() != 2 or not waveform.is_floating_point():
            raise ValueError(
                f"variation: waveform must be float (samples,) or (channels, samples), got "
                f"{tuple(waveform.shape)} {waveform.dtype}"
            )
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {strength}")
        cfg_scale = self.resolve_cfg_scale(cfg_scale)
        self._check_common(1, steps, cfg_scale, seed)
        label = self.style_label(style)
        device, timings = self.device, StageTimings()
        start = time.perf_counter()
        mono = resample(convert_channels(waveform.float().cpu(), 1), sample_rate, self.sample_rate)
        num_samples = mono.shape[-1]
        if num_samples < self.hop_length:
            raise ValueError(
                f"variation: the input is too short ({num_samples} samples at {self.sample_rate} Hz)"
            )
        mel = LogMelSpectrogram(self.mel_config).to(device)(mono.to(device)).mel  # (1, n_mels, frames)
        # encoder, decoder and vocoder in chunks: memory bounded whatever the input's length
        from audiogen.chunked import decode_chunked, encode_chunked, vocode_chunked

        latent = encode_chunked(self, mel)
        del mono
        _sync(device)
        t0 = time.perf_counter()
        latents = noise_and_denoise(
            self.denoiser,
            make_sampler(sampler, self.scheduler),
            latent,
            strength,
            labels=label,
            cfg_scale=cfg_scale,
            generator=self._generators(seed, 1),
            progress=progress,
            num_inference_steps=steps,
        )
        _sync(device)
        t1 = time.perf_counter()
        out_mel = decode_chunked(self, latents)[..., : mel.shape[-1]]
        _sync(device)
        t2 = time.perf_counter()
        wav = vocode_chunked(self, out_mel.float())[0][..., :num_samples]
        _sync(device)
        t3 = time.perf_counter()
        timings.encode, timings.denoise, timings.decode = t0 - start, t1 - t0, t2 - t1
        timings.vocode, timings.total = t3 - t2, t3 - start
        return GenerationResult(
            waveforms=wav.float().cpu(),
            sample_rate=self.sample_rate,
            latents=latents.float().cpu(),
            mels=out_mel.float().cpu(),
            seeds=[seed],
            style=style,
            timings=timings,
        )

    # ------------------------------------------------------------------ saving and loading
    def model_index(self) -> dict[str, Any]:
        """The ``model_index.json`` content: stages, version, front end, latent layout, styles and
        ``generation.cfg_scale`` (the default CFG scale)."""
        from audiogen import __version__

        return {
            "_class_name": type(self).__name__,
            "audiogen_version": __version__,
            "stages": {
                "autoencoder": {"subfolder": "autoencoder", "class": type(self.autoencoder).__name__},
                "denoiser": {"subfolder": "denoiser", "class": type(self.denoiser).__name__},
                "scheduler": {"subfolder": "scheduler", "class": type(self.scheduler).__name__},
                "vocoder": {"subfolder": "vocoder", "class": type(self.vocoder).__name__},
            },
            "mel": self.mel_config.to_dict(),
            "latent": {
                "latent_dim": int(self.autoencoder.latent_dim),
                "time_downsample": int(self.time_downsample),
                "length_multiple": int(self.length_multiple),
                "latent_frame_rate": self.sample_rate / self.samples_per_latent_frame,
            },
            "styles": self.styles,
            "generation": {"cfg_scale": self.cfg_scale},
        }

    def save_pretrained(
        self,
        directory: str | Path,
        model_card: str | None = None,
        float16_stages: Sequence[str] = (),
    ) -> Path:
        """Write the pipeline folder (see the module docstring); ``model_index.json`` is written last.

        Args:
            directory: output folder (created; existing stage files are replaced).
            model_card: Markdown text for ``MODEL_CARD.md`` (``None``: none written).
            float16_stages: stages (``"autoencoder"``, ``"denoiser"``, ``"vocoder"``) whose
                parameters are stored as float16 (half the file; loaded back as float32).

        Returns:
            ``directory`` as a :class:`~pathlib.Path`.

        Raises:
            ValueError: ``float16_stages`` names something that is not a stage with weights, or LoRA
                adapters are loaded (fuse or unload them first).
        """
        from audiogen.models.pretrained import write_json_atomic

        if self.loras:
            raise ValueError("save_pretrained: LoRA adapters are loaded; fuse_lora() or unload_lora() first")
        stages = {"autoencoder": self.autoencoder, "denoiser": self.denoiser, "vocoder": self.vocoder}
        unknown = sorted(set(float16_stages) - set(stages))
        if unknown:
            raise ValueError(
                f"float16_stages: {unknown} are not stages with weights (choose from {sorted(stages)})"
            )
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name, model in stages.items():
            dtype = torch.float16 if name in float16_stages else None
            model.save_pretrained(directory / name, parameter_dtype=dtype)
        self.scheduler.save_config(str(directory / "scheduler"))
        if model_card is not None:
            (directory / MODEL_CARD_NAME).write_text(model_card)
        write_json_atomic(directory / MODEL_INDEX_NAME, self.model_index())
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> AudioGenPipeline:
        """Load a pipeline folder written by :meth:`save_pretrained` (safetensors + JSON, no pickle).

        Args:
            directory: the pipeline folder.
            device: where to put the models.

        Raises:
            FileNotFoundError: the folder, its ``model_index.json`` or a stage's files are missing
                (the message names the path).
            ValueError: a corrupt or inconsistent file (names it), stages that do not agree (see
                the class docstring), or stages that differ from what ``model_index.json`` records.
        """
        from audiogen.models.autoencoder import MelAutoencoder
        from audiogen.models.config_checks import check_model_index
        from audiogen.models.diffusion import LatentDenoiser
        from audiogen.models.vocoder import Vocoder

        directory = Path(directory)
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory}: no such pipeline folder")
        index_path = directory / MODEL_INDEX_NAME
        if not index_path.is_file():
            raise FileNotFoundError(
                f"{directory}: not a pipeline folder (missing {MODEL_INDEX_NAME}; write one with "
                "AudioGenPipeline.save_pretrained)"
            )
        index = _read_json(index_path)
        stages = check_model_index(index, directory, index_path, STAGES)
        try:
            mel_config = from_dict(MelConfig, index["mel"])
            cfg_scale = float(index.get("generation", {}).get("cfg_scale", DEFAULT_CFG_SCALE))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"{index_path}: malformed ({type(e).__name__}: {e})") from e
        if not math.isfinite(cfg_scale):
            raise ValueError(f"{index_path}: malformed (generation.cfg_scale is {cfg_scale}, not finite)")
        for name, folder in stages.items():
            if not folder.is_dir():
                raise FileNotFoundError(f"{folder}: missing {name} folder of the pipeline in {directory}")
        pipeline = cls(
            mel_config,
            _load_model(stages["autoencoder"], MelAutoencoder, device),
            _load_model(stages["denoiser"], LatentDenoiser, device),
            _load_scheduler(stages["scheduler"]),
            _load_model(stages["vocoder"], Vocoder, device),
            cfg_scale=cfg_scale,
        )
        recorded = index.get("latent", {})
        actual = pipeline.model_index()["latent"]
        diff = [
            f"{k}: {recorded[k]!r} recorded vs {actual[k]!r} loaded"
            for k in ("latent_dim", "time_downsample", "length_multiple")
            if k in recorded and recorded[k] != actual[k]
        ]
        if diff:
            raise ValueError(
                f"{index_path}: the stages differ from the recorded latent layout ({'; '.join(diff)})"
            )
        return pipeline

    @classmethod
    def from_stage_folders(
        cls,
        autoencoder: str | Path,
        denoiser: str | Path,
        vocoder: str | Path,
        device: str | torch.device = "cpu",
        cfg_scale: float = DEFAULT_CFG_SCALE,
    ) -> AudioGenPipeline:
        """Assemble a pipeline from trained stages (model folders, checkpoints or training run folders).

        Run folders give their newest complete checkpoint's EMA weights. The scheduler is the
        denoiser's training noise schedule (:func:`~audiogen.models.diffusion.noise_scheduler`),
        the front end the autoencoder's; ``cfg_scale`` becomes the pipeline's default CFG scale.
        Save the result with :meth:`save_pretrained`.

        Raises:
            FileNotFoundError: a stage cannot be found (names the path).
            ValueError: as the constructor.
        """
        from audiogen.evaluation.reconstruction import load_autoencoder, load_vocoder
        from audiogen.models.diffusion import LatentDenoiser, noise_scheduler

        vae = load_autoencoder(autoencoder, device)
        den = LatentDenoiser.from_pretrained(_find_denoiser(Path(denoiser)), device=device)
        voc = load_vocoder(vocoder, device)
        return cls(vae.mel_config, vae, den, noise_scheduler(den.config), voc, cfg_scale=cfg_scale)

    # ------------------------------------------------------------------ editing (audiogen.editing)
    def extend(
        self,
        waveform: torch.Tensor,
        sample_rate: int,
        seconds: float = 0.0,
        before: float = 0.0,
        **kwargs: Any,
    ) -> Any:
        """Continue ``waveform (batch, channels, samples)``: ``seconds`` after it, ``before`` seconds before.

        See :func:`audiogen.editing.extend` (keyword arguments, result, errors).
        """
        from audiogen.editing import extend

        return extend(self, waveform, sample_rate, seconds, before, **kwargs)

    def inpaint(
        self, waveform: torch.Tensor, sample_rate: int, start: float, end: float, **kwargs: Any
    ) -> Any:
        """Regenerate ``[start, end)`` seconds of ``waveform (batch, channels, samples)``, keep the rest.

        See :func:`audiogen.editing.inpaint` (keyword arguments, result, errors).
        """
        from audiogen.editing import inpaint

        return inpaint(self, waveform, sample_rate, start, end, **kwargs)

    # ------------------------------------------------------------------ LoRA adapters (audiogen.models.lora)
    def _lora_stack(self) -> Any:
        from audiogen.models.lora import LoraStack

        if getattr(self, "_lora", None) is None:
            self._lora = LoraStack(self)
        return self._lora

    @property
    def loras(self) -> dict[str, float]:
        """The loaded LoRA adapters, ``{name: strength}`` in load order (``{}``: none)."""
        stack = getattr(self, "_lora", None)
        return stack.summary() if stack is not None else {}

    def load_lora(self, path: str | Path, name: str | None = None, strength: float = 1.0) -> str:
        """Load a LoRA adapter of the denoiser (``audiogen finetune --lora``) at ``strength``; they stack.

        Its styles join :attr:`styles` (with CFG as the built-in ones); see :mod:`audiogen.models.lora`.

        Args:
            path: the adapter folder, ``RUN/lora`` or the fine-tuning run folder ``RUN``.
            name: the adapter's name (default: its first style, else its folder's name).
            strength: 0 = off (output bit-identical to the base), 1 = as trained; any finite value.

        Returns:
            The adapter's name.

        Raises:
            FileNotFoundError: no adapter at ``path``.
            audiogen.models.lora.LoraError: a corrupt adapter, or one made for another base model
                (one line naming the file), a name or style already loaded.
        """
        return self._lora_stack().load(path, name=name, strength=strength)

    def set_lora_strength(self, name: str, strength: float) -> None:
        """Set a loaded adapter's strength. Raises ``KeyError`` for an unknown name."""
        self._lora_stack().set_strength(name, strength)

    def unload_lora(self, name: str) -> None:
        """Remove a loaded adapter (the base is restored exactly when none is left). Raises ``KeyError``."""
        self._lora_stack().unload(name)

    def fuse_lora(self) -> None:
        """Merge the loaded adapters at their strengths into the denoiser's weights (faster; final).

        The result is a plain pipeline (``save_pretrained`` writes it); strengths cannot change after.
        """
        self._lora_stack().fuse()
        self._lora = None


def load_pretrained(
    path: str | Path | None = None, device: str | torch.device | None = None
) -> AudioGenPipeline:
    """Load a pipeline folder, by default the bundled one (:func:`default_model_dir`).

    Args:
        path: pipeline folder (``None``: the bundled default model).
        device: torch device (``None``: CUDA if available, else CPU).

    Raises:
        FileNotFoundError: no folder there; for the default, the message says to pass a checkpoint.
        ValueError: as :meth:`AudioGenPipeline.from_pretrained`.
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if path is None:
        path = default_model_dir()
        if not (path / MODEL_INDEX_NAME).is_file():
            raise FileNotFoundError(
                f"the bundled default model is not installed ({path / MODEL_INDEX_NAME} does not exist); "
                "pass a pipeline folder (--checkpoint DIR on the command line)"
            )
    return AudioGenPipeline.from_pretrained(path, device=device)


__all__ = [
    "AudioGenPipeline",
    "GenerationResult",
    "LoopResult",
    "SeamReport",
    "StageTimings",
    "conv_context",
    "default_model_dir",
    "load_pretrained",
    "loop_samples",
    "periodic_resample",
    "periodic_stretch",
    "seam_report",
]
