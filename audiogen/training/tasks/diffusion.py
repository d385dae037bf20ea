"""Training stage 2: the latent denoiser (:class:`~audiogen.models.denoiser.LatentDenoiser`).

A frozen, trained mel autoencoder (``data.autoencoder``: a model folder written by
``save_pretrained``, a training checkpoint, or an autoencoder run folder, whose newest complete
checkpoint's EMA weights are used) turns the corpus into scaled latents
``(batch, latent_dim, latent_frames)``; the denoiser learns to predict their noise (or velocity)
under the DDPM forward process of :func:`~audiogen.samplers.factory.noise_scheduler`
(Ho et al., 2020; latent diffusion as Rombach et al., 2022), or, with
``model.prediction_type: flow_prediction``, the velocity ``noise - latent`` of a rectified flow
``x_t = (1 - t) latent + t noise`` (Liu et al., 2023, "Flow Straight and Fast"), ``t`` drawn
logit-normal (Esser et al., 2024, "Scaling Rectified Flow Transformers", section 3.1) or uniform
by ``model.flow_time_sampling`` (:func:`training_timesteps`).

Latents come from one of two sources (``data.source``):

* ``latent_cache`` (default, fastest): every file is decoded once, its log-mel computed and encoded
  whole by the autoencoder (posterior mean times ``latent_scale``, one file per batch so nothing
  depends on padding), and stored with :func:`~audiogen.data.cache.build_feature_cache` under
  ``data.latent_cache/latent-<key>/``; training crops are read from there. The key covers the
  files, the label list, the autoencoder's config and a SHA-256 of its weights, so a retrained
  autoencoder gets a new cache automatically.
* ``waveform``: waveform crops (:class:`~audiogen.data.datasets.SegmentDataset`) encoded on the
  training device each step (slower; every crop is encoded in its own context).

Style labels (the corpus instruments, or the audio folder's sub-folder names) condition the
denoiser; each training label is replaced by the null label with probability
``data.label_dropout`` so the same network also predicts unconditionally, as classifier-free
guidance needs (Ho & Salimans, 2022).

Loss (key of ``loss_weights``): ``diffusion_mse``, the mean squared error of the prediction
against its target (noise, velocity or flow velocity); ``latent_mean`` / ``latent_std`` of the
training latents are logged alongside. Validation logs ``diffusion_mse`` with fixed noise and
timesteps, and writes generated samples: latents from
:func:`~audiogen.pipelines.denoise.sample_latents` (one per style, cycling), decoded to mel and to
audio with Griffin-Lim, next to the autoencoder's decoding of a real validation latent
(``reference``) for comparison.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from audiogen.config import MelConfig, from_dict
from audiogen.models.denoiser import DiffusionConfig, LatentDenoiser
from audiogen.samplers.factory import make_sampler, noise_scheduler, sampler_refusal
from audiogen.training.tasks.base import Sample, Task, ValidationOutput
from audiogen.training.tasks.diffusion_data import DiffusionDataConfig, LatentData


@dataclass
class NoisedLatents:
    """A training example of the forward process (all ``(batch, latent_dim, latent_frames)``).

    Attributes:
        noisy: ``sqrt(alpha_bar_t) * latent + sqrt(1 - alpha_bar_t) * noise`` (a flow model:
            ``(1 - t) * latent + t * noise``).
        target: what the denoiser should predict: ``noise`` (epsilon), the velocity
            ``sqrt(alpha_bar_t) * noise - sqrt(1 - alpha_bar_t) * latent`` (v), or the flow velocity
            ``noise - latent``.
        timesteps: ``(batch,)`` integer timesteps (a flow model: ``t * num_train_timesteps``, float).
    """

    noisy: torch.Tensor
    target: torch.Tensor
    timesteps: torch.Tensor


def add_training_noise(
    scheduler: Any, latent: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor
) -> NoisedLatents:
    """Noise ``latent (batch, latent_dim, latent_frames)`` at ``timesteps (batch,)`` with a DDPMScheduler
    (or a :class:`~audiogen.samplers.FlowMatchSchedule`).

    Uses ``scheduler.add_noise`` and, for ``prediction_type == "v_prediction"``,
    ``scheduler.get_velocity`` (Salimans & Ho, 2022) for the target; for ``"flow_prediction"``
    the flow's ``x_t = (1 - t) latent + t noise`` with ``t = timesteps / num_train_timesteps`` and
    the target ``noise - latent`` (Liu et al., 2023), from which ``latent = x_t - t * target``.

    Raises:
        ValueError: for a prediction type other than ``"epsilon"`` / ``"v_prediction"`` /
            ``"flow_prediction"``.
    """
    kind = scheduler.config.prediction_type
    noisy = scheduler.add_noise(latent, noise, timesteps)
    if kind == "epsilon":
        target = noise
    elif kind == "v_prediction":
        target = scheduler.get_velocity(latent, noise, timesteps)
    elif kind == "flow_prediction":
        target = noise - latent
    else:
        raise ValueError(f"unsupported prediction_type {kind!r}")
    return NoisedLatents(noisy=noisy, target=target, timesteps=timesteps)


def training_timesteps(
    config: DiffusionConfig,
    batch: int,
    device: torch.device | str,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The timesteps ``(batch,)`` of one training batch, on ``device``.

    DDPM: integers uniform in ``[0, num_train_timesteps)``. A rectified flow
    (``prediction_type == "flow_prediction"``): ``t * num_train_timesteps`` (float32) with ``t``
    logit-normal, ``sigmoid(N(flow_logit_mean, flow_logit_std²))`` (Esser et al., 2024, section 3.1:
    more training at the middle of the path, where the velocity is hardest to predict), or uniform
    in [0, 1) (``flow_time_sampling``). Drawn on ``device`` from its default generator, or on the
    CPU from ``generator`` (fixed validation draws) and moved.
    """
    n = config.num_train_timesteps
    draw_on = "cpu" if generator is not None else device
    if not config.is_flow:
        return torch.randint(0, n, (batch,), generator=generator, device=draw_on).to(device)
    if config.flow_time_sampling == "uniform":
        t = torch.rand(batch, generator=generator, device=draw_on)
    else:
        normal = torch.randn(batch, generator=generator, device=draw_on)
        t = torch.sigmoid(config.flow_logit_mean + config.flow_logit_std * normal)
    return (t * n).to(device=device, dtype=torch.float32)


class DiffusionTask(LatentData, Task):
    """The latent denoiser stage; recipe sections ``model``, ``loss_weights``, ``data``, ``train``.

    ``model`` is a :class:`~audiogen.models.denoiser.DiffusionConfig` without ``latent_dim``,
    ``num_classes`` and ``class_labels``, which come from the autoencoder and the labels. An optional
    ``mel`` section must equal the autoencoder's front end.

    Raises:
        ValueError: unknown keys or inconsistent values (e.g. a ``model.latent_dim`` that differs
            from the autoencoder's, a ``mel`` section that differs from its front end).
        FileNotFoundError: no autoencoder at ``data.autoencoder``.
    """

    name = "diffusion"
    ema_models = ("denoiser",)

    def __init__(self, recipe: dict[str, Any]) -> None:
        from audiogen.hub import find_model_folder
        from audiogen.models.autoencoder import MelVAE

        super().__init__(recipe)
        self.data_config = from_dict(DiffusionDataConfig, recipe.get("data"))
        d = self.data_config
        self.autoencoder_dir = find_model_folder(d.autoencoder, "autoencoder")  # type: ignore[arg-type]
        self.autoencoder = MelVAE.from_pretrained(self.autoencoder_dir).requires_grad_(False)
        if float(self.autoencoder.latent_scale) == 1.0:
            warnings.warn(
                f"{self.autoencoder_dir}: latent_scale is 1.0 (never measured); latents may not have unit "
                "variance. Use a checkpoint of `audiogen train autoencoder` (it measures the scale).",
                stacklevel=2,
            )
        self.mel_config: MelConfig = self.autoencoder.mel_config
        if recipe.get("mel") is not None and from_dict(MelConfig, recipe["mel"]) != self.mel_config:
            raise ValueError(
                f"mel: the recipe's front end {recipe['mel']} differs from the autoencoder's "
                f"({self.autoencoder_dir}): {self.mel_config}; remove the mel section or make them equal"
            )
        self._entries_cache: list[Any] | None = None
        self.labels: list[str] = self._resolve_labels()

        model_section = dict(recipe.get("model") or {})
        derived = (
            ("latent_dim", self.autoencoder.latent_dim, "autoencoder"),
            ("num_classes", len(self.labels), "labels"),
        )
        for key, value, source in derived:
            if key in model_section and model_section[key] != value:
                raise ValueError(
                    f"model.{key}={model_section[key]} but the {source} give {value}; leave model.{key} out"
                )
        if "class_labels" in model_section:
            raise ValueError("model.class_labels: set the labels in data.labels")
        model_section.update(
            latent_dim=self.autoencoder.latent_dim,
            num_classes=len(self.labels),
            class_labels=tuple(self.labels) if self.labels else None,
        )
        self.model_config = from_dict(DiffusionConfig, model_section)
        self.scheduler = noise_scheduler(self.model_config)
        refusal = sampler_refusal(self.data_config.sampler, self.model_config)
        if refusal:  # validation samples would fail at the end of the run
            raise ValueError(f"data.sampler: {refusal}")
        self.frontend: nn.Module | None = None
        self.vocoder: nn.Module | None = None
        unknown = sorted(set(self.data_config.sample_styles or ()) - set(self.labels))
        if unknown:
            raise ValueError(f"data.sample_styles: {unknown} are not among the labels {self.labels}")

    # ------------------------------------------------------------------ models
    def build_models(self) -> dict[str, nn.Module]:
        """``{"denoiser": LatentDenoiser(model_config)}`` (the autoencoder is frozen, not trained)."""
        return {"denoiser": LatentDenoiser(self.model_config)}

    def setup(self, accelerator: Any, models: dict[str, nn.Module]) -> None:
        """Keep the prepared models; put the frozen autoencoder (and the mel front end) on the device."""
        from audiogen.audio.features import LogMelSpectrogram

        super().setup(accelerator, models)
        self.autoencoder.to(self.device).eval()
        self.frontend = LogMelSpectrogram(self.mel_config).to(self.device)
        if self.data_config.vocoder:
            from audiogen.hub import load_model

            self.vocoder = load_model(self.data_config.vocoder, "vocoder", self.device).eval()
            if self.vocoder.mel_config != self.mel_config:
                raise ValueError(
                    f"data.vocoder {self.data_config.vocoder}: its front end {self.vocoder.mel_config} "
                    f"differs from the autoencoder's {self.mel_config}"
                )

    @torch.no_grad()
    def latents(self, batch: dict[str, Any]) -> torch.Tensor:
        """The batch's scaled latents ``(batch, latent_dim, latent_frames)``, float32.

        From ``batch["latent"]`` (cache) or, encoded on the device by the frozen autoencoder, from
        ``batch["waveform"]`` ``(batch, 1, samples)``, cropped to a multiple of ``length_multiple``.

        Raises:
            KeyError: if the batch has neither key.
        """
        if (cached := self._cached_input(batch, "latent", "diffusion")) is not None:
            return cached
        with torch.autocast(self.device.type, enabled=False):
            mel = self.frontend(rearrange(batch["waveform"].float(), "b 1 s -> b s")).mel
            z = self.autoencoder.encode(mel)
        m = self.model_config.length_multiple
        return z[..., : max(m, z.shape[-1] // m * m)].float()

    def _labels(self, batch: dict[str, Any], dropout: float) -> torch.Tensor | None:
        """Class indices ``(batch,)`` with unlabelled items (and a ``dropout`` fraction) set to null."""
        cfg = self.model_config
        if cfg.num_classes == 0:
            return None
        labels = batch["label"].long()
        null = torch.full_like(labels, cfg.null_label)
        labels = torch.where(labels < 0, null, labels)
        if dropout > 0:
            labels = torch.where(torch.rand(labels.shape, device=labels.device) < dropout, null, labels)
        return labels

    # ------------------------------------------------------------------ training and validation
    def step(self, batch: dict[str, Any], phase: str) -> dict[str, torch.Tensor]:
        """``diffusion_mse`` of one batch at :func:`training_timesteps` (single phase ``"main"``).

        Also returns ``latent_mean`` and ``latent_std`` of the batch's latents, logged only (a
        latent scale that does not give unit-variance, zero-mean latents shows up there).
        """
        z0 = self.latents(batch)
        labels = self._labels(batch, self.data_config.label_dropout)
        noise = torch.randn_like(z0)
        t = training_timesteps(self.model_config, z0.shape[0], z0.device)
        noised = add_training_noise(self.scheduler, z0, noise, t)
        prediction = self.models["denoiser"](noised.noisy, t, labels)
        return {
            "diffusion_mse": F.mse_loss(prediction.float(), noised.target.float()),
            # logged only (no loss weight): the latents should be near zero mean and unit std
            "latent_mean": z0.mean().detach(),
            "latent_std": z0.std().detach(),
        }

    def validate(self, batch: dict[str, Any], num_samples: int) -> ValidationOutput:
        """``diffusion_mse`` with fixed noise and timesteps; ``num_samples`` generated samples.

        Sample ``i`` has style ``i % num_classes`` (or cycles through ``data.sample_styles``) and is
        decoded to mel and to audio (``data.vocoder``, else Griffin-Lim); the autoencoder's decoding
        of the batch's ``i``-th real latent is added as ``reference``.
        """
        z0 = self.latents(batch)
        labels = self._labels(batch, 0.0)
        g = torch.Generator().manual_seed(1234)  # the same noise and timesteps at every validation
        noise = torch.randn(z0.shape, generator=g).to(z0.device)
        t = training_timesteps(self.model_config, z0.shape[0], z0.device, generator=g)
        noised = add_training_noise(self.scheduler, z0, noise, t)
        prediction = self.models["denoiser"](noised.noisy, t, labels)
        metrics = {"diffusion_mse": F.mse_loss(prediction.float(), noised.target.float())}
        samples = self._samples(z0, num_samples) if num_samples > 0 else []
        return ValidationOutput(metrics=metrics, samples=samples)

    def _samples(self, reference: torch.Tensor, n: int) -> list[Sample]:
        from audiogen.pipelines.denoise import sample_latents

        d, cfg, mcfg = self.data_config, self.mel_config, self.model_config
        denoiser = (
            self.accelerator.unwrap_model(self.models["denoiser"])
            if self.accelerator
            else self.models["denoiser"]
        )
        frames = self.latent_frames(d.sample_seconds or d.segment_seconds)
        labels = [i % mcfg.num_classes for i in range(n)] if mcfg.num_classes else None
        if labels is not None and d.sample_styles:
            labels = [self.labels.index(d.sample_styles[i % len(d.sample_styles)]) for i in range(n)]
        names = [self.labels[i] for i in labels] if labels is not None else ["unconditional"] * n
        generator = torch.Generator().manual_seed(0)
        with torch.autocast(self.device.type, enabled=False):
            z = sample_latents(
                denoiser,
                make_sampler(d.sampler, mcfg),
                (n, mcfg.latent_dim, frames),
                labels=labels,
                cfg_scale=d.cfg_scale,
                generator=generator,
                progress=False,
                num_inference_steps=d.sample_steps,
            )
            mel = self.autoencoder.decode(z).float()
            audio = self._to_audio(mel)
            k = min(n, reference.shape[0])
            ref_mel = self.autoencoder.decode(reference[:k].float()).float()
            ref_audio = self._to_audio(ref_mel) if k else None
        samples = []
        for i in range(n):
            mels, titles, extra = [mel[i]], [f"generated ({names[i]}, {d.sampler}, cfg {d.cfg_scale})"], {}
            if ref_audio is not None and i < k:
                mels.append(ref_mel[i])
                titles.append("reference: autoencoder decoding of a real latent")
                extra["reference"] = ref_audio[i][None]
            samples.append(
                Sample(
                    name=f"sample_{i:02d}_{names[i]}",
                    audio=audio[i][None],
                    sample_rate=cfg.sample_rate,
                    mels=mels,
                    titles=titles,
                    mel_config=cfg,
                    extra_audio=extra,
                )
            )
        return samples

    def _to_audio(self, mel: torch.Tensor) -> torch.Tensor:
        """``(batch, n_mels, frames)`` log-mel → ``(batch, samples)`` with the vocoder, else Griffin-Lim."""
        from audiogen.audio.inverse import griffin_lim

        if self.vocoder is not None:
            with torch.no_grad():
                return rearrange(self.vocoder(mel), "b 1 n -> b n")
        return griffin_lim(mel, self.mel_config, n_iter=self.data_config.griffin_lim_iters)

    def load_init_weights(self, models: dict[str, nn.Module]) -> list[str]:
        """As :meth:`Task.load_init_weights`; then, with a ``lora`` recipe section, LoRA training form.

        ``lora: {rank, alpha, targets, styles}`` freezes the (initialised) denoiser and trains only a
        peft LoRA adapter plus the embedding rows of ``styles`` (the new labels, last in
        ``data.labels``); see :func:`audiogen.models.lora.attach_for_training`.
        """
        names = super().load_init_weights(models)
        lora = self.recipe.get("lora")
        if lora:
            from audiogen.models.lora import attach_for_training, lora_config

            config = lora_config(int(lora["rank"]), lora.get("alpha"), lora.get("targets"))
            attach_for_training(models["denoiser"], config, list(lora.get("styles") or []))
        return names

    def adapt_init_state(
        self, name: str, model: nn.Module, state: dict[str, torch.Tensor], config: dict[str, Any]
    ) -> dict[str, torch.Tensor]:
        """Grow the saved label embedding to this run's labels (fine-tuning on a new style).

        Rows are matched by label name (the saved ``class_labels``): a label the saved model knows
        keeps its row, a new label starts from the saved null ("no style") row, and the null row stays
        the null row. Other weights pass unchanged.

        Raises:
            ValueError: the saved denoiser is unconditional but this run has labels (or the reverse),
                or the saved labels are unnamed and their number differs.
        """
        key = "label_embedding.weight"
        if name != "denoiser" or (key not in state and not self.labels):
            return state
        saved_labels = list(config.get("class_labels") or [])
        if key not in state or not self.labels:
            raise ValueError(
                f"init.denoiser: the saved denoiser is {'un' if key not in state else ''}conditional "
                f"(labels {saved_labels}) but this run has labels {self.labels}"
            )
        old = state[key]
        if not saved_labels:
            if old.shape[0] - 1 != len(self.labels):
                raise ValueError(
                    f"init.denoiser: the saved denoiser has {old.shape[0] - 1} unnamed labels, this run "
                    f"{len(self.labels)}"
                )
            return state
        null = old[len(saved_labels)]
        rows = [old[saved_labels.index(lab)] if lab in saved_labels else null for lab in self.labels]
        return {**state, key: torch.stack([*rows, null]).clone()}

    def export_config(self) -> dict[str, Any]:
        """The resolved denoiser and data settings, the autoencoder folder and the noise scheduler config."""
        from audiogen.models.pretrained import config_to_dict

        return json.loads(
            json.dumps(
                {
                    "model": config_to_dict(self.model_config),
                    "data": config_to_dict(self.data_config),
                    "autoencoder": str(self.autoencoder_dir),
                    "scheduler": dict(self.scheduler.config),
                },
                default=str,
            )
        )
