"""The generation pipeline: latent denoiser → mel VAE decoder → vocoder, in one object and one folder.

:class:`AudioGenPipeline` composes the trained stages (diffusers-style: it holds them, checks that
they agree, and runs them; it trains nothing). :meth:`AudioGenPipeline.__call__` runs, in numbered
steps:

1. :meth:`~AudioGenPipeline.check_inputs`, the one check of a call's arguments;
2. a sampler (DPM-Solver++, DDIM or Euler, :func:`audiogen.schedulers.make_sampler`; ports of
   diffusers' schedulers in :mod:`audiogen.samplers`) built from the stored training noise
   schedule, and its timesteps;
3. the initial noise ``(batch, latent_dim, latent_frames)``, one CPU generator per item;
4. the denoising loop (:func:`audiogen.pipelines.denoise.denoise_loop`), with classifier-free
   guidance towards a style label;
5. :meth:`MelAutoencoder.decode <audiogen.models.autoencoder.MelAutoencoder.decode>`: the latent
   becomes a natural-log mel ``(batch, n_mels, latent_frames * time_downsample)``;
6. the vocoder: the mel becomes a waveform ``(batch, 1, frames * hop_length)``, cropped to exactly
   ``round(seconds * sample_rate)`` samples.

Seamless loops (:meth:`AudioGenPipeline.loop`) are :mod:`audiogen.pipelines.loop`; variation,
extend and inpaint are :mod:`audiogen.pipelines.edit`.

A pipeline folder (``model_index.json`` and a folder per stage, no pickle) is read and written
through :mod:`audiogen.hub` (its module docstring shows the layout).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audiogen import hub
from audiogen.config import MelConfig
from audiogen.hub import DEFAULT_CFG_SCALE, DEFAULT_STEPS
from audiogen.pipelines.denoise import as_labels, check_pair, denoise_loop, module_device, prepare_latents
from audiogen.pipelines.edit import EditMixin
from audiogen.pipelines.loop import LoopMixin
from audiogen.pipelines.lora import LoraMixin
from audiogen.pipelines.outputs import GenerationResult, StageTimings, _sync
from audiogen.pipelines.stages import stage_disagreements
from audiogen.schedulers import SAMPLERS, make_sampler


def default_model_dir() -> Path:
    """The bundled default pipeline folder, :data:`audiogen.hub.DEFAULT_PIPELINE` (package data).

    It may not exist (e.g. before the default model is trained); :func:`load_pretrained` then
    raises a :class:`FileNotFoundError` telling the user to pass a checkpoint folder.
    """
    return hub.DEFAULT_PIPELINE


class AudioGenPipeline(LoopMixin, EditMixin, LoraMixin):
    """Latent diffusion → mel VAE → vocoder, with generate / loop / variation (see the module docstring).

    :meth:`loop` and its helpers come from :class:`~audiogen.pipelines.loop.LoopMixin`;
    :meth:`variation`, :meth:`extend` and :meth:`inpaint` from
    :class:`~audiogen.pipelines.edit.EditMixin`; the LoRA methods (:meth:`load_lora`, ...) from
    :class:`~audiogen.pipelines.lora.LoraMixin`.

    Args:
        mel_config: the log-mel front end every stage was trained with.
        autoencoder: a :class:`~audiogen.models.autoencoder.MelAutoencoder` (e.g. ``MelVAE``).
        denoiser: a :class:`~audiogen.models.denoiser.LatentDenoiser` (the EMA weights).
        scheduler: the training noise schedule: an :class:`audiogen.samplers.NoiseSchedule` (what
            :meth:`from_pretrained` loads) or the diffusers scheduler of
            :func:`~audiogen.schedulers.noise_scheduler`; samplers are built from its config.
        vocoder: a :class:`~audiogen.models.vocoder.Vocoder`.
        cfg_scale: this model's default classifier-free guidance scale (what :meth:`__call__`,
            :meth:`loop` and :meth:`variation` use when given ``cfg_scale=None``; 1 = none). It is a
            property of the trained denoiser, measured per bundle, and saved in ``model_index.json``
            as ``generation.cfg_scale`` (folders without it load with :data:`DEFAULT_CFG_SCALE`).
        steps: this model's default number of sampler steps (what every generating method uses
            when given ``steps=None``), measured per bundle by FD, saved as ``generation.steps``
            (folders without it load with :data:`~audiogen.hub.DEFAULT_STEPS`, 25).

    Raises:
        ValueError: if ``cfg_scale`` is not finite, ``steps`` is below 1, or if the stages
            disagree, naming every difference: the autoencoder's or the vocoder's front end vs
            ``mel_config`` (sample rate, n_mels, hop_length, ...), the latent channels of the
            autoencoder vs the denoiser, the scheduler's noise process (prediction type,
            timesteps, betas) vs the denoiser's, or (when the denoiser's config records one) the
            time compression it was trained on vs the autoencoder's ``time_downsample``.
    """

    def __init__(
        self,
        mel_config: MelConfig,
        autoencoder: nn.Module,
        denoiser: nn.Module,
        scheduler: Any,
        vocoder: nn.Module,
        cfg_scale: float = DEFAULT_CFG_SCALE,
        steps: int = DEFAULT_STEPS,
    ) -> None:
        if not math.isfinite(cfg_scale):
            raise ValueError(f"cfg_scale (the pipeline's default) must be finite, got {cfg_scale}")
        if steps < 1:
            raise ValueError(f"steps (the pipeline's default) must be >= 1, got {steps}")
        problems = stage_disagreements(mel_config, autoencoder, denoiser, scheduler, vocoder)
        if problems:
            raise ValueError("AudioGenPipeline: the stages do not agree: " + "; ".join(problems))
        self.mel_config = mel_config
        self.autoencoder = autoencoder.eval()
        self.denoiser = denoiser.eval()
        self.scheduler = scheduler
        self.vocoder = vocoder.eval()
        self.cfg_scale = float(cfg_scale)
        self.steps = int(steps)

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
        return module_device(self.denoiser)

    def to(self, device: str | torch.device) -> AudioGenPipeline:
        """Move every model to ``device``; returns ``self``."""
        for model in (self.autoencoder, self.denoiser, self.vocoder):
            model.to(device)
        return self

    # ------------------------------------------------------------------ checks
    def resolve_cfg_scale(self, cfg_scale: float | None) -> float:
        """The CFG scale a call uses: ``cfg_scale``, or the default :attr:`cfg_scale` if ``None``."""
        return self.cfg_scale if cfg_scale is None else cfg_scale

    def resolve_steps(self, steps: int | None) -> int:
        """The sampler steps a call uses: ``steps``, or the default :attr:`steps` if ``None``."""
        return self.steps if steps is None else steps

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

    def check_inputs(
        self,
        seconds: float | None = None,
        num: int = 1,
        steps: int | None = None,
        cfg_scale: float | None = None,
        seed: int = 0,
        style: str | None = None,
        sampler: str = "dpm++",
        *,
        samples: int | None = None,
        repeat: int = 1,
        fit: str = "mel",
        strength: float | None = None,
    ) -> tuple[float, int | None]:
        """Check the arguments of a call (:meth:`__call__`, :meth:`loop`, :meth:`variation`, editing).

        The one place they are checked; the command line only checks its flags' ranges before
        loading (:mod:`audiogen.checks`).

        Args:
            seconds: clip length (``None``: not given); must be a positive number of at least one
                sample at :attr:`sample_rate`.
            num, steps, seed: at least 1, 1 and 0 (``steps=None``: the pipeline's default, :attr:`steps`).
            cfg_scale: finite (``None``: the pipeline's default, :attr:`cfg_scale`).
            style: one of :attr:`styles`, or ``None``.
            sampler: one of :data:`audiogen.schedulers.SAMPLERS`.
            samples: a length in samples (loops); at least 1.
            repeat: copies of a loop; at least 1.
            fit: ``"mel"`` or ``"resample"`` (loops).
            strength: ``None``, or in [0, 1] (variation).

        Returns:
            ``(cfg_scale, label)``: the CFG scale the call uses and the style's class index
            (``None``: unconditional).

        Raises:
            ValueError: naming the first argument out of range, an unknown style (listing the
                known ones) or an unknown sampler.
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
        cfg_scale, steps = self.resolve_cfg_scale(cfg_scale), self.resolve_steps(steps)
        if num < 1:
            raise ValueError(f"num must be >= 1, got {num}")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if not math.isfinite(cfg_scale):
            raise ValueError(f"cfg_scale must be finite, got {cfg_scale}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; choose one of {SAMPLERS}")
        return cfg_scale, self.style_label(style)

    @staticmethod
    def _generators(seed: int, num: int) -> list[torch.Generator]:
        return [torch.Generator("cpu").manual_seed(seed + i) for i in range(num)]

    @torch.no_grad()
    def __call__(
        self,
        seconds: float,
        num: int = 1,
        seed: int = 0,
        steps: int | None = None,
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
            steps: sampler steps (``None``: the pipeline's default, :attr:`steps`).
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
        # 1. check inputs
        steps = self.resolve_steps(steps)
        cfg_scale, label = self.check_inputs(seconds, num, steps, cfg_scale, seed, style, sampler)
        num_samples = round(seconds * self.sample_rate)
        device, timings = self.device, StageTimings()
        start = time.perf_counter()
        # 2. the sampler and its timesteps
        scheduler = make_sampler(sampler, self.scheduler)
        shape = (num, self.denoiser.config.latent_dim, self.latent_frames_for(num_samples))
        check_pair(self.denoiser, scheduler, shape[1])
        scheduler.set_timesteps(steps, device=device)
        # 3. the initial noise: one CPU generator per item, so an item does not depend on the batch size
        generators = self._generators(seed, num)
        latents = prepare_latents(scheduler, shape, generators, device)
        # 4. the denoising loop (classifier-free guidance towards the style)
        labels = as_labels(label, num, device)
        latents = denoise_loop(
            self.denoiser,
            scheduler,
            latents,
            scheduler.timesteps,
            labels,
            cfg_scale,
            generators,
            circular=False,
            progress=progress,
        )
        _sync(device)
        t1 = time.perf_counter()
        # 5. decode: latent → log-mel
        mel = self.autoencoder.decode(latents)
        _sync(device)
        t2 = time.perf_counter()
        # 6. vocode: log-mel → waveform, cropped to the exact length
        waveforms = self.vocoder(mel.float())[..., :num_samples]
        _sync(device)
        t3 = time.perf_counter()
        # 7. the result
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

    # ------------------------------------------------------------------ saving and loading
    def model_index(self) -> dict[str, Any]:
        """The ``model_index.json`` content: stages, version, front end, latent layout, styles and
        ``generation`` (the default CFG scale and sampler steps)."""
        from audiogen import __version__

        return {
            "_class_name": type(self).__name__,
            "audiogen_version": __version__,
            "stages": {
                "autoencoder": {"subfolder": "autoencoder", "class": type(self.autoencoder).__name__},
                "denoiser": {"subfolder": "denoiser", "class": type(self.denoiser).__name__},
                "scheduler": {"subfolder": "scheduler", "class": hub.scheduler_name(self.scheduler)},
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
            "generation": {"cfg_scale": self.cfg_scale, "steps": self.steps},
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
        if self.loras:
            raise ValueError("save_pretrained: LoRA adapters are loaded; fuse_lora() or unload_lora() first")
        stages = {"autoencoder": self.autoencoder, "denoiser": self.denoiser, "vocoder": self.vocoder}
        directory = hub.save_pipeline_folder(
            directory, stages, self.scheduler, self.model_index(), model_card, float16_stages
        )
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> AudioGenPipeline:
        """Load a pipeline folder written by :meth:`save_pretrained` (safetensors + JSON, no pickle).

        Each stage is loaded as the class ``model_index.json`` records for it
        (:func:`audiogen.hub.load_pipeline_stages`).

        Args:
            directory: the pipeline folder.
            device: where to put the models.

        Raises:
            FileNotFoundError: the folder, its ``model_index.json`` or a stage's files are missing
                (the message names the path).
            ValueError: a corrupt or inconsistent file (names it), stages that do not agree (see
                the class docstring), or stages that differ from what ``model_index.json`` records.
        """
        loaded = hub.load_pipeline_stages(directory, device)
        index, index_path = loaded["index"], loaded["index_path"]
        pipeline = cls(
            loaded["mel_config"],
            loaded["autoencoder"],
            loaded["denoiser"],
            loaded["scheduler"],
            loaded["vocoder"],
            cfg_scale=loaded["cfg_scale"],
            steps=loaded["steps"],
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

    def stream(self, style: str | None = None, seconds: float | None = None, **kwargs: Any) -> Any:
        """Waveform chunks ``(channels, samples)`` streamed from the latent sequence model (endless
        unless ``seconds``); :func:`audiogen.pipelines.stream.stream` has the arguments."""
        from audiogen.pipelines.stream import stream

        return stream(self, style=style, seconds=seconds, **kwargs)

    @classmethod
    def from_stage_folders(
        cls,
        autoencoder: str | Path,
        denoiser: str | Path,
        vocoder: str | Path,
        device: str | torch.device = "cpu",
        cfg_scale: float = DEFAULT_CFG_SCALE,
        steps: int = DEFAULT_STEPS,
    ) -> AudioGenPipeline:
        """Assemble a pipeline from trained stages (model folders, checkpoints or training run folders).

        Run folders give their newest complete checkpoint's EMA weights
        (:func:`audiogen.hub.find_model_folder`). The scheduler is the denoiser's training noise
        schedule (:func:`~audiogen.schedulers.noise_scheduler`), the front end the autoencoder's;
        ``cfg_scale`` and ``steps`` become the pipeline's defaults. Save the result with
        :meth:`save_pretrained`.

        Raises:
            FileNotFoundError: a stage cannot be found (names the path).
            ValueError: as the constructor.
        """
        from audiogen.schedulers import noise_scheduler

        vae = hub.load_model(autoencoder, "autoencoder", device)
        den = hub.load_model(denoiser, "denoiser", device)
        voc = hub.load_model(vocoder, "vocoder", device)
        return cls(
            vae.mel_config, vae, den, noise_scheduler(den.config), voc, cfg_scale=cfg_scale, steps=steps
        )


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
