"""Training the style classifier (:class:`~audiogen.models.classifier.StyleClassifier`), the
project's own embedding network for the Fréchet distance of generated audio
(:mod:`audiogen.evaluation.frechet`).

Batches are labelled waveform crops (:class:`~audiogen.data.datasets.SegmentDataset`, level
normalised as ``data.normalize``, then in training a random gain drawn uniformly in
``data.gain_db`` dB so the embedding does not key on level); their log-mel is computed on the
training device by :class:`~audiogen.audio.features.LogMelSpectrogram`. Files without a label are
left out (the corpus labels every file with its instrument; with ``data.audio_dir`` the sub-folder
name is the label).

Loss (key of ``loss_weights``): ``cross_entropy`` (nats, mean over the batch, optional label
smoothing). Validation logs ``cross_entropy`` and ``accuracy`` (fraction of crops whose arg-max
class is the true style) on fixed evenly spaced crops, and writes each sample's log-mel PNG titled
with the true and the predicted style.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from audiogen.config import MelConfig, from_dict
from audiogen.models.classifier import ClassifierConfig, StyleClassifier
from audiogen.training.tasks.base import (
    Datasets,
    Sample,
    Task,
    ValidationOutput,
    apply_random_gain,
    check_gain_db,
)


@dataclass(frozen=True)
class ClassifierDataConfig:
    """The ``data`` section of a classifier recipe.

    Attributes:
        manifest: JSONL manifest with labels (the default corpus' ``manifest.jsonl``).
        audio_dir: alternatively, a folder of audio scanned when training starts; each file's
            label is its sub-folder's name.
        group_by: with ``audio_dir``, how files are grouped for the split (``"none"``: each file is
            its own group; ``"parent"`` would put a whole style in one split).
        valid_fraction: with ``audio_dir``, the fraction of groups the scan puts in ``"valid"``.
        labels: the style names in class order; ``None``: the sorted labels of the manifest.
        segment_seconds: crop length in seconds.
        normalize: level normalisation of crops (``"peak"``, ``"loudness"``, ``None``), as
            :class:`~audiogen.data.datasets.SegmentDataset`.
        gain_db: ``[low, high]``: random gain in dB applied to each training crop after
            normalisation (``None``: none).
        label_smoothing: label smoothing of the cross-entropy (0: none).
        train_split: manifest split used for training.
        val_split: manifest split used for validation (``None``: no validation).
        valid_crops_per_file: fixed crops per validation file.
    """

    manifest: str | None = None
    audio_dir: str | None = None
    group_by: Literal["parent", "stem-regex", "none"] = "none"
    valid_fraction: float = 0.1
    labels: tuple[str, ...] | None = None
    segment_seconds: float = 4.0
    normalize: Literal["peak", "loudness"] | None = "peak"
    gain_db: tuple[float, float] | None = (-12.0, 0.0)
    label_smoothing: float = 0.0
    train_split: str = "train"
    val_split: str | None = "valid"
    valid_crops_per_file: int = 2

    def __post_init__(self) -> None:
        if (self.manifest is None) == (self.audio_dir is None):
            raise ValueError("data: give exactly one of 'manifest' and 'audio_dir'")
        if self.labels is not None:
            object.__setattr__(self, "labels", tuple(str(x) for x in self.labels))
        if self.normalize not in ("peak", "loudness", None):
            raise ValueError(f"data.normalize must be 'peak', 'loudness' or null, got {self.normalize!r}")
        if self.segment_seconds <= 0 or self.valid_crops_per_file < 1:
            raise ValueError(
                "data.segment_seconds must be positive and data.valid_crops_per_file >= 1, got "
                f"{self.segment_seconds}, {self.valid_crops_per_file}"
            )
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"data.label_smoothing must be in [0, 1), got {self.label_smoothing}")
        object.__setattr__(self, "gain_db", check_gain_db(self.gain_db))


class ClassifierTask(Task):
    """The style-classifier stage; recipe sections ``mel``, ``model``, ``loss_weights``, ``data``, ``train``.

    ``model`` is a :class:`~audiogen.models.classifier.ClassifierConfig` without ``mel`` (the
    recipe's ``mel`` section) and ``labels`` (``data.labels`` or the manifest's labels). One model
    ``"classifier"`` (EMA'd), one phase ``"main"``. Batches: ``{"waveform": (batch, channels,
    samples), "label": (batch,)}``.

    Raises:
        ValueError: unknown keys or inconsistent values; a manifest with fewer than 2 labels, or a
            split without labelled files.
    """

    name = "classifier"
    ema_models = ("classifier",)

    def __init__(self, recipe: dict[str, Any]) -> None:
        super().__init__(recipe)
        self.mel_config = from_dict(MelConfig, recipe.get("mel"))
        self.data_config = from_dict(ClassifierDataConfig, recipe.get("data"))
        self.model_section = dict(recipe.get("model") or {})
        for key, where in (("mel", "the recipe's 'mel' section"), ("labels", "data.labels")):
            if key in self.model_section:
                raise ValueError(f"model.{key}: set it in {where}, not under 'model'")
        self._entries_cache: list[Any] | None = None
        self._model_config: ClassifierConfig | None = None
        self.frontend: nn.Module | None = None

    # ------------------------------------------------------------------ models and data
    def _source(self) -> str:
        d = self.data_config
        return str(d.manifest if d.manifest is not None else d.audio_dir)

    def _entries(self) -> list[Any]:
        """Labelled manifest entries (files without a label are left out)."""
        from audiogen.data.manifest import read_manifest
        from audiogen.data.scan import scan_folder

        if self._entries_cache is None:
            d = self.data_config
            if d.manifest is not None:
                entries = list(read_manifest(d.manifest))
            else:
                scan = scan_folder(
                    d.audio_dir,  # type: ignore[arg-type]
                    valid_fraction=d.valid_fraction,
                    group_by=d.group_by,
                    label_by="parent",
                    progress=False,
                )
                entries = list(scan.entries)
            self._entries_cache = [e for e in entries if e.label is not None]
        return self._entries_cache

    @property
    def model_config(self) -> ClassifierConfig:
        """The resolved :class:`ClassifierConfig` (labels from ``data.labels`` or the manifest).

        Raises:
            ValueError: fewer than 2 labels, or a bad ``model`` section.
        """
        if self._model_config is None:
            from audiogen.data.datasets import label_vocabulary

            labels = self.data_config.labels or tuple(label_vocabulary(self._entries()))
            if len(labels) < 2:
                raise ValueError(
                    f"{self._source()}: the classifier needs at least 2 style labels, found {list(labels)}"
                )
            self._model_config = from_dict(
                ClassifierConfig, {**self.model_section, "mel": self.mel_config, "labels": tuple(labels)}
            )
        return self._model_config

    def build_models(self) -> dict[str, nn.Module]:
        """``{"classifier": StyleClassifier(model_config)}``."""
        return {"classifier": StyleClassifier(self.model_config)}

    def _dataset(self, split: str, train: bool) -> torch.utils.data.Dataset:
        from audiogen.data.datasets import SegmentDataset

        d = self.data_config
        return SegmentDataset(
            self._entries(),
            d.segment_seconds,
            self.mel_config.sample_rate,
            channels=1,
            split=split,
            train=train,
            normalize=d.normalize,
            labels=self.model_config.labels,
            valid_crops_per_file=d.valid_crops_per_file,
        )

    def build_datasets(self) -> Datasets:
        """Labelled training (and validation) crops.

        Raises:
            ValueError: if the training split has no labelled files, or a file's label is not in
                ``data.labels``.
        """
        d = self.data_config
        entries = self._entries()
        if not any(e.split == d.train_split for e in entries):
            raise ValueError(
                f"{self._source()}: no labelled files in split {d.train_split!r} (of {len(entries)} "
                "labelled files)"
            )
        train = self._dataset(d.train_split, train=True)
        val = None
        if d.val_split is not None and any(e.split == d.val_split for e in entries):
            val = self._dataset(d.val_split, train=False)
        return Datasets(train=train, val=val)

    def setup(self, accelerator: Any, models: dict[str, nn.Module]) -> None:
        """Keep the prepared models and put the log-mel front end on the device."""
        from audiogen.audio.features import LogMelSpectrogram

        super().setup(accelerator, models)
        self.frontend = LogMelSpectrogram(self.mel_config).to(self.device)

    # ------------------------------------------------------------------ training and validation
    def log_mel(self, batch: dict[str, Any], train: bool) -> torch.Tensor:
        """Natural-log mel ``(batch, n_mels, frames)`` of the batch's mono crops (random gain if ``train``).

        Raises:
            KeyError: if the batch has no ``"waveform"``.
        """
        if "waveform" not in batch:
            raise KeyError(f"classifier batch needs 'waveform' and 'label', got keys {sorted(batch)}")
        wav = batch["waveform"].float().mean(dim=1)  # (batch, samples)
        if train:
            wav = apply_random_gain(wav, self.data_config.gain_db)
        assert self.frontend is not None, "setup() was not called"
        with torch.no_grad():
            return self.frontend(wav).mel

    def _labels(self, batch: dict[str, Any]) -> torch.Tensor:
        labels = batch["label"].long()
        if bool((labels < 0).any()):
            raise ValueError("classifier batch holds an unlabelled crop (label -1)")
        return labels

    def step(self, batch: dict[str, Any], phase: str) -> dict[str, torch.Tensor]:
        """``cross_entropy`` of one batch (single phase ``"main"``), unweighted."""
        out = self.models["classifier"](self.log_mel(batch, train=True))
        loss = F.cross_entropy(
            out.logits.float(), self._labels(batch), label_smoothing=self.data_config.label_smoothing
        )
        return {"cross_entropy": loss}

    def validate(self, batch: dict[str, Any], num_samples: int) -> ValidationOutput:
        """``cross_entropy`` and ``accuracy`` on fixed crops; ``num_samples`` log-mel PNGs."""
        mel = self.log_mel(batch, train=False)
        labels = self._labels(batch)
        logits = self.models["classifier"](mel).logits.float()
        predicted = logits.argmax(dim=-1)
        metrics = {
            "cross_entropy": F.cross_entropy(logits, labels),
            "accuracy": (predicted == labels).float().mean(),
        }
        names = self.model_config.labels
        probs = logits.softmax(dim=-1)
        samples = [
            Sample(
                name=f"sample_{i:02d}",
                audio=batch["waveform"][i].float(),
                sample_rate=self.mel_config.sample_rate,
                mels=[mel[i]],
                titles=[
                    f"true: {names[int(labels[i])]}, predicted: {names[int(predicted[i])]} "
                    f"(p = {float(probs[i, predicted[i]]):.2f})"
                ],
                mel_config=self.mel_config,
            )
            for i in range(min(num_samples, mel.shape[0]))
        ]
        return ValidationOutput(metrics=metrics, samples=samples)

    def export_config(self) -> dict[str, Any]:
        """The resolved model and data settings."""
        from audiogen.models.pretrained import config_to_dict

        return {"model": config_to_dict(self.model_config), "data": config_to_dict(self.data_config)}
