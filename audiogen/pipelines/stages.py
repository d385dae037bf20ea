"""The trained stages of a pipeline, held together: do they agree, their geometry, their folder.

:class:`PipelineStages` holds the mel front end, the autoencoder, the latent denoiser, the training
noise schedule and the vocoder, checks in its constructor that they fit together
(:func:`stage_disagreements` names every difference), gives their geometry (sample rate, hop,
latent frames per length, the decoders' wrap-around context for loops) and reads and writes the
pipeline folder through :mod:`audiogen.hub`. It generates nothing: the sampling methods are
:class:`~audiogen.pipelines.audiogen.AudioGenPipeline`'s, which derives from it; the chunked and
windowed helpers (:mod:`audiogen.pipelines.windows`, :mod:`audiogen.pipelines.inpaint`) take a
:class:`PipelineStages`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import fields
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audiogen import hub
from audiogen.config import MelConfig
from audiogen.hub import DEFAULT_CFG_SCALE, DEFAULT_STEPS
from audiogen.pipelines.denoise import module_device
from audiogen.pipelines.loop import _wrap, conv_context
from audiogen.samplers.schedule import is_flow_schedule


def _differences(a: Any, b: Any, names: list[str] | None = None) -> list[str]:
    """``["name: a_value vs b_value", ...]`` for the dataclass fields where ``a`` and ``b`` differ."""
    names = names or [f.name for f in fields(a)]
    return [f"{n}: {getattr(a, n)!r} vs {getattr(b, n)!r}" for n in names if getattr(a, n) != getattr(b, n)]


def stage_disagreements(
    mel_config: Any, autoencoder: Any, denoiser: Any, scheduler: Any, vocoder: Any
) -> list[str]:
    """Every way the stages disagree, one phrase each (``[]``: they agree).

    Checked: the autoencoder's and the vocoder's front end vs ``mel_config`` (sample rate,
    n_mels, hop_length, ...), the latent channels of the autoencoder vs the denoiser, the
    scheduler's noise process (DDPM or rectified flow, prediction type, timesteps, betas) vs the
    denoiser's config, and (when the denoiser's config records one) the time compression it was
    trained on vs the autoencoder's ``time_downsample``.
    """
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
    flow = is_flow_schedule(scfg)
    if "prediction_type" not in scfg and flow != (dcfg.prediction_type == "flow_prediction"):
        problems.append(
            f"the scheduler is a {'rectified-flow' if flow else 'DDPM'} schedule "
            f"({scfg.get('_class_name')}) but the denoiser was trained with "
            f"prediction_type={dcfg.prediction_type!r}"
        )
    for key in ("prediction_type", "num_train_timesteps", "beta_schedule", "beta_start", "beta_end"):
        if key in scfg and scfg[key] != getattr(dcfg, key):
            problems.append(
                f"scheduler {key}={scfg[key]!r} but the denoiser was trained with {getattr(dcfg, key)!r}"
            )
    return problems


def prepare_input(stages: PipelineStages, waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """``(batch, channels, samples)`` float → ``(batch, 1, n)`` at the model's rate (CPU); an item
    peaking above full scale is brought to -1 dBFS (:func:`~audiogen.audio.levels.limit_peak`)."""
    from audiogen.audio.io import convert_channels, resample
    from audiogen.audio.levels import limit_peak

    if waveform.dim() != 3 or not waveform.is_floating_point() or waveform.shape[-1] < 1:
        raise ValueError(
            f"waveform must be float (batch, channels, samples), got {tuple(waveform.shape)} {waveform.dtype}"
        )
    if int(sample_rate) != sample_rate or sample_rate < 1:
        raise ValueError(f"sample_rate must be a positive integer (Hz), got {sample_rate!r}")
    return limit_peak(
        resample(convert_channels(waveform.float().cpu(), 1), int(sample_rate), stages.sample_rate)
    )


class PipelineStages:
    """The stages of a pipeline and their geometry (see the module docstring).

    Args:
        mel_config: the log-mel front end every stage was trained with.
        autoencoder: a :class:`~audiogen.models.autoencoder.MelAutoencoder` (e.g. ``MelVAE``).
        denoiser: a :class:`~audiogen.models.denoiser.LatentDenoiser` (the EMA weights).
        scheduler: the training noise schedule: an :class:`audiogen.samplers.NoiseSchedule` (what
            :meth:`from_pretrained` loads) or the diffusers scheduler of
            :func:`~audiogen.samplers.factory.noise_scheduler`; samplers are built from its config.
        vocoder: a :class:`~audiogen.models.vocoder.Vocoder`.
        cfg_scale: this model's default classifier-free guidance scale (what a call uses when its
            :class:`~audiogen.pipelines.sampling.SamplingConfig` says ``cfg_scale=None``; 1 = none).
            It is a property of the trained denoiser, measured per bundle, and saved in
            ``model_index.json`` as ``generation.cfg_scale`` (folders without it load with
            :data:`~audiogen.hub.DEFAULT_CFG_SCALE`).
        steps: this model's default number of sampler steps (``steps=None``), measured per bundle,
            saved as ``generation.steps`` (folders without it load with
            :data:`~audiogen.hub.DEFAULT_STEPS`).

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

    def to(self, device: str | torch.device) -> PipelineStages:
        """Move every model to ``device``; returns ``self``."""
        for model in (self.autoencoder, self.denoiser, self.vocoder):
            model.to(device)
        return self

    # ------------------------------------------------------------------ geometry
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
    def detect_style(self, waveform: torch.Tensor, sample_rate: int, classifier: Any) -> str | None:
        """The style ``classifier`` hears in ``waveform``, if this model can generate it, else ``None``.

        The batch is mixed to one channel and resampled to the classifier's rate; the
        classifier's class probabilities (softmax of its logits over the whole clip) are averaged
        over the batch and the most probable label is returned when it is one of :attr:`styles`
        (a model fine-tuned on other styles, or an unconditional one, gets ``None``: generate
        unconditionally).

        Args:
            waveform: ``(batch, channels, samples)`` float audio.
            sample_rate: its rate in Hz.
            classifier: a :class:`~audiogen.models.classifier.StyleClassifier`, or its model folder
                (``config.json`` + ``model.safetensors``, e.g. a pipeline folder's ``classifier/``).

        Raises:
            ValueError: a bad shape or rate; FileNotFoundError / ValueError from loading a folder.
        """
        from audiogen.audio.features import LogMelSpectrogram
        from audiogen.audio.io import resample
        from audiogen.models.classifier import StyleClassifier

        mono = prepare_input(self, waveform, sample_rate)  # (batch, 1, samples) at the model's rate; checks
        if not isinstance(classifier, StyleClassifier):
            classifier = StyleClassifier.from_pretrained(classifier)
        model, mel_config = classifier.eval(), classifier.config.mel
        device = next(model.parameters()).device
        mono = resample(mono, self.sample_rate, mel_config.sample_rate)
        mel = LogMelSpectrogram(mel_config).to(device)(mono[:, 0].to(device)).mel  # (batch, n_mels, frames)
        probabilities = model(mel).logits.float().softmax(dim=-1).mean(dim=0)
        label = model.labels[int(probabilities.argmax())]
        return label if label in self.styles else None

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
        if getattr(self, "loras", None):
            raise ValueError("save_pretrained: LoRA adapters are loaded; fuse_lora() or unload_lora() first")
        stages = {"autoencoder": self.autoencoder, "denoiser": self.denoiser, "vocoder": self.vocoder}
        directory = hub.save_pipeline_folder(
            directory, stages, self.scheduler, self.model_index(), model_card, float16_stages
        )
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> PipelineStages:
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

    @classmethod
    def from_stage_folders(
        cls,
        autoencoder: str | Path,
        denoiser: str | Path,
        vocoder: str | Path,
        device: str | torch.device = "cpu",
        cfg_scale: float = DEFAULT_CFG_SCALE,
        steps: int = DEFAULT_STEPS,
    ) -> PipelineStages:
        """Assemble a pipeline from trained stages (model folders, checkpoints or training run folders).

        Run folders give their newest complete checkpoint's EMA weights
        (:func:`audiogen.hub.find_model_folder`). The scheduler is the denoiser's training noise
        schedule (:func:`~audiogen.samplers.factory.noise_scheduler`), the front end the autoencoder's;
        ``cfg_scale`` and ``steps`` become the pipeline's defaults. Save the result with
        :meth:`save_pretrained`.

        Raises:
            FileNotFoundError: a stage cannot be found (names the path).
            ValueError: as the constructor.
        """
        from audiogen.samplers.factory import noise_scheduler

        vae = hub.load_model(autoencoder, "autoencoder", device)
        den = hub.load_model(denoiser, "denoiser", device)
        voc = hub.load_model(vocoder, "vocoder", device)
        return cls(
            vae.mel_config, vae, den, noise_scheduler(den.config), voc, cfg_scale=cfg_scale, steps=steps
        )




__all__ = ["PipelineStages", "prepare_input", "stage_disagreements"]
