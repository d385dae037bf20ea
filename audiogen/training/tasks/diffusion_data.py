"""The data side of the diffusion stage: the recipe's ``data`` section, the style labels, and the
latents the denoiser trains on (from the latent cache or encoded from waveform crops).

:class:`LatentData` is a mixin of :class:`~audiogen.training.tasks.diffusion.DiffusionTask`, which
sets what it reads: ``data_config``, ``autoencoder`` (frozen) and ``autoencoder_dir``,
``mel_config``, ``model_config``, ``labels`` and ``_entries_cache``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from einops import rearrange

from audiogen.samplers.factory import SAMPLERS


@dataclass(frozen=True)
class DiffusionDataConfig:
    """The ``data`` section of a diffusion recipe.

    Attributes:
        autoencoder: the frozen autoencoder: a model folder (``config.json`` +
            ``model.safetensors``), a checkpoint folder, or a run folder (newest complete
            checkpoint; EMA weights preferred).
        manifest: JSONL manifest (``audiogen data scan`` / the corpus builder).
        audio_dir: alternatively, a folder of audio scanned when training starts.
        label_by: with ``audio_dir``: ``"parent"`` labels each file by its folder name, ``"none"``
            leaves files unlabelled.
        valid_fraction: with ``audio_dir``, the fraction of groups the scan puts in ``"valid"``.
        source: ``"latent_cache"`` or ``"waveform"`` (see the module docstring).
        latent_cache: parent folder of latent caches (required for ``latent_cache``).
        normalize: level normalisation of waveform crops for ``source: waveform`` (as
            :class:`~audiogen.data.datasets.SegmentDataset`); the latent cache uses files as stored.
        conditional: condition on style labels (``False``: an unconditional denoiser).
        labels: the style label names in class order; ``None``: the sorted labels of the corpus.
        label_dropout: probability of replacing a training label by the null label (CFG).
        segment_seconds: training crop length in seconds (rounded to whole latent frames, a
            multiple of the denoiser's ``length_multiple``).
        train_split: manifest split used for training.
        val_split: manifest split used for validation (``None``: no validation).
        sampler: validation sampler, one of ``"dpm++"``, ``"ddim"``, ``"euler"``.
        sample_steps: sampler steps for validation samples.
        cfg_scale: classifier-free guidance scale of validation samples.
        sample_seconds: length of validation samples in seconds (``None``: ``segment_seconds``).
        griffin_lim_iters: Griffin-Lim iterations for validation audio.
        vocoder: a vocoder (model, pipeline, checkpoint or run folder) that turns validation
            samples into audio instead of Griffin-Lim (``None``: Griffin-Lim).
        sample_styles: the styles of the validation samples, cycled (``None``: every label).
        pad_to_segment: latent cache: files shorter than ``segment_seconds`` are padded with
            silence before encoding, so short sounds are followed by the latents of silence.
        normalize_cache: latent cache: peak-normalise each file to -1 dBFS before encoding
            (:func:`audiogen.audio.levels.peak_normalize`), for collections whose files have unrelated
            levels.
        end_margin_seconds: latent cache: training crops end at least this long before the end of
            their file, so a piece's final decay and the silence after it are never a target; files
            shorter than ``segment_seconds + end_margin_seconds`` are left out of training. 0: crops
            anywhere.
    """

    autoencoder: str | None = None
    manifest: str | None = None
    audio_dir: str | None = None
    label_by: Literal["parent", "none"] = "parent"
    valid_fraction: float = 0.1
    source: Literal["latent_cache", "waveform"] = "latent_cache"
    latent_cache: str | None = None
    normalize: Literal["peak", "loudness"] | None = "peak"
    conditional: bool = True
    labels: tuple[str, ...] | None = None
    label_dropout: float = 0.1
    segment_seconds: float = 5.0
    train_split: str = "train"
    val_split: str | None = "valid"
    sampler: str = "dpm++"
    sample_steps: int = 25
    cfg_scale: float = 3.0
    sample_seconds: float | None = None
    griffin_lim_iters: int = 32
    vocoder: str | None = None
    sample_styles: tuple[str, ...] | None = None
    pad_to_segment: bool = True
    normalize_cache: bool = False
    end_margin_seconds: float = 0.0

    def __post_init__(self) -> None:
        for name in ("labels", "sample_styles"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(str(x) for x in getattr(self, name)))
        if not self.autoencoder:
            raise ValueError(
                "data.autoencoder: set the trained autoencoder (model, checkpoint or run folder)"
            )
        if (self.manifest is None) == (self.audio_dir is None):
            raise ValueError("data: give exactly one of 'manifest' and 'audio_dir'")
        if self.source not in ("latent_cache", "waveform"):
            raise ValueError(f"data.source must be 'latent_cache' or 'waveform', got {self.source!r}")
        if self.source == "latent_cache" and not self.latent_cache:
            raise ValueError(
                "data.source is 'latent_cache' but data.latent_cache (the cache folder) is not set"
            )
        if self.label_by not in ("parent", "none"):
            raise ValueError(f"data.label_by must be 'parent' or 'none', got {self.label_by!r}")
        if not 0.0 <= self.label_dropout < 1.0:
            raise ValueError(f"data.label_dropout must be in [0, 1), got {self.label_dropout}")
        if self.segment_seconds <= 0 or (self.sample_seconds is not None and self.sample_seconds <= 0):
            raise ValueError("data.segment_seconds and data.sample_seconds must be positive")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"data.sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        if self.sample_steps < 1 or self.griffin_lim_iters < 1:
            raise ValueError("data.sample_steps and data.griffin_lim_iters must be >= 1")
        if not (self.end_margin_seconds >= 0 and math.isfinite(self.end_margin_seconds)):
            raise ValueError(f"data.end_margin_seconds must be >= 0, got {self.end_margin_seconds}")
        if self.end_margin_seconds and self.source != "latent_cache":
            raise ValueError("data.end_margin_seconds needs data.source 'latent_cache'")


class LatentData:
    """Entries, labels, latent cache and datasets of the diffusion stage (see the module docstring)."""

    def _entries(self) -> list[Any]:
        from audiogen.data.manifest import read_manifest
        from audiogen.data.scan import scan_folder

        if self._entries_cache is None:
            d = self.data_config
            if d.manifest is not None:
                self._entries_cache = list(read_manifest(d.manifest))
            else:
                scan = scan_folder(
                    d.audio_dir,  # type: ignore[arg-type]
                    valid_fraction=d.valid_fraction,
                    label_by=d.label_by,
                    progress=False,
                )
                self._entries_cache = list(scan.entries)
        return self._entries_cache

    def _resolve_labels(self) -> list[str]:
        from audiogen.data.datasets import label_vocabulary

        d = self.data_config
        if not d.conditional:
            return []
        if d.labels is not None:
            return list(d.labels)
        return label_vocabulary(self._entries())

    @property
    def latent_frame_rate(self) -> float:
        """Latent frames per second: ``sample_rate / hop_length / time_downsample``."""
        cfg = self.mel_config
        return cfg.sample_rate / cfg.hop_length / self.autoencoder.time_downsample

    def latent_frames(self, seconds: float) -> int:
        """Latent frames for ``seconds``, rounded up to a multiple of the denoiser's ``length_multiple``."""
        m = self.model_config.length_multiple
        return max(m, math.ceil(round(seconds * self.latent_frame_rate) / m) * m)

    def _weights_digest(self) -> str:
        from audiogen.models.pretrained import WEIGHTS_NAME

        digest = hashlib.sha256()
        with open(self.autoencoder_dir / WEIGHTS_NAME, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def build_latent_cache(self, entries: list[Any], progress: bool = True) -> Path:
        """Encode every file of ``entries`` once into ``data.latent_cache/latent-<key>/`` (reused after).

        Each file is decoded mono at the autoencoder's sample rate, turned into a log-mel and
        encoded whole (posterior mean × ``latent_scale``) on the CPU; items are
        ``(latent_frames, latent_dim)`` in the shards of
        :func:`~audiogen.data.cache.build_feature_cache` (pad value 0).

        Returns:
            The cache folder.

        Raises:
            as :func:`~audiogen.data.cache.build_feature_cache`.
        """
        from audiogen.audio.features import LogMelSpectrogram
        from audiogen.audio.levels import peak_normalize
        from audiogen.data.cache import build_feature_cache
        from audiogen.models.pretrained import config_to_dict

        vae = self.autoencoder.cpu().eval()
        frontend = LogMelSpectrogram(self.mel_config)
        ds = vae.time_downsample
        d = self.data_config
        min_samples = round(d.segment_seconds * self.mel_config.sample_rate) if d.pad_to_segment else 0
        # the key holds the padding only when it pads a file (one sample of resampling slack), so a
        # denoiser's 4 s crops and a sequence model's 10 s crops of the same long files share a cache
        pads = any(e.duration * self.mel_config.sample_rate < min_samples + 1 for e in entries)

        def compute(waveform: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            mono = rearrange(waveform, "batch 1 samples -> batch samples")  # one file per call
            if d.normalize_cache:
                mono = peak_normalize(mono)  # peak to -1 dBFS (silent files are left alone)
            if mono.shape[-1] < min_samples:  # silence after a short file
                mono = F.pad(mono, (0, min_samples - mono.shape[-1]))
                lengths = torch.full_like(lengths, min_samples)
            out = frontend(mono, lengths)
            latent = vae.encode(out.mel)
            return latent, torch.div(out.frames.cpu() + ds - 1, ds, rounding_mode="floor")

        settings = {
            "autoencoder": config_to_dict(vae._config_for_save()),
            "weights_sha256": self._weights_digest(),
            "posterior": "mean",
            "labels": self.labels,
            "pad_to_samples": min_samples if pads else 0,
            "normalize": "peak" if d.normalize_cache else None,
        }
        return build_feature_cache(
            entries,
            self.data_config.latent_cache,  # type: ignore[arg-type]
            feature="latent",
            settings=settings,
            sample_rate=self.mel_config.sample_rate,
            compute=compute,
            feature_shape=(vae.latent_dim,),
            frame_rate=self.latent_frame_rate,
            pad_value=0.0,
            channels=1,
            batch_size=1,
            labels=self.labels or None,
            progress=progress,
        )

    def _dataset(
        self, entries: list[Any], split: str, train: bool, cache: Path | None
    ) -> torch.utils.data.Dataset:

        d = self.data_config
        frames = self.latent_frames(d.segment_seconds)
        if cache is not None:
            from audiogen.data.cache import FeatureCacheDataset

            margin = math.ceil(d.end_margin_seconds * self.latent_frame_rate)
            dataset: torch.utils.data.Dataset = FeatureCacheDataset(
                cache, frames, train=train, split=split, key="latent", end_margin_frames=margin
            )
        else:
            from audiogen.data.datasets import SegmentDataset

            cfg = self.mel_config
            # enough samples for `frames` latent frames: (frames * ds - 1) hops (centred STFT frames)
            samples = (frames * self.autoencoder.time_downsample - 1) * cfg.hop_length
            dataset = SegmentDataset(
                entries,
                samples / cfg.sample_rate,
                cfg.sample_rate,
                channels=1,
                split=split,
                train=train,
                normalize=d.normalize,
                labels=self.labels or None,
            )
        return dataset

    def _dataset_options(self, entries: list[Any]) -> dict[str, Any]:
        """Latent crops come from the latent cache (built on first use) when ``data.source`` is
        ``latent_cache``."""
        latent_cache = self.data_config.source == "latent_cache"
        return {"cache": self.build_latent_cache(entries) if latent_cache else None}
