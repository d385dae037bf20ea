"""Audio file headers: :func:`probe_audio` and :class:`AudioLoadError`, the one error for a file
that cannot be turned into audio.

:func:`probe_audio` reads a header through `soundfile <https://python-soundfile.readthedocs.io>`_
(libsndfile) without decoding, refuses sample rates outside [:data:`MIN_SAMPLE_RATE`,
:data:`MAX_SAMPLE_RATE`] Hz as implausible headers, and reads the frame count a WAV or AIFF header
declares itself, since libsndfile silently shortens a truncated one. :mod:`audiogen.audio.io`
re-exports these names.

Lossy formats (MP3, Ogg Vorbis, Opus) only estimate their length in the header: an MP3's count comes
from its Xing/LAME tag or, without one, from the file size and bitrate; an OGG's from the granule
position of its last page. :attr:`AudioInfo.length_tolerance` is how far decoding may end short of
that estimate before the file counts as truncated (see :data:`LENGTH_TOLERANCE_FRACTION`).
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

__all__ = [
    "ESTIMATED_LENGTH_SUBTYPES",
    "LENGTH_TOLERANCE_CAP",
    "LENGTH_TOLERANCE_FRACTION",
    "LENGTH_TOLERANCE_SECONDS",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "AudioInfo",
    "AudioLoadError",
    "probe_audio",
]

# Subtypes whose bytes per frame is fixed (``block_align`` of a WAV ``fmt `` chunk), so a data
# chunk's byte count converts to frames.
_FIXED_FRAME_SUBTYPES = frozenset(
    {"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW"}
)

# libsndfile's ``sf_open`` error codes (``SF_ERR_*`` in sndfile.h).
_SF_ERR_UNRECOGNISED_FORMAT = 1
_SF_ERR_SYSTEM = 2
_SF_ERR_MALFORMED_FILE = 3
_SF_ERR_UNSUPPORTED_ENCODING = 4

#: The lowest and highest sample rates (Hz) a file may declare. The bounds are a judgement, not a
#: format limit: below 4 kHz nothing in this project's band is left (telephone audio is 8 kHz), and
#: 192 kHz is the highest rate common in studio formats. A header outside them is almost always
#: corrupt (a bit flip that turns 22,050 Hz into 1 Hz makes a 0.2 s clip "last" 75 minutes), and
#: the bounds keep the resampling ratio, and so the work per second of audio, bounded.
MIN_SAMPLE_RATE = 4_000
MAX_SAMPLE_RATE = 192_000

#: libsndfile subtypes whose header frame count is an estimate, not a count: MPEG audio (the Xing /
#: LAME tag, or the file size over the first frame's bitrate when there is no tag) and Ogg Vorbis /
#: Opus (the last page's granule position). Decoding may end a little before it.
ESTIMATED_LENGTH_SUBTYPES = frozenset({"MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III", "VORBIS", "OPUS"})

#: How far decoding of an :data:`ESTIMATED_LENGTH_SUBTYPES` file may end before the header's count:
#: the larger of this fraction of the count and :data:`LENGTH_TOLERANCE_SECONDS`, but never more
#: than :data:`LENGTH_TOLERANCE_CAP` of the count. MP3 encoder delay and padding and the error of a
#: Xing/LAME count are a few MPEG frames (1152 samples each), a few thousand samples; a count
#: estimated from the file size can be off by a tag's or a cover image's bytes, about half a second
#: in the files seen (docs/data.md). A file cut in the middle falls far outside; the cap keeps a
#: short file cut in half rejected although half of it is under a second.
LENGTH_TOLERANCE_FRACTION = 0.01
LENGTH_TOLERANCE_SECONDS = 1.0
LENGTH_TOLERANCE_CAP = 0.25


class AudioLoadError(Exception):
    """A file could not be turned into audio; the one error :func:`probe_audio` and
    :func:`~audiogen.audio.io.load_audio` raise for an unreadable file.

    ``str(err)`` is ``f"{path}: {reason}"``.

    Attributes:
        path: the file that failed.
        reason: what is wrong with it, e.g. ``"file does not exist"``, ``"empty file (0 bytes)"``,
            ``"not an audio file or unsupported format (libsndfile: Format not recognised.)"``,
            ``"truncated or corrupt: decoding failed after 4096 of 22050 frames (libsndfile: ...)"``,
            ``"no audio samples"``, ``"non-finite samples (NaN or Inf): ..."``.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        # Default exception pickling would call AudioLoadError(message); keep both fields instead,
        # so the error survives being sent between processes (e.g. DataLoader workers).
        return (type(self), (self.path, self.reason))


@dataclass(frozen=True)
class AudioInfo:
    """What an audio file's header says, from :func:`probe_audio`.

    Attributes:
        path: the file.
        sample_rate: sample rate in Hz.
        channels: number of channels.
        frames: samples per channel as the header declares them (for MP3 from the Xing/LAME tag when
            there is one, otherwise as mpg123 estimates it from the file size; for OGG from the last
            complete page's granule position); decoding may end up to :attr:`length_tolerance`
            frames before it.
        duration: ``frames / sample_rate`` in seconds.
        format: libsndfile container name, e.g. ``"WAV"``, ``"FLAC"``, ``"OGG"``, ``"MP3"``, ``"AIFF"``.
        subtype: libsndfile sample encoding, e.g. ``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``, ``"VORBIS"``,
            ``"MPEG_LAYER_III"``.
    """

    path: Path
    sample_rate: int
    channels: int
    frames: int
    duration: float
    format: str
    subtype: str

    @property
    def length_is_estimate(self) -> bool:
        """Whether ``frames`` is the header's estimate (lossy MP3 / Vorbis / Opus) rather than a count."""
        return self.subtype in ESTIMATED_LENGTH_SUBTYPES

    @property
    def length_tolerance(self) -> int:
        """Frames decoding may end short of ``frames`` without the file counting as truncated.

        ``0`` for formats whose header counts frames exactly (WAV, FLAC, AIFF, ...); for
        :attr:`length_is_estimate` formats ``max(1 % of frames, 1 s)``, at most 25 % of ``frames``
        (:data:`LENGTH_TOLERANCE_FRACTION`, :data:`LENGTH_TOLERANCE_SECONDS`,
        :data:`LENGTH_TOLERANCE_CAP`).
        """
        if not self.length_is_estimate:
            return 0
        tolerance = max(
            math.ceil(LENGTH_TOLERANCE_FRACTION * self.frames),
            round(LENGTH_TOLERANCE_SECONDS * self.sample_rate),
        )
        return min(tolerance, math.floor(LENGTH_TOLERANCE_CAP * self.frames))


def probe_audio(path: str | os.PathLike[str]) -> AudioInfo:
    """Read an audio file's header (no decoding) with :func:`soundfile.info`.

    Only problems visible without decoding are caught here: a missing or empty file, one that is
    not audio, a malformed header, and a WAV or AIFF file whose sample data is shorter than its
    header declares. A FLAC, MP3 or OGG file cut short passes :func:`probe_audio` and fails in
    :func:`~audiogen.audio.io.load_audio`.

    Args:
        path: the audio file.

    Returns:
        The header's :class:`AudioInfo` (sample rate in Hz, channels, frames, duration in seconds,
        format and subtype).

    Raises:
        AudioLoadError: the file does not exist, is not a regular file, cannot be read, is empty,
            is not in a format libsndfile reads, has a malformed header, declares a sample rate
            outside [:data:`MIN_SAMPLE_RATE`, :data:`MAX_SAMPLE_RATE`] Hz, or is a truncated WAV/AIFF.
    """
    path = Path(path)
    _check_readable_file(path)
    try:
        info = sf.info(str(path))
    except sf.LibsndfileError as err:
        raise AudioLoadError(path, _open_error_reason(err)) from err
    if info.samplerate <= 0 or info.channels <= 0:
        raise AudioLoadError(
            path, f"invalid header: sample_rate={info.samplerate} Hz, channels={info.channels}"
        )
    if not MIN_SAMPLE_RATE <= info.samplerate <= MAX_SAMPLE_RATE:
        raise AudioLoadError(
            path,
            f"implausible sample rate {info.samplerate} Hz in the header (accepted: "
            f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz); the header is probably corrupt",
        )
    declared = _declared_frames(path, info.format, info.subtype)
    if declared is not None and info.frames < declared:
        raise AudioLoadError(
            path,
            f"truncated or corrupt: the header declares {declared} frames but the file holds only "
            f"{info.frames} ({info.format} {info.subtype})",
        )
    return AudioInfo(
        path=path,
        sample_rate=int(info.samplerate),
        channels=int(info.channels),
        frames=int(info.frames),
        duration=info.frames / info.samplerate,
        format=str(info.format),
        subtype=str(info.subtype),
    )


# ----------------------------------------------------------------------------------------------
# helpers


def _check_readable_file(path: Path) -> None:
    """Raise :class:`AudioLoadError` unless ``path`` is an existing, readable, non-empty file."""
    try:
        stat = path.stat()
    except FileNotFoundError as err:
        raise AudioLoadError(path, "file does not exist") from err
    except OSError as err:
        raise AudioLoadError(path, f"cannot be accessed ({err.strerror or err})") from err
    if path.is_dir():
        raise AudioLoadError(path, "is a directory, not an audio file")
    if stat.st_size == 0:
        raise AudioLoadError(path, "empty file (0 bytes)")
    try:
        with open(path, "rb"):
            pass
    except OSError as err:
        raise AudioLoadError(path, f"cannot be read ({err.strerror or err})") from err


def _open_error_reason(err: sf.LibsndfileError) -> str:
    """Reason text for a libsndfile error raised while opening a file."""
    message = f"libsndfile: {err.error_string}"
    code = getattr(err, "code", None)
    if code == _SF_ERR_UNRECOGNISED_FORMAT:
        return f"not an audio file or unsupported format ({message})"
    if code == _SF_ERR_MALFORMED_FILE:
        return f"truncated or corrupt: libsndfile could not open it ({message})"
    if code == _SF_ERR_UNSUPPORTED_ENCODING:
        return f"unsupported audio encoding ({message})"
    if code == _SF_ERR_SYSTEM:
        return f"cannot be read ({message})"
    return f"cannot be opened ({message})"


def _declared_frames(path: Path, format: str, subtype: str) -> int | None:
    """Frame count the header of a WAV or AIFF file declares, or ``None`` when not known.

    libsndfile silently shortens a WAV/AIFF whose data chunk runs past the end of the file, so the
    declared count is read here: the ``data`` chunk size / ``block_align`` of a RIFF WAV with
    fixed-size frames (``0`` and ``0xFFFFFFFF`` mean "unknown", as streaming writers leave them),
    or ``numSampleFrames`` of an AIFF/AIFC ``COMM`` chunk. Other containers (RF64, W64, ...) give
    ``None``.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if format in ("WAV", "WAVEX") and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
                if subtype not in _FIXED_FRAME_SUBTYPES:
                    return None
                block_align = 0
                while chunk := f.read(8):
                    if len(chunk) < 8:
                        return None
                    chunk_id, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                    if chunk_id == b"fmt ":
                        fmt = f.read(size)
                        if len(fmt) < 14:
                            return None
                        block_align = struct.unpack("<H", fmt[12:14])[0]
                        f.seek(size & 1, os.SEEK_CUR)
                    elif chunk_id == b"data":
                        if block_align == 0 or size in (0, 0xFFFFFFFF):
                            return None
                        return size // block_align
                    else:
                        f.seek(size + (size & 1), os.SEEK_CUR)
                return None
            if format == "AIFF" and head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
                while chunk := f.read(8):
                    if len(chunk) < 8:
                        return None
                    chunk_id, size = chunk[:4], struct.unpack(">I", chunk[4:])[0]
                    if chunk_id == b"COMM":
                        comm = f.read(6)
                        return struct.unpack(">I", comm[2:6])[0] if len(comm) == 6 else None
                    f.seek(size + (size & 1), os.SEEK_CUR)
                return None
    except OSError:
        return None
    return None
