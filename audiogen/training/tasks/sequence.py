"""The latent sequence model stage: a causal Transformer with a flow head over the VAE's latents.

It trains on the same latents as the denoiser (the diffusion stage's data section, latent cache
and label handling, :mod:`~audiogen.training.tasks.diffusion_data`); only the model and the loss
differ. The ``model`` section is a :class:`~audiogen.models.sequence.SequenceConfig` without
``latent_dim``, ``num_classes`` and ``class_labels`` (from the autoencoder and the labels).
``data.segment_seconds`` should not exceed the model's context (``context_frames``): each crop is
one window of context.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from audiogen.config import from_dict
from audiogen.models.sequence import LatentSequenceModel, SequenceConfig
from audiogen.training.tasks.base import Sample, ValidationOutput
from audiogen.training.tasks.diffusion import DiffusionTask

#: training batches (fixed order) whose latent frames give the model's per-style statistics
STATS_BATCHES = 64


class SequenceTask(DiffusionTask):
    """The sequence model stage; recipe sections ``model``, ``loss_weights``, ``data``, ``train``.

    Loss ``flow_mse``: the flow head's velocity MSE on every token of a crop, the inputs noised
    (CAM), the style dropped to null with probability ``data.label_dropout`` for the backbone and,
    independently, for the head (classifier-free guidance of the head).

    Raises:
        ValueError: unknown keys or inconsistent values (as the diffusion stage's, plus a
            ``model.latent_dim`` / ``model.num_classes`` that differs from the autoencoder / labels).
        FileNotFoundError: no autoencoder at ``data.autoencoder``.
    """

    name = "sequence"
    ema_models = ("sequence",)

    def __init__(self, recipe: dict[str, Any]) -> None:
        # the diffusion stage's data, autoencoder and labels; its (default) denoiser config is replaced
        super().__init__({**recipe, "model": {}})
        self.recipe = recipe
        section = dict(recipe.get("model") or {})
        derived = {"latent_dim": self.autoencoder.latent_dim, "num_classes": len(self.labels)}
        for key, value in derived.items():
            if key in section and section[key] != value:
                raise ValueError(
                    f"model.{key}={section[key]} but the data give {value}; leave model.{key} out"
                )
        if "class_labels" in section:
            raise ValueError("model.class_labels: set the labels in data.labels")
        section.update(derived, class_labels=tuple(self.labels) if self.labels else None)
        self.model_config = from_dict(SequenceConfig, section)

    def build_models(self) -> dict[str, nn.Module]:
        """``{"sequence": LatentSequenceModel(model_config)}`` (the autoencoder is frozen)."""
        return {"sequence": LatentSequenceModel(self.model_config)}

    def load_init_weights(self, models: dict[str, nn.Module]) -> list[str]:
        """As :meth:`Task.load_init_weights <audiogen.training.tasks.base.Task.load_init_weights>`."""
        return super(DiffusionTask, self).load_init_weights(models)

    def adapt_init_state(
        self, name: str, model: nn.Module, state: dict[str, torch.Tensor], config: dict[str, Any]
    ) -> dict[str, torch.Tensor]:
        """Saved weights as they are."""
        return state

    def step(self, batch: dict[str, Any], phase: str) -> dict[str, torch.Tensor]:
        """``flow_mse`` of one batch (single phase ``"main"``); ``latent_std`` logged only."""
        z0 = self.latents(batch)
        dropout = self.data_config.label_dropout
        loss = self.models["sequence"](z0, self._labels(batch, dropout), self._labels(batch, dropout))
        return {"flow_mse": loss, "latent_std": z0.std().detach()}

    def validate(self, batch: dict[str, Any], num_samples: int) -> ValidationOutput:
        """``flow_mse`` with fixed noise; ``num_samples`` streamed samples (one per style in turn)."""
        z0 = self.latents(batch)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1234)  # the same noise at every validation
            loss = self.models["sequence"](z0, self._labels(batch, 0.0), self._labels(batch, 0.0))
        samples = self._samples(num_samples) if num_samples > 0 else []
        return ValidationOutput(metrics={"flow_mse": loss}, samples=samples)

    def _samples(self, n: int) -> list[Sample]:
        from itertools import islice

        from audiogen.pipelines.stream_latent import latent_stream, parse_schedule

        d, cfg = self.data_config, self.mel_config
        model = self.models["sequence"]
        model = self.accelerator.unwrap_model(model) if self.accelerator else model
        frames = self.latent_frames(d.sample_seconds or d.segment_seconds)
        styles = list(d.sample_styles or self.labels) or [None]
        samples = []
        was_training = model.training
        model.eval()
        for i in range(n):
            style = styles[i % len(styles)]
            schedule = parse_schedule(style, self.labels)
            tokens = latent_stream(model, schedule, seed=i, frame_rate=self.latent_frame_rate)
            steps = frames // self.model_config.frames_per_step
            z = torch.cat(list(islice(tokens, steps)), dim=-1)
            with torch.no_grad(), torch.autocast(self.device.type, enabled=False):
                mel = self.autoencoder.decode(z.float()).float()
                audio = self._to_audio(mel)
            name = style or "unconditional"
            samples.append(
                Sample(
                    name=f"sample_{i:02d}_{name}",
                    audio=audio[0][None],
                    sample_rate=cfg.sample_rate,
                    mels=[mel[0]],
                    titles=[f"streamed ({name})"],
                    mel_config=cfg,
                )
            )
        model.train(was_training)
        return samples

    def on_checkpoint(self, train_dataset: torch.utils.data.Dataset) -> None:
        """Store the training latents' per-style statistics in the model's config (measured once).

        They travel with every checkpoint (``latents_mean`` / ``latents_std`` of
        :class:`~audiogen.models.sequence.SequenceConfig`) for the stream's statistics guard.
        """
        acc = self.accelerator
        assert acc is not None, "setup() was not called"
        if getattr(self, "_stats", None) is None:
            self._stats = self.latent_statistics(train_dataset)
        model = acc.unwrap_model(self.models["sequence"])
        mean, std = self._stats
        model.config = dataclasses.replace(model.config, latents_mean=mean, latents_std=std)

    @torch.no_grad()
    def latent_statistics(
        self, train_dataset: torch.utils.data.Dataset, batches: int = STATS_BATCHES
    ) -> tuple[list[list[float]], list[list[float]]]:
        """Per-channel mean and standard deviation of the latent frames of ``batches`` training
        batches (a fixed, seeded order; every process the same result), one row per style and a
        last row over all frames; a style without frames gets the last row.

        Returns:
            ``(mean, std)``, each ``num_classes + 1`` lists of ``latent_dim`` floats.
        """
        from audiogen.training.sampling import EpochSampler, SeededItems, to_device

        acc, cfg = self.accelerator, self.model_config
        processes, rank = (acc.num_processes, acc.process_index) if acc is not None else (1, 0)
        batch_size = self.recipe.get("train", {}).get("batch_size", 8)
        sampler = EpochSampler(
            len(train_dataset),  # type: ignore[arg-type]
            batch_size,
            processes,
            rank,
            shuffle=True,
            seed=12345,
            drop_last=False,
        )
        loader = torch.utils.data.DataLoader(
            SeededItems(train_dataset), batch_size=batch_size, sampler=sampler,
            generator=torch.Generator().manual_seed(0),
        )  # fmt: skip
        rows = cfg.num_classes + 1
        moments = torch.zeros(rows, 3, cfg.latent_dim, dtype=torch.float64, device=self.device)
        for i, batch in enumerate(loader):
            if i >= batches:
                break
            batch = to_device(batch, self.device)
            z = self.latents(batch).double()  # (batch, latent_dim, latent_frames)
            labels = self._labels(batch, 0.0)
            styles = [z[labels == r] if labels is not None else z[:0] for r in range(rows - 1)]
            for row, chosen in enumerate([*styles, z]):  # each style's items, then every item
                moments[row] += torch.stack(
                    [torch.full_like(moments[row, 0], chosen.shape[0] * chosen.shape[2]),
                     chosen.sum(dim=(0, 2)), chosen.square().sum(dim=(0, 2))]
                )  # fmt: skip
        if acc is not None:
            moments = acc.reduce(moments, reduction="sum")
        empty = moments[:, 0, 0] == 0
        moments[empty] = moments[-1].clone()
        count = moments[:, 0].clamp(min=1)
        mean = moments[:, 1] / count
        std = (moments[:, 2] / count - mean.square()).clamp(min=1e-8).sqrt()
        return mean.float().tolist(), std.float().tolist()

    def export_config(self) -> dict[str, Any]:
        """The resolved model and data settings and the autoencoder folder (no noise schedule)."""
        config = super().export_config()
        config.pop("scheduler")
        return config
