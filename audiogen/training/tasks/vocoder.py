"""Training stage: a neural vocoder (:class:`~audiogen.models.vocoder.VocosVocoder` or the hybrid
:class:`~audiogen.models.vocoder.GLRefineVocoder`, chosen by ``model.vocoder.type``) as a GAN.

Batches are waveform segments of ``data.segment_samples`` samples (a multiple of the front end's
``hop_length``) from :class:`~audiogen.data.datasets.SegmentDataset`. On the training device the
task computes the segment's log-mel with :class:`~audiogen.audio.features.LogMelSpectrogram`
(under ``no_grad``: it is the input, not a loss), drops the last frame so that ``k`` frames map to
the ``k * hop_length`` samples of the segment (the vocoder's length contract), and vocodes it.

Two phases per step, one AdamW each (the trainer's ``train.lr`` / ``train.betas``; Vocos uses
5e-4 and (0.8, 0.9)), in this order:

1. ``"discriminator"``: ``adv_disc`` (hinge by default) of :class:`VocoderDiscriminator` (MPD +
   MRD) on real segments and detached vocoder output.
2. ``"generator"``: ``mel_l1`` (log-mel L1 in nats, :class:`~audiogen.models.discriminators.MelL1Loss`),
   ``mrstft`` (auraloss multi-resolution STFT), ``adv_gen`` and ``feature_matching``, as
   :meth:`~audiogen.models.discriminators.VocoderLoss.generator_losses`.

The generator's output is computed once per batch (in the discriminator phase, with its graph)
and reused by the generator phase. In the generator phase the discriminator is called with its
parameters frozen (``requires_grad`` off for the call), so the generator's backward writes no
gradient into it; besides, the trainer zeroes every model's gradients after each phase's update
and refuses gradient accumulation with several phases, so each optimizer only ever sees the
gradients of its own phase.

For the first ``model.disc_start_step`` optimizer steps the adversarial terms are off (a mel /
MR-STFT warm-up, Vocos' ``pretrain_mel_steps``): the generator returns ``adv_gen`` and
``feature_matching`` as constant zeros and the discriminator phase returns ``adv_disc = 0``
(a zero tied to its parameters, so the update is a no-op for AdamW without weight decay; the
discriminator is not even run). The step count is read from the generator optimizer's state, so it
survives ``--resume``.

Validation, on the fixed, evenly spaced crops of the validation split: ``mel_l1_db`` (mean
absolute log-mel difference in dB between the segment and the re-analysed vocoder output) and
``mrstft``; samples are the vocoder's audio (plus the input as ``_input.wav``) and a PNG of the
true mel above the re-analysed mel of the output.

The generator gets an EMA copy when ``train.ema_decay`` is set (``null`` turns it off); each
checkpoint's ``ema/vocoder/`` (EMA weights) and ``models/vocoder/`` (raw weights) are model folders
(``config.json`` + ``model.safetensors``) that :meth:`Vocoder.from_pretrained` loads;
:func:`audiogen.hub.find_model_folder` finds the newest one of a run.

References: Siuzdenko 2023, "Vocos" (https://github.com/gemelo-ai/vocos,
``vocos/experiment.py::VocosExp``); Kong et al. 2020, "HiFi-GAN".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from einops import rearrange
from torch import nn

from audiogen.audio.levels import DB_PER_NEPER
from audiogen.config import MelConfig, from_dict
from audiogen.models.discriminators import (
    DiscriminatorConfig,
    VocoderDiscriminator,
    VocoderLoss,
    VocoderLossConfig,
)
from audiogen.models.vocoder import VOCODER_TYPES, Vocoder, vocoder_spec
from audiogen.training.adversarial import frozen, optimizer_steps, zero_loss
from audiogen.training.tasks.base import Sample, Task, ValidationOutput, apply_random_gain, check_gain_db


@dataclass(frozen=True)
class VocoderModelSection:
    """The ``model`` section of a vocoder recipe.

    Attributes:
        vocoder: ``type`` (a key of :data:`~audiogen.models.vocoder.VOCODER_TYPES`: ``"vocos"``, the
            default, or ``"gl_refine"``) and that vocoder's config fields (``VocoderConfig`` /
            ``GLRefineConfig`` in :mod:`audiogen.models.vocoder`) except ``mel`` (the front end is the
            recipe's ``mel`` section).
        discriminator: :class:`~audiogen.models.discriminators.DiscriminatorConfig` fields.
        loss: :class:`~audiogen.models.discriminators.VocoderLossConfig` fields (adversarial loss
            type, MPD / MRD group weights, MR-STFT resolutions).
        disc_start_step: optimizer steps trained on ``mel_l1`` + ``mrstft`` only before the
            adversarial losses (and the discriminator's training) start.
        decoded_input: :class:`DecodedInputConfig` fields (``autoencoder``, ``fraction``): train part
            of each batch on the mel the VAE gives back instead of the true mel. ``None``: off.
    """

    vocoder: dict[str, Any] = field(default_factory=dict)
    discriminator: dict[str, Any] = field(default_factory=dict)
    loss: dict[str, Any] = field(default_factory=dict)
    disc_start_step: int = 0
    decoded_input: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.disc_start_step < 0:
            raise ValueError(f"model.disc_start_step must be >= 0, got {self.disc_start_step}")
        if "mel" in (self.vocoder or {}):
            raise ValueError(
                "model.vocoder.mel: the front end is set in the recipe's 'mel' section, not under 'model'"
            )


@dataclass(frozen=True)
class DecodedInputConfig:
    """``model.decoded_input``: fine-tune the vocoder on the mels the VAE decodes.

    In generation the vocoder never sees a true mel, only what the VAE decoder gives. As HiFi-GAN
    fine-tunes on the acoustic model's predicted mels (Kong et al. 2020, section 4.4), a random
    ``fraction`` of each training batch's rows gets ``decode(encode(mel))`` (posterior mean) of a
    frozen autoencoder as its input, while the target stays the true waveform. Validation reports
    the true-mel metrics and the same metrics on the decoded mel (``decoded_mel_l1_db``,
    ``decoded_mrstft``).

    Attributes:
        autoencoder: folder of the frozen VAE (a model, pipeline, checkpoint or run folder, as
            :func:`audiogen.hub.load_model`), e.g. ``audiogen/assets/default``.
        fraction: probability that a training row gets the decoded mel, in ``[0, 1]``.
    """

    autoencoder: str
    fraction: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"model.decoded_input.fraction must be in [0, 1], got {self.fraction}")


@dataclass(frozen=True)
class VocoderDataConfig:
    """The ``data`` section of a vocoder recipe.

    Attributes:
        manifest: JSONL manifest (``audiogen data scan`` / the corpus builder).
        audio_dir: alternatively, a folder of audio scanned when training starts.
        segment_samples: training / validation segment length in samples; a multiple of the front
            end's ``hop_length`` (Vocos: 16384 samples, 0.74 s at 22,050 Hz).
        channels: channels loaded per file; each channel is a separate example (1 = mix to mono).
        normalize: level normalisation of crops (``"peak"`` to -1 dBFS, ``"loudness"``, ``None``),
            as :class:`~audiogen.data.datasets.SegmentDataset`.
        gain_db: ``[low, high]``: each training segment is scaled by a random gain drawn uniformly
            in this range (dB) after normalisation, so the vocoder sees several levels (Vocos:
            peak-normalised to -1 … -6 dBFS, i.e. ``[-5, 0]`` after a -1 dBFS peak). ``None``: off.
        train_split: manifest split used for training.
        val_split: manifest split used for validation (``None``: no validation).
        valid_fraction: with ``audio_dir``, the fraction of files the scan puts in ``"valid"``.
        valid_crops_per_file: fixed validation crops per file.
    """

    manifest: str | None = None
    audio_dir: str | None = None
    segment_samples: int = 16384
    channels: int = 1
    normalize: Literal["peak", "loudness"] | None = "peak"
    gain_db: tuple[float, float] | None = (-5.0, 0.0)
    train_split: str = "train"
    val_split: str | None = "valid"
    valid_fraction: float = 0.1
    valid_crops_per_file: int = 4

    def __post_init__(self) -> None:
        if (self.manifest is None) == (self.audio_dir is None):
            raise ValueError("data: give exactly one of 'manifest' and 'audio_dir'")
        if self.normalize not in ("peak", "loudness", None):
            raise ValueError(f"data.normalize must be 'peak', 'loudness' or null, got {self.normalize!r}")
        if self.segment_samples < 1 or self.channels < 1 or self.valid_crops_per_file < 1:
            raise ValueError(
                "data.segment_samples, data.channels and data.valid_crops_per_file must be >= 1, got "
                f"{self.segment_samples}, {self.channels}, {self.valid_crops_per_file}"
            )
        object.__setattr__(self, "gain_db", check_gain_db(self.gain_db))


class VocoderTask(Task):
    """The vocoder GAN stage; recipe sections ``mel``, ``model``, ``loss_weights``, ``data``, ``train``.

    Models: ``"vocoder"`` (the ``model.vocoder.type`` class, EMA'd) and ``"discriminator"``
    (:class:`VocoderDiscriminator`). Phases: ``"discriminator"`` then ``"generator"``. Batches:
    ``{"waveform": (batch, channels, segment_samples)}``.

    Raises:
        ValueError: if a section has unknown keys or inconsistent values (segment length not a
            multiple of ``hop_length``, or shorter than the discriminator accepts).
    """

    name = "vocoder"
    ema_models = ("vocoder",)

    def __init__(self, recipe: dict[str, Any]) -> None:
        super().__init__(recipe)
        self.mel_config = from_dict(MelConfig, recipe.get("mel"))
        self.model_section = from_dict(VocoderModelSection, recipe.get("model"))
        spec = vocoder_spec(self.model_section.vocoder, self.mel_config)  # validates the section now
        self.vocoder_type, self.vocoder_config = spec.type, spec.config
        self.discriminator_config = from_dict(DiscriminatorConfig, self.model_section.discriminator)
        self.loss_config = from_dict(VocoderLossConfig, self.model_section.loss)
        self.data_config = from_dict(VocoderDataConfig, recipe.get("data"))
        decoded = self.model_section.decoded_input
        self.decoded_config = None if decoded is None else from_dict(DecodedInputConfig, decoded)
        self.autoencoder: nn.Module | None = None
        hop, seg = self.mel_config.hop_length, self.data_config.segment_samples
        if seg % hop:
            raise ValueError(
                f"data.segment_samples={seg} must be a multiple of mel.hop_length={hop} "
                f"(e.g. {max(1, round(seg / hop)) * hop})"
            )
        dc = self.discriminator_config
        min_samples = max(max(dc.periods) + 1, max(n for n, _ in dc.resolutions) // 2 + 1)
        if seg < min_samples:
            raise ValueError(
                f"data.segment_samples={seg} is shorter than the discriminator needs ({min_samples})"
            )
        self.frontend: nn.Module | None = None
        self.loss: VocoderLoss | None = None
        self._optimizers: dict[str, torch.optim.Optimizer] = {}
        self._cache: tuple[dict[str, Any], torch.Tensor, torch.Tensor] | None = None

    # ------------------------------------------------------------------ models and data
    def build_models(self) -> dict[str, nn.Module]:
        """``{"vocoder": the model.vocoder.type class, "discriminator": VocoderDiscriminator}``."""
        vocoder: Vocoder = VOCODER_TYPES[self.vocoder_type][0](self.vocoder_config)
        return {
            "vocoder": vocoder,
            "discriminator": VocoderDiscriminator(self.discriminator_config),
        }

    def build_optimizers(self, models: dict[str, nn.Module], config: Any) -> dict[str, torch.optim.Optimizer]:
        """One AdamW per phase, ``"discriminator"`` first (``train.lr``, ``betas``, ``weight_decay``)."""

        def adamw(model: nn.Module) -> torch.optim.Optimizer:
            params = [p for p in model.parameters() if p.requires_grad]
            return torch.optim.AdamW(
                params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay
            )

        self._optimizers = {
            "discriminator": adamw(models["discriminator"]),
            "generator": adamw(models["vocoder"]),
        }
        return dict(self._optimizers)

    def _dataset(self, entries: list[Any], split: str, train: bool) -> torch.utils.data.Dataset:
        from audiogen.data.datasets import SegmentDataset

        d, cfg = self.data_config, self.mel_config
        dataset = SegmentDataset(
            entries,
            d.segment_samples / cfg.sample_rate,
            cfg.sample_rate,
            channels=d.channels,
            split=split,
            train=train,
            normalize=d.normalize,
            valid_crops_per_file=d.valid_crops_per_file,
        )
        if dataset.segment_samples != d.segment_samples:  # guards the seconds round trip
            raise ValueError(
                f"SegmentDataset gives {dataset.segment_samples} samples, expected {d.segment_samples}"
            )
        return dataset

    def setup(self, accelerator: Any, models: dict[str, nn.Module]) -> None:
        """Keep the prepared models; put the log-mel front end and the losses on the device."""
        from audiogen.audio.features import LogMelSpectrogram

        super().setup(accelerator, models)
        self.frontend = LogMelSpectrogram(self.mel_config).to(self.device)
        self.loss = VocoderLoss(self.mel_config, self.loss_config).to(self.device)
        if self.decoded_config is not None:
            from audiogen.hub import load_model

            path = self.decoded_config.autoencoder
            self.autoencoder = load_model(path, "autoencoder", self.device).eval().requires_grad_(False)
            if self.autoencoder.mel_config != self.mel_config:
                raise ValueError(
                    f"model.decoded_input.autoencoder {path}: its front end "
                    f"{self.autoencoder.mel_config.to_dict()} differs from the recipe's mel section "
                    f"{self.mel_config.to_dict()}"
                )

    # ------------------------------------------------------------------ helpers
    def optimizer_steps(self) -> int:
        """Generator optimizer steps done so far (restored with the optimizer on ``--resume``)."""
        return optimizer_steps(self._optimizers.get("generator"))

    def adversarial_active(self) -> bool:
        """Whether the adversarial losses are on (``optimizer_steps() >= model.disc_start_step``)."""
        return self.optimizer_steps() >= self.model_section.disc_start_step

    def segments(self, batch: dict[str, Any], train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Waveform segments and their vocoder input.

        Args:
            batch: ``{"waveform": (batch, channels, samples)}`` with ``samples = k * hop_length``.
            train: apply the random gain of ``data.gain_db``.

        Returns:
            ``(waveform (batch * channels, 1, samples), log_mel (batch * channels, n_mels, k))``:
            the log-mel (natural log amplitude, float32) of the segment without its last frame, so
            that the vocoder output has exactly ``samples`` samples.

        Raises:
            KeyError: if the batch has no ``"waveform"``.
            ValueError: if ``samples`` is not a multiple of ``hop_length``.
        """
        if "waveform" not in batch:
            raise KeyError(f"vocoder batch needs 'waveform', got keys {sorted(batch)}")
        wav = rearrange(batch["waveform"].float(), "b c n -> (b c) 1 n")
        hop = self.mel_config.hop_length
        if wav.shape[-1] % hop:
            raise ValueError(f"segment of {wav.shape[-1]} samples is not a multiple of hop_length={hop}")
        if train:
            wav = apply_random_gain(wav, self.data_config.gain_db)
        assert self.frontend is not None, "setup() was not called"
        with torch.no_grad():
            mel = self.frontend(rearrange(wav, "b 1 n -> b n")).mel  # (batch, n_mels, k + 1)
            mel = mel[..., : wav.shape[-1] // hop]
            if train and self.autoencoder is not None:
                assert self.decoded_config is not None
                rows = torch.rand(mel.shape[0], device=mel.device) < self.decoded_config.fraction
                if rows.any():
                    mel[rows] = self.decoded_mel(mel[rows])
        return wav, mel

    @torch.no_grad()
    def decoded_mel(self, mel: torch.Tensor) -> torch.Tensor:
        """The frozen VAE's reconstruction of ``mel (batch, n_mels, frames)`` (posterior mean), same shape.

        Raises:
            RuntimeError: if ``model.decoded_input`` is not set (no autoencoder loaded).
        """
        if self.autoencoder is None:
            raise RuntimeError("decoded_mel needs model.decoded_input (no autoencoder loaded)")
        ae: Any = self.autoencoder
        return ae.decode(ae.encode(mel.float()), frames=mel.shape[-1]).to(mel.dtype)

    # ------------------------------------------------------------------ training and validation
    def step(self, batch: dict[str, Any], phase: str) -> dict[str, torch.Tensor]:
        """Losses of ``phase`` (``"discriminator"`` or ``"generator"``) on one batch, unweighted.

        Raises:
            ValueError: on an unknown phase.
        """
        assert self.loss is not None, "setup() was not called"
        active = self.adversarial_active()
        if phase == "discriminator":
            if not active:
                self._cache = None
                return {"adv_disc": zero_loss(self.models["discriminator"])}
            target, mel = self.segments(batch, train=True)
            prediction = self.models["vocoder"](mel)
            self._cache = (batch, target, prediction)  # reused (with its graph) by the generator phase
            return self.loss.discriminator_losses(prediction, target, self.models["discriminator"])
        if phase != "generator":
            raise ValueError(f"vocoder task: unknown phase {phase!r} (expected 'discriminator', 'generator')")
        cache, self._cache = self._cache, None
        if cache is not None and cache[0] is batch:
            _, target, prediction = cache
        else:
            target, mel = self.segments(batch, train=True)
            prediction = self.models["vocoder"](mel)
        if not active:
            losses = self.loss.generator_losses(prediction, target)
            zero = prediction.new_zeros((), dtype=torch.float32)
            return {**losses, "adv_gen": zero, "feature_matching": zero}
        with frozen(self.models["discriminator"], self.accelerator) as disc:
            return self.loss.generator_losses(prediction, target, disc)

    def validate(self, batch: dict[str, Any], num_samples: int) -> ValidationOutput:
        """``mel_l1_db`` and ``mrstft`` of the vocoder on fixed crops, and ``num_samples`` samples."""
        assert self.loss is not None and self.frontend is not None, "setup() was not called"
        target, mel = self.segments(batch, train=False)
        prediction = self.models["vocoder"](mel).float()
        true_mel = self.frontend(rearrange(target, "b 1 n -> b n")).mel
        out_mel = self.frontend(rearrange(prediction, "b 1 n -> b n")).mel
        with torch.autocast(self.device.type, enabled=False):
            metrics = {
                "mel_l1_db": (out_mel - true_mel).abs().mean() * DB_PER_NEPER,
                "mrstft": self.loss.mrstft(prediction, target),
            }
            if self.autoencoder is not None:
                decoded = self.models["vocoder"](self.decoded_mel(mel)).float()
                decoded_mel = self.frontend(rearrange(decoded, "b 1 n -> b n")).mel
                metrics["decoded_mel_l1_db"] = (decoded_mel - true_mel).abs().mean() * DB_PER_NEPER
                metrics["decoded_mrstft"] = self.loss.mrstft(decoded, target)
        samples = []
        for i in range(min(num_samples, target.shape[0])):
            samples.append(
                Sample(
                    name=f"sample_{i:02d}",
                    audio=prediction[i],
                    sample_rate=self.mel_config.sample_rate,
                    mels=[true_mel[i], out_mel[i]],
                    titles=["true log-mel", "log-mel of the vocoder output"],
                    mel_config=self.mel_config,
                    extra_audio={"input": target[i]},
                )
            )
        return ValidationOutput(metrics=metrics, samples=samples)

    def export_config(self) -> dict[str, Any]:
        """The resolved vocoder, discriminator, loss and data settings."""
        from audiogen.models.pretrained import config_to_dict

        return {
            "vocoder": {"type": self.vocoder_type, **config_to_dict(self.vocoder_config)},
            "discriminator": config_to_dict(self.discriminator_config),
            "loss": config_to_dict(self.loss_config),
            "disc_start_step": self.model_section.disc_start_step,
            "decoded_input": None if self.decoded_config is None else config_to_dict(self.decoded_config),
            "data": config_to_dict(self.data_config),
        }
