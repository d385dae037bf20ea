"""Lossy files for tests whose header overstates their length, as real-world MP3s and Oggs do.

libsndfile writes MP3s (LAME) with a Xing tag whose frame count is exact; :func:`overstated_mp3`
raises that count, so the header (and libsndfile's ``frames``) declares more samples than decoding
returns, the way encoder delay/padding, a wrong Xing/LAME count or a size-based estimate do.
:func:`overstated_ogg` does the same to an Ogg Vorbis / Opus file's last granule position.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile as sf


def music(seconds: float, sample_rate: int, channels: int = 1, peak: float = 0.5) -> np.ndarray:
    """``(samples, channels)`` float32: a chord with a little noise, not silent anywhere, |x| <= peak."""
    rng = np.random.default_rng(7)
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    chans = []
    for c in range(channels):
        x = sum(np.sin(2 * np.pi * f * (1 + 0.01 * c) * t) for f in (220.0, 277.2, 329.6))
        chans.append(x + 0.2 * rng.standard_normal(t.shape))
    x = np.stack(chans, axis=1)
    return (peak * x / np.abs(x).max()).astype(np.float32)


def _counts(path: Path) -> tuple[Path, int, int]:
    """``(path, frames the header declares, frames that decode)``."""
    decoded = 0
    with sf.SoundFile(path) as f:
        while block := len(f.read(1 << 16, dtype="float32")):
            decoded += block
    return path, sf.info(path).frames, decoded


def xing_frames_offset(data: bytes) -> int:
    """Byte offset of the frame count in the Xing/Info tag of an MP3's first frame."""
    at = max(data.find(b"Xing"), data.find(b"Info"))
    if at < 0 or not struct.unpack(">I", data[at + 4 : at + 8])[0] & 1:
        raise ValueError("no Xing/Info tag with a frame count")
    return at + 8


def overstated_mp3(
    path: Path, seconds: float, sample_rate: int = 22050, extra_frames: int = 1, channels: int = 1
) -> tuple[Path, int, int]:
    """Write an MP3 of ``seconds`` and add ``extra_frames`` MPEG frames to its Xing frame count.

    Returns:
        ``(path, declared, decoded)``: the file, the frame count (samples per channel) its header
        now declares, and what decoding returns.
    """
    sf.write(path, music(seconds, sample_rate, channels), sample_rate, format="MP3")
    data = bytearray(path.read_bytes())
    at = xing_frames_offset(data)
    count = struct.unpack(">I", data[at : at + 4])[0]
    data[at : at + 4] = struct.pack(">I", count + extra_frames)
    path.write_bytes(bytes(data))
    return _counts(path)


def _ogg_crc(page: bytes) -> int:
    """Ogg page checksum: CRC-32, polynomial 0x04C11DB7, no reflection, initial value 0."""
    crc = 0
    for byte in page:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc


def overstated_ogg(
    path: Path, seconds: float, sample_rate: int, subtype: str = "VORBIS", extra_samples: int = 1000
) -> tuple[Path, int, int]:
    """Write an Ogg (``"VORBIS"`` or ``"OPUS"``) file and raise its last page's granule position.

    The page checksum is recomputed, so the page stays valid; libsndfile takes the length from that
    granule position, so the header then declares ``extra_samples`` more than decoding returns.

    Returns:
        ``(path, declared, decoded)`` as :func:`overstated_mp3`.
    """
    sf.write(path, music(seconds, sample_rate, 2), sample_rate, format="OGG", subtype=subtype)
    data = bytearray(path.read_bytes())
    last = data.rfind(b"OggS")
    granule = struct.unpack("<q", data[last + 6 : last + 14])[0]
    data[last + 6 : last + 14] = struct.pack("<q", granule + extra_samples)
    segments = data[last + 26]
    size = 27 + segments + sum(data[last + 27 : last + 27 + segments])
    data[last + 22 : last + 26] = b"\0\0\0\0"
    data[last + 22 : last + 26] = struct.pack("<I", _ogg_crc(bytes(data[last : last + size])))
    path.write_bytes(bytes(data))
    return _counts(path)
