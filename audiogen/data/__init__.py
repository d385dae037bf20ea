"""Training data: manifests of audio collections, datasets over them, and the default corpus.

* :mod:`audiogen.data.manifest`: scan folders (:func:`scan_folder`), read/write JSON-lines
  manifests, group-wise deterministic splits.
* :mod:`audiogen.data.datasets`: :class:`SegmentDataset` (waveform crops), the feature cache
  (:func:`build_mel_cache`, :class:`MelCacheDataset`), :func:`collate_waveforms`.
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
    "Rejection": "manifest",
    "ScanResult": "manifest",
    "scan_folder": "manifest",
    "read_manifest": "manifest",
    "write_manifest": "manifest",
    "assign_splits": "manifest",
    "SegmentDataset": "datasets",
    "MelCacheDataset": "datasets",
    "FeatureCacheDataset": "datasets",
    "WaveformBatch": "datasets",
    "build_mel_cache": "datasets",
    "build_feature_cache": "datasets",
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
