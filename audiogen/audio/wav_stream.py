"""A 16-bit PCM WAV file written piece by piece, valid after every piece.

:class:`IncrementalWav` writes the RIFF header first and, after each block of samples, rewrites the
two sizes it holds (the RIFF chunk's and the ``data`` chunk's) and flushes, so a reader sees a
complete, playable file at every moment: stopping the writer (Ctrl-C, a crash) leaves all the audio
written so far. :func:`pcm16` gives the raw bytes for a pipe (``--out -``).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch


def pcm16(waveform: torch.Tensor) -> bytes:
    """Interleaved little-endian 16-bit PCM of ``waveform (channels, samples)`` in [-1, 1] (clipped)."""
    samples = waveform.detach().float().clamp(-1.0, 1.0).cpu().numpy().T
    return np.round(samples * 32767.0).astype("<i2").tobytes()


class IncrementalWav:
    """Write ``(channels, samples)`` blocks to a WAV file that stays valid (see the module docstring).

    Args:
        path: the file (created or truncated).
        sample_rate: in Hz.
        channels: channel count of every block.
    """

    def __init__(self, path: str | Path, sample_rate: int, channels: int = 1) -> None:
        self.path, self.sample_rate, self.channels = Path(path), sample_rate, channels
        self.data_bytes = 0
        self.file: BinaryIO = open(self.path, "wb")  # noqa: SIM115 (closed in close())
        block = 2 * channels
        self.file.write(
            b"RIFF"
            + struct.pack("<I", 36)
            + b"WAVE"
            + b"fmt "
            + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * block, block, 16)
            + b"data"
            + struct.pack("<I", 0)
        )
        self.file.flush()

    def write(self, waveform: torch.Tensor) -> None:
        """Append ``waveform (channels, samples)`` and update the header's sizes."""
        if waveform.shape[0] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got {waveform.shape[0]}")
        data = pcm16(waveform)
        self.file.seek(0, 2)
        self.file.write(data)
        self.data_bytes += len(data)
        self.file.seek(4)
        self.file.write(struct.pack("<I", 36 + self.data_bytes))
        self.file.seek(40)
        self.file.write(struct.pack("<I", self.data_bytes))
        self.file.flush()

    def close(self) -> None:
        """Close the file (it is already complete)."""
        self.file.close()

    def __enter__(self) -> IncrementalWav:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["IncrementalWav", "pcm16"]
