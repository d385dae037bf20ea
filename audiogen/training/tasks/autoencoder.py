"""Training stage 1: the mel VAE (:class:`~audiogen.models.autoencoder.MelVAE`).

Batches are either waveform segments (``data.source: waveform``, :class:`SegmentDataset`) whose
log-mel is computed on the training device by :class:`~audiogen.audio.features.LogMelSpectrogram`,
or precomputed log-mel segments (``data.source: mel_cache``, :class:`MelCacheDataset`), which
saves decoding audio on the CPU every epoch.

Losses (keys of ``loss_weights``): ``mel_l1`` and ``mel_l2`` between input and reconstruction
(natural-log mel, nats), ``kl`` (nats per latent element, see :func:`audiogen.training.losses.kl_loss`).

With an ``adversarial`` section (:class:`AdversarialConfig`) the stage is a GAN, as the
latent-diffusion autoencoder (Rombach et al. 2022, ``LPIPSWithDiscriminator``) and DAC / EnCodec:
a :class:`~audiogen.models.discriminators.MultiScaleMelDiscriminator` judges mel patches, and each
step has two phases, one AdamW each: ``"discriminator"`` (``adv_disc``, hinge by default, on the
input mel and the detached reconstruction) then ``"generator"`` (the reconstruction losses above,
plus ``adv_gen`` and ``feature_matching``). ``adv_gen`` is multiplied by the adaptive weight
(:func:`audiogen.training.adversarial.adaptive_weight`: the ratio of the reconstruction's and the
adversarial loss's gradient norms at the decoder's output layer; logged as ``adv_weight``, the raw
loss as ``adv_gen_raw``) when ``adversarial.adaptive_weight`` is on, and by its recipe weight. For
the first ``adversarial.disc_start_step`` generator updates the discriminator is not run, and until
``adversarial.adv_start_step`` the decoder's adversarial terms are zero (the discriminator learns
first). With the encoder frozen (``freeze: {autoencoder: [encoder]}``) this is a
decoder-only fine-tune that leaves the latent space, and a denoiser trained on it, valid.
Validation logs the same on the posterior mean plus ``mel_l1_db``, and writes for each sample the
input/reconstruction spectrogram PNG and Griffin-Lim audio of both mels (plus the original audio).

Before every checkpoint the latent scale (``1 / std`` of the posterior means over
``data.latent_scale_batches`` training batches on every process) is measured and stored in the
model, so the exported autoencoder gives unit-variance latents to the latent generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from einops import rearrange
from torch import nn

from audiogen.audio.levels import DB_PER_NEPER
from audiogen.config import MelConfig, from_dict
from audiogen.models.autoencoder import AutoencoderConfig, MelVAE, deepen_decoder_state
from audiogen.training.adversarial import (
    AdversarialConfig,
    adaptive_weight,
    frozen,
    optimizer_steps,
    zero_loss,
)
from audiogen.training.losses import kl_loss, mel_l1_loss, mel_l2_loss
from audiogen.training.tasks.base import Sample, Task, ValidationOutput


@dataclass(frozen=True)
class AutoencoderDataConfig:
    """The ``data`` section of an autoencoder recipe.

    Attributes:
        manifest: JSONL manifest (``audiogen data scan`` / the corpus builder). Relative paths in
            it are resolved as the manifest module does.
        audio_dir: alternatively, a folder of audio scanned when training starts.
        source: ``"waveform"`` (segments decoded from audio, mel on the device) or ``"mel_cache"``.
        mel_cache: root folder of the log-mel cache for ``source: mel_cache``; built there from the
            manifest on first use (one sub-folder per mel settings + file list), reused afterwards.
            The cache holds the mel of the files as stored (no level normalisation).
        normalize: level normalisation of waveform crops (``"peak"`` to -1 dBFS, ``"loudness"``,
            ``None``), as :class:`~audiogen.data.datasets.SegmentDataset`.
        segment_seconds: training segment length in seconds.
        channels: channels loaded per file; each channel is a separate example (1 = mix to mono).
        train_split: manifest split used for training.
        val_split: manifest split used for validation (``None``: no validation).
        valid_fraction: with ``audio_dir``, the fraction of files the scan puts in ``"valid"``
            (each file directly in the folder is its own group; sub-folders are groups).
        latent_scale_batches: training batches per process used to measure the latent scale (0:
            keep the model's current scale, e.g. a fine-tuned model keeps its base's).
        griffin_lim_iters: Griffin-Lim iterations for validation audio.
    """

    manifest: str | None = None
    audio_dir: str | None = None
    source: Literal["waveform", "mel_cache"] = "waveform"
    mel_cache: str | None = None
    normalize: Literal["peak", "loudness"] | None = "peak"
    segment_seconds: float = 2.0
    channels: int = 1
    train_split: str = "train"
    val_split: str | None = "valid"
    valid_fraction: float = 0.1
    latent_scale_batches: int = 8
    griffin_lim_iters: int = 32

    def __post_init__(self) -> None:
        if (self.manifest is None) == (self.audio_dir is None):
            raise ValueError("data: give exactly one of 'manifest' and 'audio_dir'")
        if self.source not in ("waveform", "mel_cache"):
            raise ValueError(f"data.source must be 'waveform' or 'mel_cache', got {self.source!r}")
        if self.source == "mel_cache" and self.mel_cache is None:
            raise ValueError("data.source is 'mel_cache' but data.mel_cache (the cache folder) is not set")
        if self.normalize not in ("peak", "loudness", None):
            raise ValueError(f"data.normalize must be 'peak', 'loudness' or null, got {self.normalize!r}")
        if self.segment_seconds <= 0:
            raise ValueError(f"data.segment_seconds must be positive, got {self.segment_seconds}")


#: The ``adversarial`` section and the adversarial ``loss_weights`` of ``recipes/autoencoder_gan.yaml``
#: (sized for CPU), which ``audiogen finetune`` also uses for an autoencoder stage.
CPU_ADVERSARIAL: dict[str, Any] = {
    "discriminator": {"scales": [1, 2, 4], "channels": 8, "max_channels": 64, "num_layers": 3},
    "loss_type": "hinge",
    "disc_start_step": 0,
    "adv_start_step": 300,
    "disc_lr_scale": 4.0,
    "adaptive_weight": True,
}
ADVERSARIAL_LOSS_WEIGHTS: dict[str, float] = {"adv_gen": 0.5, "feature_matching": 0.1, "adv_disc": 1.0}
#: AdamW betas of the adversarial phase (the latent-diffusion autoencoder's).
ADVERSARIAL_BETAS = (0.5, 0.9)


class AutoencoderTask(Task):
    """The mel VAE stage; recipe sections ``mel``, ``model``, ``loss_weights``, ``data``, ``train``.

    Raises:
        ValueError: if a section has unknown keys or inconsistent values (e.g. ``model.mel``).
    """

    name = "autoencoder"
    ema_models = ("autoencoder",)

    def __init__(self, recipe: dict[str, Any]) -> None:
        super().__init__(recipe)
        self.mel_config = from_dict(MelConfig, recipe.get("mel"))
        model_section = dict(recipe.get("model") or {})
        if "mel" in model_section:
            raise ValueError(
                "model.mel: the front end is set in the recipe's 'mel' section, not under 'model'"
            )
        self.model_config = from_dict(AutoencoderConfig, {**model_section, "mel": self.mel_config})
        self.data_config = from_dict(AutoencoderDataConfig, recipe.get("data"))
        section = recipe.get("adversarial")
        self.adversarial = from_dict(AdversarialConfig, section) if section else None
        if self.adversarial is not None:
            from audiogen.models.discriminators import MelDiscriminatorConfig

            mc = self.model_config
            self.discriminator_config = from_dict(
                MelDiscriminatorConfig,
                {"mel_mean": mc.mel_mean, "mel_std": mc.mel_std, **self.adversarial.discriminator},
            )
        self.frontend: nn.Module | None = None
        self._optimizers: dict[str, torch.optim.Optimizer] = {}
        self._cache: tuple[Any, ...] | None = None

    # ------------------------------------------------------------------ models and data
    def build_models(self) -> dict[str, nn.Module]:
        """``{"autoencoder": MelVAE}``, plus ``"discriminator"`` with an ``adversarial`` section."""
        models: dict[str, nn.Module] = {"autoencoder": MelVAE(self.model_config)}
        if self.adversarial is not None:
            from audiogen.models.discriminators import MultiScaleMelDiscriminator

            models["discriminator"] = MultiScaleMelDiscriminator(self.discriminator_config)
        return models

    def build_optimizers(self, models: dict[str, nn.Module], config: Any) -> dict[str, torch.optim.Optimizer]:
        """One AdamW over the trainable weights (phase ``"main"``), or, for a GAN, one per phase:
        ``"discriminator"`` (``train.lr`` x ``adversarial.disc_lr_scale``) then ``"generator"``
        (``train.lr``); both with ``train.betas`` and ``weight_decay``."""
        if self.adversarial is None:
            return super().build_optimizers(models, config)

        def adamw(model: nn.Module, lr: float) -> torch.optim.Optimizer:
            params = [p for p in model.parameters() if p.requires_grad]
            return torch.optim.AdamW(params, lr=lr, betas=config.betas, weight_decay=config.weight_decay)

        self._optimizers = {
            "discriminator": adamw(models["discriminator"], config.lr * self.adversarial.disc_lr_scale),
            "generator": adamw(models["autoencoder"], config.lr),
        }
        return dict(self._optimizers)

    def _mel_cache_dir(self, entries: list[Any]) -> Path:
        """Build (or reuse) the log-mel cache of ``entries`` under ``data.mel_cache``."""
        from audiogen.data.cache import build_mel_cache

        return build_mel_cache(entries, self.mel_config, self.data_config.mel_cache, progress=False)  # type: ignore[arg-type]

    def _dataset(
        self, entries: list[Any], split: str, train: bool, cache: Path | None
    ) -> torch.utils.data.Dataset:
        d, cfg = self.data_config, self.mel_config
        if cache is not None:
            from audiogen.data.cache import MelCacheDataset

            frames = max(1, round(d.segment_seconds * cfg.sample_rate / cfg.hop_length))
            dataset = MelCacheDataset(cache, frames, train=train, split=split)
            if dataset.mel_config != cfg:
                raise ValueError(
                    f"{cache}: cached with mel settings {dataset.mel_config}, the recipe has {cfg}"
                )
        else:
            from audiogen.data.datasets import SegmentDataset

            dataset = SegmentDataset(
                entries,
                d.segment_seconds,
                cfg.sample_rate,
                channels=d.channels,
                split=split,
                train=train,
                normalize=d.normalize,
            )
        return dataset

    def _dataset_options(self, entries: list[Any]) -> dict[str, Any]:
        """The segments are read through the mel cache when ``data.source`` is ``mel_cache``."""
        return {"cache": self._mel_cache_dir(entries) if self.data_config.source == "mel_cache" else None}

    def setup(self, accelerator: Any, models: dict[str, nn.Module]) -> None:
        """Keep the prepared models and put the log-mel front end on the device."""
        from audiogen.audio.features import LogMelSpectrogram

        super().setup(accelerator, models)
        self.frontend = LogMelSpectrogram(self.mel_config).to(self.device)

    def log_mel(self, batch: dict[str, Any]) -> torch.Tensor:
        """The batch's natural-log mel ``(batch * channels, n_mels, frames)``, float32.

        From ``batch["mel"]`` ``(batch, n_mels, frames)`` or, computed on the device, from
        ``batch["waveform"]`` ``(batch, channels, samples)`` (every channel its own example).

        Raises:
            KeyError: if the batch has neither key.
        """
        if (cached := self._cached_input(batch, "mel", "autoencoder")) is not None:
            return cached
        mel = self.frontend(batch["waveform"].float()).mel  # (batch, channels, n_mels, frames)
        return rearrange(mel, "b c m t -> (b c) m t")

    # ------------------------------------------------------------------ training and validation
    def adversarial_active(self, phase: str = "discriminator") -> bool:
        """Whether ``phase``'s adversarial terms are on: generator updates so far >=
        ``adversarial.disc_start_step`` (``"discriminator"``) or ``adv_start_step`` (``"generator"``)."""
        adv = self.adversarial
        if adv is None:
            return False
        start = adv.disc_start_step
        if phase == "generator" and adv.adv_start_step is not None:
            start = adv.adv_start_step
        return optimizer_steps(self._optimizers.get("generator")) >= start

    def _reconstruct(self, batch: dict[str, Any]) -> tuple[torch.Tensor, Any]:
        mel = self.log_mel(batch)
        return mel, self.models["autoencoder"](mel, sample_posterior=True)

    def step(self, batch: dict[str, Any], phase: str) -> dict[str, torch.Tensor]:
        """Losses of one batch, unweighted: phase ``"main"`` (reconstruction + KL), or for a GAN
        ``"discriminator"`` (``adv_disc``) then ``"generator"`` (adds ``adv_gen``, ``feature_matching``).

        Raises:
            ValueError: on an unknown phase.
        """
        if phase == "main":
            mel, out = self._reconstruct(batch)
            return self._reconstruction_losses(mel, out)
        if self.adversarial is None or phase not in ("discriminator", "generator"):
            raise ValueError(f"autoencoder task: unknown phase {phase!r}")
        from audiogen.models.discriminators import (
            discriminator_adversarial_loss,
            feature_matching_loss,
            generator_adversarial_loss,
        )

        loss_type, active = self.adversarial.loss_type, self.adversarial_active(phase)
        if phase == "discriminator":
            if not active:
                self._cache = None
                return {"adv_disc": zero_loss(self.models["discriminator"])}
            mel, out = self._reconstruct(batch)
            self._cache = (batch, mel, out)  # reused, with its graph, by the generator phase
            disc = self.models["discriminator"]
            real, fake = disc(mel), disc(out.reconstruction.detach().float())
            return {"adv_disc": discriminator_adversarial_loss(real.logits, fake.logits, loss_type)}
        cache, self._cache = self._cache, None
        mel, out = cache[1:] if cache is not None and cache[0] is batch else self._reconstruct(batch)
        losses = self._reconstruction_losses(mel, out)
        zero = mel.new_zeros((), dtype=torch.float32)
        if not active:
            return {**losses, "adv_gen": zero, "feature_matching": zero, "adv_weight": zero}
        with frozen(self.models["discriminator"], self.accelerator) as disc:
            with torch.no_grad():
                real = disc(mel)
            fake = disc(out.reconstruction.float())
        adv = generator_adversarial_loss(fake.logits, loss_type)
        weight = mel.new_ones((), dtype=torch.float32)
        if self.adversarial.adaptive_weight and torch.is_grad_enabled():
            weights = self.recipe.get("loss_weights") or {}
            rec = sum(float(weights.get(n, 0.0)) * losses[n] for n in ("mel_l1", "mel_l2"))
            if isinstance(rec, torch.Tensor) and rec.requires_grad:
                weight = adaptive_weight(rec, adv, self._last_layer(), self.adversarial.max_adaptive_weight)
        return {
            **losses,
            "adv_gen": weight * adv,
            "feature_matching": feature_matching_loss(real.feature_maps, fake.feature_maps),
            "adv_weight": weight,
            "adv_gen_raw": adv.detach(),
        }

    def _reconstruction_losses(self, mel: torch.Tensor, out: Any) -> dict[str, torch.Tensor]:
        return {
            "mel_l1": mel_l1_loss(out.reconstruction, mel),
            "mel_l2": mel_l2_loss(out.reconstruction, mel),
            "kl": kl_loss(out.posterior),
        }

    def _last_layer(self) -> torch.Tensor:
        """The weight of the decoder's output convolution (where the adaptive weight is measured)."""
        model, acc = self.models["autoencoder"], self.accelerator
        return (acc.unwrap_model(model) if acc is not None else model).decoder[-1].weight

    def validate(self, batch: dict[str, Any], num_samples: int) -> ValidationOutput:
        """Losses on the posterior mean, and ``num_samples`` spectrogram + Griffin-Lim samples."""
        from audiogen.audio.inverse import griffin_lim

        mel = self.log_mel(batch)
        out = self.models["autoencoder"](mel, sample_posterior=False)
        recon = out.reconstruction.float()
        l1 = mel_l1_loss(recon, mel)
        metrics = {
            "mel_l1": l1,
            "mel_l1_db": l1 * DB_PER_NEPER,
            "mel_l2": mel_l2_loss(recon, mel),
            "kl": kl_loss(out.posterior),
        }
        samples = []
        n = min(num_samples, mel.shape[0])
        if n:
            cfg, iters = self.mel_config, self.data_config.griffin_lim_iters
            with torch.autocast(self.device.type, enabled=False):  # phase recovery in float32
                gl_recon = griffin_lim(recon[:n], cfg, n_iter=iters)
                gl_input = griffin_lim(mel[:n].float(), cfg, n_iter=iters)
            for i in range(n):
                extra = {"input_griffin_lim": gl_input[i][None]}
                if "waveform" in batch and batch["waveform"].shape[1] == 1:
                    extra["input"] = batch["waveform"][i]
                samples.append(
                    Sample(
                        name=f"sample_{i:02d}",
                        audio=gl_recon[i][None],
                        sample_rate=cfg.sample_rate,
                        mels=[mel[i], recon[i]],
                        titles=["input log-mel", "VAE reconstruction"],
                        mel_config=cfg,
                        extra_audio=extra,
                    )
                )
        return ValidationOutput(metrics=metrics, samples=samples)

    @torch.no_grad()
    def on_checkpoint(self, train_dataset: torch.utils.data.Dataset) -> None:
        """Measure ``latent_scale = 1 / std`` of posterior means on training batches; store it in the model.

        Uses the first ``data.latent_scale_batches`` batches of a fixed (unshuffled, seeded) order
        on every process, reduced over processes, so all processes store the same value.
        """
        from audiogen.training.sampling import EpochSampler, SeededItems, to_device

        acc = self.accelerator
        assert acc is not None, "setup() was not called"
        model = acc.unwrap_model(self.models["autoencoder"])
        batch_size = self.recipe.get("train", {}).get("batch_size", 16)
        sampler = EpochSampler(
            len(train_dataset),
            batch_size,
            acc.num_processes,
            acc.process_index,  # type: ignore[arg-type]
            shuffle=False,
            seed=12345,
            drop_last=False,
        )
        loader = torch.utils.data.DataLoader(
            SeededItems(train_dataset),
            batch_size=batch_size,
            sampler=sampler,
            generator=torch.Generator().manual_seed(0),
        )
        moments = torch.zeros(3, dtype=torch.float64, device=acc.device)  # count, sum, sum of squares
        for i, batch in enumerate(loader):
            if i >= self.data_config.latent_scale_batches:
                break
            z = model.posterior(self.log_mel(to_device(batch, acc.device))).mean.double()
            moments += torch.stack([z.new_tensor(z.numel()), z.sum(), z.square().sum()])
        count, total, total_sq = acc.reduce(moments, reduction="sum").tolist()
        if count > 1:
            var = max(total_sq / count - (total / count) ** 2, 0.0)
            if var > 0:
                model.set_latent_scale(1.0 / math.sqrt(var))

    def adapt_init_state(
        self, name: str, model: nn.Module, state: dict[str, torch.Tensor], config: dict[str, Any]
    ) -> dict[str, torch.Tensor]:
        """Deepen a saved decoder when the recipe asks for more ``decoder_blocks_per_stage``.

        The new blocks start as identities, so training starts from the saved model's output
        (:func:`~audiogen.models.autoencoder.deepen_decoder_state`); with a frozen encoder the
        latents, and a denoiser trained on them, stay valid. Any other difference is left for the
        strict load to report.
        """
        if name != "autoencoder":
            return state
        try:
            saved = from_dict(AutoencoderConfig, config)
        except (TypeError, ValueError):
            return state  # not a VAE config this can read: the strict load reports the misfit
        mc = self.model_config
        same_layout = (saved.time_downsample, saved.decoder_width) == (mc.time_downsample, mc.decoder_width)
        if not (same_layout and 0 < saved.decoder_depth < mc.decoder_depth):
            return state
        print(
            f"init.autoencoder: deepening the decoder from {saved.decoder_depth} to {mc.decoder_depth} "
            "blocks per stage"
        )
        return deepen_decoder_state(state, saved.decoder_depth, model)  # type: ignore[arg-type]

    def export_config(self) -> dict[str, Any]:
        """The resolved model, front-end and (for a GAN) adversarial settings."""
        out = {"model": _plain(self.model_config), "data": _plain(self.data_config)}
        if self.adversarial is not None:
            disc = _plain(self.discriminator_config)
            out["adversarial"] = {**_plain(self.adversarial), "discriminator": disc}
        return out


def _plain(config: Any) -> dict[str, Any]:
    from audiogen.models.pretrained import config_to_dict

    return config_to_dict(config)
