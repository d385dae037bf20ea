"""PyTorch datasets over manifests: fixed-length waveform crops (cached features:
:mod:`audiogen.data.cache`).

* :class:`SegmentDataset` decodes only the crop it needs from each file (``load_audio`` with an
  offset and a duration), resamples, converts channels and normalises it. Training items are
  random crops; validation items are fixed, evenly spaced crops, identical in every epoch.
* :func:`collate_waveforms` pads a list of items into a :class:`WaveformBatch`; the crop plan
  (:func:`_crop_plan`, :class:`_CropRng`) is shared with the cache datasets.

Sampling is proportional to duration: a file contributes ``ceil(duration / segment)`` items per
epoch (at least one), so an epoch covers about the whole collection once.
"""

from __future__ import annotations

import logging
import math
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch.utils.data import Dataset

from audiogen.audio.levels import SILENCE_DB
from audiogen.data.manifest import ManifestEntry, read_manifest

__all__ = [
    "SegmentDataset",
    "WaveformBatch",
    "collate_waveforms",
    "label_vocabulary",
]

logger = logging.getLogger(__name__)

Normalize = Literal["peak", "loudness"] | None


def _load_entries(entries: Sequence[ManifestEntry] | str | os.PathLike[str]) -> list[ManifestEntry]:
    if isinstance(entries, str | os.PathLike):
        return read_manifest(entries)
    return list(entries)


def label_vocabulary(entries: Sequence[ManifestEntry]) -> list[str]:
    """Sorted set of the non-``None`` labels of ``entries`` (the class index is the position)."""
    return sorted({e.label for e in entries if e.label is not None})


def _label_indices(entries: Sequence[ManifestEntry], labels: Sequence[str]) -> list[int]:
    """Class index of each entry (-1 for no label); raises ValueError for a label not in ``labels``."""
    lookup = {name: i for i, name in enumerate(labels)}
    out = []
    for e in entries:
        if e.label is None:
            out.append(-1)
        elif e.label in lookup:
            out.append(lookup[e.label])
        else:
            raise ValueError(f"{e.path}: label {e.label!r} is not in the label list {list(labels)}")
    return out


def _db(value: float) -> float:
    return 20.0 * math.log10(value) if value > 0 else -math.inf


def _worker_rng(seed: int) -> random.Random:
    """A generator for this process: ``seed`` in the main process, ``seed`` and the DataLoader
    worker seed (which torch draws from the main process's generator every epoch) in a worker."""
    info = torch.utils.data.get_worker_info()
    return random.Random(seed if info is None else f"{seed}-{info.seed}")


def _crop_plan(
    lengths: Sequence[float], segment: float, train: bool, valid_crops_per_file: int
) -> list[tuple[int, float | None]]:
    """The items of a crop dataset: ``(file index, start offset)``, lengths in any one unit.

    Training: ``ceil(length / segment)`` items per file with offset ``None`` (drawn at random per
    item). Validation: up to ``valid_crops_per_file`` fixed, evenly spaced offsets per file.
    """
    if train:
        slots = _crop_slots(lengths, segment)
        return [(i, None) for i, n in enumerate(slots) for _ in range(n)]
    items: list[tuple[int, float | None]] = []
    for i, length in enumerate(lengths):
        count = min(valid_crops_per_file, _crop_slots([length], segment)[0])
        items.extend((i, offset) for offset in _even_offsets(length, segment, count))
    return items


class _CropRng:
    """The ``random.Random`` that draws a dataset's crop offsets.

    Built from ``seed`` on first use in each process / DataLoader worker (:func:`_worker_rng`), or
    reseeded for one item by :meth:`reseed` (the trainer's per-item seed).
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._rng: random.Random | None = None
        self._key: tuple[int, int | None] | None = None

    @staticmethod
    def _where() -> tuple[int, int | None]:
        info = torch.utils.data.get_worker_info()
        return os.getpid(), None if info is None else info.seed

    def get(self) -> random.Random:
        """This process's / worker's generator (rebuilt from ``seed`` after a fork or a new epoch)."""
        key = self._where()
        if self._rng is None or self._key != key:
            self._rng, self._key = _worker_rng(self.seed), key
        return self._rng

    def reseed(self, seed: int) -> None:
        """Replace the generator by ``random.Random(seed)`` for this process / worker."""
        self._rng, self._key = random.Random(seed), self._where()


def _crop_slots(lengths: Sequence[float], segment: float) -> list[int]:
    """Items per file for training: ``ceil(length / segment)``, at least 1."""
    return [max(1, math.ceil(length / segment - 1e-9)) for length in lengths]


def _even_offsets(length: float, segment: float, count: int) -> list[float]:
    """``count`` start positions evenly spaced over ``[0, length - segment]`` (one centred crop if
    ``count`` is 1; ``[0]`` if the file is shorter than ``segment``)."""
    span = max(0.0, length - segment)
    if span == 0.0:
        return [0.0]
    if count == 1:
        return [span / 2]
    return [span * i / (count - 1) for i in range(count)]


# ----------------------------------------------------------------------------------------------
# waveform crops


class SegmentDataset(Dataset):
    """Fixed-length waveform crops from the files of a manifest.

    Training (``train=True``): item ``i`` belongs to a file (a file has ``ceil(duration /
    segment_seconds)`` items) and is a crop at a random offset in that file; a crop quieter than
    ``silence_db`` (RMS, dBFS) is replaced by another random offset, up to ``max_retries`` times.
    Validation (``train=False``): each file gives ``min(valid_crops_per_file, ceil(duration /
    segment_seconds))`` crops at evenly spaced offsets, the same in every epoch.

    Only the crop is decoded (:func:`~audiogen.audio.io.load_audio` with ``offset`` and
    ``duration``; 20 ms of context on each side when resampling, to avoid edge effects). Files
    shorter than the segment are zero-padded at the end. Then the crop is normalised:

    * ``"peak"``: scaled so that its peak is ``peak_db`` dBFS;
    * ``"loudness"``: scaled so that its RMS level is ``loudness_db`` dBFS (RMS, not the
      K-weighted LUFS of ITU-R BS.1770), then scaled down if its peak would exceed ``peak_db``;
    * ``None``: left as decoded.

    Crops below ``silence_db`` are never amplified.

    A file that fails to decode is reported once per process (``logging.warning`` naming the file
    and the reason), excluded from then on, and another item is returned instead (a random one in
    training, the next one in validation). :class:`RuntimeError` only when every file has failed.

    Args:
        entries: manifest entries, or the path of a manifest file.
        segment_seconds: crop length in seconds.
        sample_rate: output sample rate in Hz.
        channels: output channels (mixdown / repetition as :func:`~audiogen.audio.io.convert_channels`).
        split: keep only entries of this split (``None`` keeps all).
        train: random crops (``True``) or fixed evenly spaced crops (``False``).
        normalize: ``"peak"``, ``"loudness"`` or ``None``.
        silence_db: crops with an RMS level below this (dBFS) count as silent.
        seed: seed of the crop offsets (combined with the DataLoader worker seed in workers).
        labels: label vocabulary; default: sorted set of the labels of ALL entries given (before
            the split filter, so train and valid share it).
        valid_crops_per_file: most crops per file in validation.
        max_retries: extra offsets tried for a silent training crop.
        peak_db: target / ceiling peak in dBFS for normalisation.
        loudness_db: target RMS level in dBFS for ``"loudness"``.

    Items:
        ``{"waveform": float32 (channels, samples), "label": int64 scalar}`` with ``samples =
        round(segment_seconds * sample_rate)`` and ``label`` the index into :attr:`labels`
        (-1 when the file has no label).

    Raises:
        ValueError: bad arguments, no entries in the split, or a label missing from ``labels``.
        FileNotFoundError / ManifestError: as :func:`~audiogen.data.manifest.read_manifest`.
    """

    def __init__(
        self,
        entries: Sequence[ManifestEntry] | str | os.PathLike[str],
        segment_seconds: float,
        sample_rate: int,
        channels: int = 1,
        split: str | None = "train",
        train: bool = True,
        normalize: Normalize = "peak",
        silence_db: float = SILENCE_DB,
        seed: int = 0,
        labels: Sequence[str] | None = None,
        valid_crops_per_file: int = 4,
        max_retries: int = 4,
        peak_db: float = -1.0,
        loudness_db: float = -20.0,
    ) -> None:
        if segment_seconds <= 0 or sample_rate <= 0 or channels < 1:
            raise ValueError(
                f"need segment_seconds > 0, sample_rate > 0, channels >= 1; got {segment_seconds}, "
                f"{sample_rate}, {channels}"
            )
        if normalize not in ("peak", "loudness", None):
            raise ValueError(f"normalize must be 'peak', 'loudness' or None, got {normalize!r}")
        if valid_crops_per_file < 1 or max_retries < 0:
            raise ValueError("valid_crops_per_file must be >= 1 and max_retries >= 0")
        all_entries = _load_entries(entries)
        self.labels: list[str] = list(labels) if labels is not None else label_vocabulary(all_entries)
        self.entries = [e for e in all_entries if split is None or e.split == split]
        if not self.entries:
            raise ValueError(f"no entries in split {split!r} (of {len(all_entries)} entries)")
        self.label_index = _label_indices(self.entries, self.labels)
        self.segment_seconds = float(segment_seconds)
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.segment_samples = round(self.segment_seconds * self.sample_rate)
        self.train = train
        self.normalize = normalize
        self.silence_db = silence_db
        self.seed = seed
        self.max_retries = max_retries
        self.peak_db = peak_db
        self.loudness_db = loudness_db
        durations = [e.duration for e in self.entries]
        self._items = _crop_plan(durations, self.segment_seconds, train, valid_crops_per_file)
        self._bad: set[int] = set()
        self._crop_rng = _CropRng(self.seed)

    def __len__(self) -> int:
        return len(self._items)

    def _generator(self) -> random.Random:
        return self._crop_rng.get()

    def set_item_seed(self, seed: int) -> None:
        """Draw the next item's random crop from a generator seeded with ``seed`` (the trainer's
        per-item seed, so crops do not depend on ``num_workers`` and repeat exactly after a resume)."""
        self._crop_rng.reseed(seed)

    def _read(self, entry: ManifestEntry, offset: float) -> torch.Tensor:
        """Decode, resample and channel-convert one crop; ``(channels, segment_samples)``."""
        from audiogen.audio.io import load_audio

        margin = 0.02 if entry.sample_rate != self.sample_rate else 0.0
        pre = min(offset, margin)
        audio = load_audio(
            entry.path,
            sample_rate=self.sample_rate,
            channels=self.channels,
            offset=offset - pre,
            duration=self.segment_seconds + pre + margin,
        )
        start = round(pre * self.sample_rate)
        crop = audio.waveform[:, start : start + self.segment_samples]
        if crop.shape[-1] < self.segment_samples:
            crop = torch.nn.functional.pad(crop, (0, self.segment_samples - crop.shape[-1]))
        return crop

    def _normalise(self, crop: torch.Tensor, rms_db: float) -> torch.Tensor:
        if self.normalize is None or rms_db < self.silence_db:
            return crop
        peak = float(crop.abs().max())
        if self.normalize == "peak":
            gain_db = self.peak_db - _db(peak)
        else:
            gain_db = min(self.loudness_db - rms_db, self.peak_db - _db(peak))
        return crop * (10.0 ** (gain_db / 20.0))

    def _load_item(self, index: int) -> torch.Tensor:
        file_index, fixed_offset = self._items[index]
        entry = self.entries[file_index]
        span = max(0.0, entry.duration - self.segment_seconds)
        attempts = 1 if fixed_offset is not None else 1 + self.max_retries
        rng = self._generator()
        for _ in range(attempts):
            offset = fixed_offset if fixed_offset is not None else rng.uniform(0.0, span)
            crop = self._read(entry, offset)
            rms_db = _db(float(crop.double().square().mean().sqrt()))
            if rms_db >= self.silence_db:
                break
        return self._normalise(crop, rms_db)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        from audiogen.audio.io import AudioLoadError

        if not 0 <= index < len(self._items):
            raise IndexError(f"index {index} out of range for {len(self._items)} items")
        current = index
        for _ in range(len(self._items) + 1):
            file_index = self._items[current][0]
            if file_index not in self._bad:
                try:
                    waveform = self._load_item(current)
                    label = torch.tensor(self.label_index[file_index], dtype=torch.long)
                    return {"waveform": waveform.contiguous(), "label": label}
                except (AudioLoadError, ValueError, OSError, RuntimeError) as err:
                    self._bad.add(file_index)
                    logger.warning(
                        "skipping %s: %s (%s)", self.entries[file_index].path, err, type(err).__name__
                    )
            if len(self._bad) >= len(self.entries):
                raise RuntimeError(f"every one of the {len(self.entries)} files failed to decode")
            if self.train:
                current = self._generator().randrange(len(self._items))
            else:
                current = (current + 1) % len(self._items)
        raise RuntimeError("no decodable item found")  # pragma: no cover - bounded by the check above


# ----------------------------------------------------------------------------------------------
# batching variable-length waveforms


@dataclass
class WaveformBatch:
    """A padded batch of waveforms.

    Attributes:
        waveform: float32 ``(batch, channels, samples)``, zero-padded at the end to the longest.
        lengths: int64 ``(batch,)``, valid samples per item.
        label: int64 ``(batch,)`` (-1 for no label).
    """

    waveform: torch.Tensor
    lengths: torch.Tensor
    label: torch.Tensor

    def to(self, device: torch.device | str) -> WaveformBatch:
        """Copy of the batch on ``device``."""
        return WaveformBatch(self.waveform.to(device), self.lengths.to(device), self.label.to(device))


def collate_waveforms(items: Sequence[dict[str, torch.Tensor]]) -> WaveformBatch:
    """DataLoader ``collate_fn`` for items ``{"waveform": (channels, samples), "label": scalar}`` of
    different lengths: pads at the end with zeros and records the lengths.

    Raises:
        ValueError: an empty list, or items with different channel counts.
    """
    if not items:
        raise ValueError("collate_waveforms got no items")
    channels = {item["waveform"].shape[0] for item in items}
    if len(channels) != 1:
        raise ValueError(f"items have different channel counts {sorted(channels)}")
    lengths = torch.tensor([item["waveform"].shape[-1] for item in items], dtype=torch.long)
    waveform = torch.zeros(len(items), channels.pop(), int(lengths.max()), dtype=torch.float32)
    for i, item in enumerate(items):
        waveform[i, :, : item["waveform"].shape[-1]] = item["waveform"]
    label = torch.stack([torch.as_tensor(item.get("label", -1), dtype=torch.long) for item in items])
    return WaveformBatch(waveform, lengths, label)
