"""Feature caches: per-frame features (log-mel, autoencoder latents) computed once per file and
stored in safetensors shards, and datasets of fixed-length crops over them.

* :func:`build_mel_cache` computes the log-mel spectrogram of every file once
  (:class:`~audiogen.audio.features.LogMelSpectrogram`, batched with valid lengths) and stores the
  frames in shards; :class:`MelCacheDataset` crops fixed numbers of frames from them. The cache
  format is generic (:func:`build_feature_cache`, :class:`FeatureCacheDataset`): any per-frame
  feature with a fixed per-frame shape, such as autoencoder latents, can be cached the same way.

Sampling is proportional to duration, as :class:`~audiogen.data.datasets.SegmentDataset`: a file
contributes ``ceil(duration / segment)`` items per epoch (at least one).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import einops
import torch
from torch.utils.data import Dataset

from audiogen.config import MelConfig
from audiogen.data.datasets import _crop_plan, _CropRng, _label_indices, _load_entries, label_vocabulary
from audiogen.data.manifest import ManifestEntry

__all__ = [
    "FEATURE_CACHE_VERSION",
    "FeatureCacheDataset",
    "MelCacheDataset",
    "build_feature_cache",
    "build_mel_cache",
    "feature_cache_key",
]

logger = logging.getLogger(__name__)

#: Version of the on-disk cache layout; part of the cache key.
FEATURE_CACHE_VERSION = 1


_INDEX = "index.json"


def feature_cache_key(feature: str, settings: dict[str, Any], entries: Sequence[ManifestEntry]) -> str:
    """Hex SHA-256 identifying a cache: feature name, front-end settings, layout version, and each
    file's path, size, modification time (ns), label, split and group. Equal keys mean the cache
    content would be identical; any change (a setting, a touched file) gives a new key.

    Raises:
        FileNotFoundError: a file of ``entries`` does not exist.
    """
    files = []
    for e in entries:
        try:
            stat = os.stat(e.path)
        except FileNotFoundError as err:
            raise FileNotFoundError(f"{e.path}: listed in the manifest but does not exist") from err
        files.append(
            [str(Path(e.path).absolute()), stat.st_size, stat.st_mtime_ns, e.label, e.split, e.group]
        )
    payload = {"version": FEATURE_CACHE_VERSION, "feature": feature, "settings": settings, "files": files}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class _ShardWriter:
    """Appends ``(frames, *feature_shape)`` arrays to safetensors shards of about ``shard_frames``."""

    def __init__(self, folder: Path, feature: str, dtype: torch.dtype, shard_frames: int) -> None:
        self.folder, self.feature, self.dtype, self.shard_frames = folder, feature, dtype, shard_frames
        self.shards: list[dict[str, Any]] = []
        self._parts: list[torch.Tensor] = []
        self._frames = 0

    def add(self, frames_first: torch.Tensor) -> tuple[int, int]:
        """Store one item; returns ``(shard index, frame offset in the shard)``."""
        if self._frames and self._frames + frames_first.shape[0] > self.shard_frames:
            self.flush()
        position = (len(self.shards), self._frames)
        self._parts.append(frames_first.to(self.dtype).contiguous())
        self._frames += frames_first.shape[0]
        return position

    def flush(self) -> None:
        from safetensors.torch import save_file

        if not self._parts:
            return
        name = f"shard-{len(self.shards):05d}.safetensors"
        save_file(
            {"feature": torch.cat(self._parts, dim=0)},
            str(self.folder / name),
            metadata={"feature": self.feature},
        )
        self.shards.append({"file": name, "frames": self._frames})
        self._parts, self._frames = [], 0


def build_feature_cache(
    entries: Sequence[ManifestEntry] | str | os.PathLike[str],
    cache_dir: str | os.PathLike[str],
    *,
    feature: str,
    settings: dict[str, Any],
    sample_rate: int,
    compute: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    feature_shape: Sequence[int],
    frame_rate: float,
    pad_value: float = 0.0,
    channels: int = 1,
    batch_size: int = 8,
    shard_frames: int = 1 << 18,
    dtype: torch.dtype = torch.float32,
    labels: Sequence[str] | None = None,
    progress: bool = True,
) -> Path:
    """Compute a per-frame feature for every file once and store it in safetensors shards.

    The cache lives in ``cache_dir/<feature>-<key[:16]>`` with ``key =``
    :func:`feature_cache_key` ``(feature, settings, entries)``. If that folder exists, it is
    returned as is (nothing is decoded or computed). Otherwise it is built in a temporary folder
    inside ``cache_dir`` and renamed into place when complete, so an interrupted build leaves no
    half-written cache (and of two concurrent builds, the first to finish wins).

    Files are decoded whole (:func:`~audiogen.audio.io.load_audio` at ``sample_rate`` with
    ``channels`` channels), batched by similar length, zero-padded, and passed to ``compute``.
    A file that fails to decode is logged (``logging.warning``) and listed under ``"skipped"`` in
    the index instead of stopping the build.

    Layout: ``shard-NNNNN.safetensors`` hold one tensor ``"feature"`` of shape ``(frames,
    *feature_shape)`` (the items' frames concatenated along the first axis, so a crop is one
    contiguous read); ``index.json`` holds ``feature``, ``feature_shape``, ``frame_rate`` (frames
    per second), ``pad_value``, ``dtype``, ``settings``, ``key``, ``labels``, ``shards`` and, per
    item, ``path``, ``label`` (index, -1 for none), ``split``, ``group``, ``shard``, ``offset`` and
    ``frames``.

    Args:
        entries: manifest entries or a manifest path.
        cache_dir: parent folder of caches (created).
        feature: feature name, e.g. ``"log_mel"`` or ``"latent"``.
        settings: JSON-serialisable settings that determine the feature (part of the key).
        sample_rate: rate in Hz the audio is decoded at.
        compute: ``(waveform (batch, channels, samples), lengths (batch,)) -> (features (batch,
            *feature_shape, frames), frames (batch,))``, run under :func:`torch.inference_mode`.
        feature_shape: per-frame shape, e.g. ``(n_mels,)``.
        frame_rate: frames per second of the feature (stored for readers).
        pad_value: value readers pad short items with (e.g. ``ln(log_floor)`` for log-mel).
        channels: channels the audio is converted to before ``compute``.
        batch_size: files per ``compute`` call.
        shard_frames: frames per shard (a shard holds whole items; one longer item gets its own).
        dtype: storage dtype (``torch.float16`` halves the size).
        labels: label vocabulary; default: sorted set of the entries' labels.
        progress: show a tqdm progress bar.

    Returns:
        The cache folder.

    Raises:
        FileNotFoundError: a listed file does not exist (needed for the key).
        ValueError: no entries, or a label missing from ``labels``.
    """
    from tqdm import tqdm

    from audiogen.audio.io import AudioLoadError, load_audio

    entries = _load_entries(entries)
    if not entries:
        raise ValueError("build_feature_cache: no entries")
    labels = list(labels) if labels is not None else label_vocabulary(entries)
    label_index = _label_indices(entries, labels)
    key = feature_cache_key(feature, {**settings, "channels": channels, "sample_rate": sample_rate}, entries)
    cache_dir = Path(cache_dir)
    target = cache_dir / f"{feature}-{key[:16]}"
    if (target / _INDEX).is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    from audiogen.data.tempfolders import dead_temp_folders, temp_folder_prefix

    for stale in dead_temp_folders(cache_dir, f".{feature}-*"):  # builds killed part-way
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=temp_folder_prefix(f".{feature}-{key[:16]}"), dir=cache_dir))
    try:
        writer = _ShardWriter(tmp, feature, dtype, shard_frames)
        items: list[dict[str, Any] | None] = [None] * len(entries)
        skipped = []
        order = sorted(range(len(entries)), key=lambda i: entries[i].duration)
        bar = tqdm(total=len(entries), desc=f"cache {feature}", unit="file", disable=not progress)
        for start in range(0, len(order), batch_size):
            batch_ids, waves = [], []
            for i in order[start : start + batch_size]:
                try:
                    audio = load_audio(entries[i].path, sample_rate=sample_rate, channels=channels)
                except (AudioLoadError, ValueError, OSError) as err:
                    logger.warning("skipping %s: %s", entries[i].path, err)
                    skipped.append({"path": entries[i].path, "reason": str(err)})
                    continue
                batch_ids.append(i)
                waves.append(audio.waveform)
            bar.update(min(batch_size, len(order) - start))
            if not batch_ids:
                continue
            lengths = torch.tensor([w.shape[-1] for w in waves], dtype=torch.long)
            batch = torch.zeros(len(waves), channels, int(lengths.max()))
            for j, w in enumerate(waves):
                batch[j, :, : w.shape[-1]] = w
            with torch.inference_mode():
                features, frames = compute(batch, lengths)
            for j, i in enumerate(batch_ids):
                n = int(frames[j])
                item = einops.rearrange(features[j, ..., :n].cpu(), "... frames -> frames ...")
                shard, offset = writer.add(item)
                e = entries[i]
                items[i] = {
                    "path": e.path,
                    "label": label_index[i],
                    "split": e.split,
                    "group": e.group,
                    "shard": shard,
                    "offset": offset,
                    "frames": n,
                }
        bar.close()
        writer.flush()
        index = {
            "version": FEATURE_CACHE_VERSION,
            "feature": feature,
            "feature_shape": list(feature_shape),
            "frame_rate": frame_rate,
            "pad_value": pad_value,
            "dtype": str(dtype).removeprefix("torch."),
            "settings": settings,
            "channels": channels,
            "sample_rate": sample_rate,
            "key": key,
            "labels": labels,
            "shards": writer.shards,
            "items": [item for item in items if item is not None],
            "skipped": skipped,
        }
        (tmp / _INDEX).write_text(json.dumps(index, indent=1), encoding="utf-8")
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / _INDEX).is_file():
                raise
            # another process finished the same cache first; keep theirs
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def build_mel_cache(
    entries: Sequence[ManifestEntry] | str | os.PathLike[str],
    mel_config: MelConfig,
    cache_dir: str | os.PathLike[str],
    *,
    batch_size: int = 8,
    shard_frames: int = 1 << 18,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    labels: Sequence[str] | None = None,
    progress: bool = True,
) -> Path:
    """Cache the log-mel spectrogram of every file (mono, at ``mel_config.sample_rate``).

    :func:`build_feature_cache` with feature ``"log_mel"``, settings ``mel_config.to_dict()``,
    per-frame shape ``(n_mels,)``, frame rate ``sample_rate / hop_length`` and padding value
    ``ln(log_floor)`` (silence), computed by
    :class:`~audiogen.audio.features.LogMelSpectrogram` on ``device`` with valid lengths (a clip's
    frames do not depend on the batch it was computed in).

    Returns:
        The cache folder (equal settings and files give the same folder, reused without
        recomputation; anything different gives a new one).

    Raises:
        as :func:`build_feature_cache`.
    """
    from audiogen.audio.features import LogMelSpectrogram

    frontend = LogMelSpectrogram(mel_config).to(device)

    def compute(waveform: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mono = einops.rearrange(waveform, "batch 1 samples -> batch samples")
        out = frontend(mono.to(device), lengths)
        return out.mel, out.frames.cpu()

    return build_feature_cache(
        entries,
        cache_dir,
        feature="log_mel",
        settings=mel_config.to_dict(),
        sample_rate=mel_config.sample_rate,
        compute=compute,
        feature_shape=(mel_config.n_mels,),
        frame_rate=mel_config.sample_rate / mel_config.hop_length,
        pad_value=math.log(mel_config.log_floor),
        channels=1,
        batch_size=batch_size,
        shard_frames=shard_frames,
        dtype=dtype,
        labels=labels,
        progress=progress,
    )


class FeatureCacheDataset(Dataset):
    """Fixed-length crops of cached features (see :func:`build_feature_cache`).

    Training: item ``i`` belongs to a cached file (``ceil(frames / segment_frames)`` items per file)
    and is a crop at a random frame offset. Validation: ``min(valid_crops_per_file,
    ceil(frames / segment_frames))`` evenly spaced crops per file, the same every epoch. Items
    shorter than ``segment_frames`` are padded at the end with the cache's ``pad_value``. Shards
    are opened lazily (memory-mapped by safetensors) in each process, and only the crop is read.

    Args:
        cache_dir: a cache folder returned by :func:`build_feature_cache` / :func:`build_mel_cache`.
        segment_frames: crop length in frames.
        train: random (``True``) or fixed (``False``) crops.
        split: keep only items of this split (``None``: all).
        seed: seed of the crop offsets (combined with the DataLoader worker seed in workers).
        valid_crops_per_file: most crops per file in validation.
        key: name of the feature in the returned items.
        end_margin_frames: training crops end at least this many frames before their file's end
            (a piece's final decay and silence stay out of training); files shorter than
            ``segment_frames + end_margin_frames`` are left out of training. Validation crops are
            unchanged.

    Items:
        ``{key: float32 (*feature_shape, segment_frames), "label": int64 scalar}`` (label -1: none).

    Raises:
        FileNotFoundError: no ``index.json`` in ``cache_dir``.
        ValueError: a cache of another layout version, ``segment_frames`` < 1, ``end_margin_frames``
            < 0, or no item in ``split`` (with the margin: none long enough).
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike[str],
        segment_frames: int,
        train: bool = True,
        split: str | None = "train",
        seed: int = 0,
        valid_crops_per_file: int = 4,
        key: str = "feature",
        end_margin_frames: int = 0,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        index_path = self.cache_dir / _INDEX
        if not index_path.is_file():
            raise FileNotFoundError(f"no feature cache in {self.cache_dir} (missing {_INDEX})")
        index = json.loads(index_path.read_text(encoding="utf-8"))
        if index.get("version") != FEATURE_CACHE_VERSION:
            raise ValueError(
                f"{index_path}: cache layout version {index.get('version')}, expected "
                f"{FEATURE_CACHE_VERSION}; rebuild it"
            )
        if segment_frames < 1:
            raise ValueError(f"segment_frames must be >= 1, got {segment_frames}")
        if end_margin_frames < 0:
            raise ValueError(f"end_margin_frames must be >= 0, got {end_margin_frames}")
        self.index = index
        self.feature = index["feature"]
        self.feature_shape = tuple(index["feature_shape"])
        self.labels: list[str] = list(index["labels"])
        self.pad_value = float(index["pad_value"])
        self.key = key
        self.segment_frames = int(segment_frames)
        self.train = train
        self.seed = seed
        self.end_margin = int(end_margin_frames) if train else 0
        self.items = [
            item
            for item in index["items"]
            if (split is None or item["split"] == split)
            and (not self.end_margin or item["frames"] >= self.segment_frames + self.end_margin)
        ]
        if not self.items:
            longer = f" of at least {self.segment_frames + self.end_margin} frames" if self.end_margin else ""
            raise ValueError(f"{self.cache_dir}: no items{longer} in split {split!r}")
        lengths = [item["frames"] - self.end_margin for item in self.items]
        self._crops = [
            (i, None if offset is None else round(offset))
            for i, offset in _crop_plan(lengths, self.segment_frames, train, valid_crops_per_file)
        ]
        self._handles: dict[int, Any] = {}
        self._handles_pid: int | None = None
        self._crop_rng = _CropRng(self.seed)

    def __len__(self) -> int:
        return len(self._crops)

    def __getstate__(self) -> dict[str, Any]:
        # open shard handles do not pickle (DataLoader workers started with spawn); reopen lazily
        state = dict(self.__dict__)
        state["_handles"], state["_handles_pid"] = {}, None
        return state

    def _shard(self, shard: int) -> Any:
        from safetensors import safe_open

        if self._handles_pid != os.getpid():
            self._handles, self._handles_pid = {}, os.getpid()
        if shard not in self._handles:
            path = self.cache_dir / self.index["shards"][shard]["file"]
            self._handles[shard] = safe_open(str(path), framework="pt").get_slice("feature")
        return self._handles[shard]

    def _generator(self) -> random.Random:
        return self._crop_rng.get()

    def set_item_seed(self, seed: int) -> None:
        """Draw the next item's random crop from a generator seeded with ``seed`` (the trainer's
        per-item seed, so crops do not depend on ``num_workers`` and repeat exactly after a resume)."""
        self._crop_rng.reseed(seed)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < len(self._crops):
            raise IndexError(f"index {index} out of range for {len(self._crops)} items")
        item_index, start = self._crops[index]
        item = self.items[item_index]
        span = max(0, item["frames"] - self.end_margin - self.segment_frames)
        if start is None:
            start = self._generator().randint(0, span)
        stop = min(item["frames"], start + self.segment_frames)
        chunk = self._shard(item["shard"])[item["offset"] + start : item["offset"] + stop]
        chunk = einops.rearrange(chunk.float(), "frames ... -> ... frames")
        if chunk.shape[-1] < self.segment_frames:
            chunk = torch.nn.functional.pad(
                chunk, (0, self.segment_frames - chunk.shape[-1]), value=self.pad_value
            )
        return {self.key: chunk.contiguous(), "label": torch.tensor(item["label"], dtype=torch.long)}


class MelCacheDataset(FeatureCacheDataset):
    """Fixed-length log-mel crops from a cache of :func:`build_mel_cache`.

    Items: ``{"mel": float32 (n_mels, segment_frames), "label": int64 scalar}``; short items are
    padded with ``ln(log_floor)`` (silence). Other arguments as :class:`FeatureCacheDataset`.

    Raises:
        ValueError: the cache does not hold ``"log_mel"`` features; as :class:`FeatureCacheDataset`.
    """

    def __init__(self, cache_dir: str | os.PathLike[str], segment_frames: int, **kwargs: Any) -> None:
        super().__init__(cache_dir, segment_frames, **kwargs, key="mel")
        if self.feature != "log_mel":
            raise ValueError(f"{self.cache_dir}: holds {self.feature!r} features, not 'log_mel'")

    @property
    def mel_config(self) -> MelConfig:
        """The :class:`~audiogen.config.MelConfig` the cache was computed with."""
        from audiogen.config import from_dict

        return from_dict(MelConfig, self.index["settings"])
