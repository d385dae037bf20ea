"""An audio embedding independent of audiogen's networks, for ``audiogen eval generate --embedder``.

Per clip: 20 MFCCs, 7 spectral-contrast bands, log spectral flatness, log spectral centroid and
onset strength (librosa, 22,050 Hz, ``n_fft`` 1024, ``hop_length`` 256), each summarised by its
mean and standard deviation over frames: a 60-D vector. Hand-made features cannot share a learnt
embedding's blind spots, so they cross-check the style classifier's FD::

    PYTHONPATH=benchmarks .venv/bin/audiogen eval generate MANIFEST --split test --num 96 --seconds 4 \\
        --embedder feature_embedder:make --seed 0
"""

from __future__ import annotations

import librosa
import numpy as np
import torch

SAMPLE_RATE = 22050
CONTRAST_BANDS = ("<200Hz", "200-400Hz", "0.4-0.8k", "0.8-1.6k", "1.6-3.2k", "3.2-6.4k", ">6.4k")
FEATURE_ROWS = (
    [f"mfcc{i}" for i in range(20)]
    + [f"contrast {band}" for band in CONTRAST_BANDS]
    + ["log flatness", "log centroid", "onset strength"]
)


class FeatureEmbedder:
    """``embed(waveform (batch, samples), sample_rate) -> (batch, 60)`` float32 features."""

    name = "librosa features (MFCC 20, spectral contrast 7, flatness, centroid, onset: mean + std)"
    # per row of the feature matrix, then mean and std; contrast bands as librosa's defaults
    dimension_names = [f"{row} {stat}" for stat in ("mean", "std") for row in FEATURE_ROWS]

    def embed(self, waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
        out = []
        for x in waveform.float().cpu().numpy():
            if sample_rate != SAMPLE_RATE:
                x = librosa.resample(x, orig_sr=sample_rate, target_sr=SAMPLE_RATE)
            y = x
            spec = np.abs(librosa.stft(y, n_fft=1024, hop_length=256))
            mel_db = librosa.amplitude_to_db(librosa.feature.melspectrogram(S=spec**2, sr=SAMPLE_RATE))
            mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=20)
            contrast = librosa.feature.spectral_contrast(S=spec, sr=SAMPLE_RATE)
            flatness = np.log(librosa.feature.spectral_flatness(S=spec) + 1e-6)
            centroid = np.log(librosa.feature.spectral_centroid(S=spec, sr=SAMPLE_RATE) + 1.0)
            onset = librosa.onset.onset_strength(S=librosa.amplitude_to_db(spec), sr=SAMPLE_RATE)[None]
            features = np.concatenate([mfcc, contrast, flatness, centroid, onset], 0)
            out.append(np.concatenate([features.mean(1), features.std(1)]))
        return torch.tensor(np.stack(out), dtype=torch.float32)


def make() -> FeatureEmbedder:
    """The entry point ``--embedder feature_embedder:make`` calls."""
    return FeatureEmbedder()
