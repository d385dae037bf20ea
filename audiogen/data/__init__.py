"""Training data: manifests of audio collections, datasets over them, and the default corpus.

* :mod:`audiogen.data.scan`: scan folders into manifest entries and a report of rejections and warnings
  (:func:`scan_folder`, :func:`check_audio_file`).
* :mod:`audiogen.data.manifest`: read/write JSON-lines manifests, group-wise deterministic splits.
* :mod:`audiogen.data.datasets`: :class:`SegmentDataset` (waveform crops), :func:`collate_waveforms`.
* :mod:`audiogen.data.cache`: the feature caches (:func:`build_mel_cache`, :class:`MelCacheDataset`,
  :func:`build_feature_cache`, :class:`FeatureCacheDataset`).
* :mod:`audiogen.data.corpus`: the default corpus rendered from music21 scores with FluidSynth
  (:func:`build_default_corpus`).

Names are imported lazily (``from audiogen.data import SegmentDataset`` imports torch only then),
so that importing the manifest tools stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ManifestEntry": "manifest",
    "Rejection": "scan",
    "ScanResult": "scan",
    "ScanWarning": "scan",
    "scan_folder": "scan",
    "read_manifest": "manifest",
    "write_manifest": "manifest",
    "assign_splits": "manifest",
    "SegmentDataset": "datasets",
    "MelCacheDataset": "cache",
    "FeatureCacheDataset": "cache",
    "WaveformBatch": "datasets",
    "build_mel_cache": "cache",
    "build_feature_cache": "cache",
    "collate_waveforms": "datasets",
    "build_default_corpus": "corpus",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` on first access."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'audiogen.data' has no attribute {name!r}")
    module = importlib.import_module(f"audiogen.data.{_EXPORTS[name]}")
    return getattr(module, name)
