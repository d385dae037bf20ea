"""Audio files in and out: probe headers, decode to float32 tensors, resample, convert channels, write.

Decoding and encoding go through `soundfile <https://python-soundfile.readthedocs.io>`_ (libsndfile),
which reads WAV (8/16/24/32-bit integer and 32/64-bit float PCM), FLAC, OGG/Vorbis, MP3 and AIFF among
others; resampling goes through `soxr <https://github.com/dofuldev/python-soxr>`_ (libsoxr), whose cost
per sample is bounded for every pair of rates (a 44,101 Hz file costs what a 44,100 Hz one does).

:func:`load_audio` streams: it decodes in blocks, mixes each block down (when fewer channels are
asked for) and feeds it to a streaming resampler, so its memory is about the size of what it
returns, not of the decoded file. Sample rates outside
[:data:`MIN_SAMPLE_RATE`, :data:`MAX_SAMPLE_RATE`] Hz are refused as implausible headers.

Every problem with a file that cannot be turned into audio raises :class:`AudioLoadError`, whose
message names the file and says what is wrong (missing, empty, not audio, truncated, non-finite
samples, ...). Bad arguments (a negative offset, a non-positive sample rate) raise :class:`ValueError`.

Waveforms are ``(channels, samples)`` float32 tensors with samples nominally in ``[-1, 1]``; batched
code uses ``(batch, channels, samples)``.

Header probing and :class:`AudioLoadError` live in :mod:`audiogen.audio.probe`, resampling and channel
conversion in :mod:`audiogen.audio.resample`; both are re-exported here.
"""

from __future__ import annotations

import math
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import einops
import numpy as np
import soundfile as sf
import torch

from audiogen.audio.probe import (
    _SF_ERR_SYSTEM,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    AudioInfo,
    AudioLoadError,
    probe_audio,
)
from audiogen.audio.resample import _SOXR_QUALITY, convert_channels, resample

__all__ = [
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "Audio",
    "AudioInfo",
    "AudioLoadError",
    "convert_channels",
    "load_audio",
    "output_format",
    "probe_audio",
    "resample",
    "save_audio",
]

#: Container format written for each file-name suffix by :func:`save_audio`.
SUFFIX_FORMATS: dict[str, str] = {
    ".wav": "WAV",
    ".flac": "FLAC",
    ".ogg": "OGG",
    ".oga": "OGG",
    ".mp3": "MP3",
    ".aif": "AIFF",
    ".aiff": "AIFF",
}

#: Subtype (sample encoding) :func:`save_audio` writes when none is given.
DEFAULT_SUBTYPES: dict[str, str] = {
    "WAV": "PCM_16",
    "FLAC": "PCM_16",
    "AIFF": "PCM_16",
    "OGG": "VORBIS",
    "MP3": "MPEG_LAYER_III",
}

# Subtypes that store samples as floats; every other subtype is clipped to [-1, 1] on writing.
_FLOAT_SUBTYPES = frozenset({"FLOAT", "DOUBLE"})

_READ_BLOCK_FRAMES = 1 << 13


@dataclass
class Audio:
    """A decoded clip.

    Attributes:
        waveform: float32 tensor ``(channels, samples)``, samples nominally in ``[-1, 1]`` (files
            with a float subtype may hold larger values, and lossy decoders overshoot to about 1.2;
            they are kept: see :func:`audiogen.audio.levels.limit_peak`).
        sample_rate: sample rate in Hz.

    Raises:
        ValueError: ``waveform`` is not a 2-D floating-point tensor, or ``sample_rate`` is not positive.
    """

    waveform: torch.Tensor
    sample_rate: int

    def __post_init__(self) -> None:
        if not isinstance(self.waveform, torch.Tensor) or self.waveform.ndim != 2:
            raise ValueError(
                f"Audio.waveform must be a (channels, samples) tensor, got "
                f"{getattr(self.waveform, 'shape', type(self.waveform).__name__)}"
            )
        if not self.waveform.is_floating_point():
            raise ValueError(f"Audio.waveform must be floating point, got {self.waveform.dtype}")
        if self.sample_rate <= 0:
            raise ValueError(f"Audio.sample_rate must be positive (Hz), got {self.sample_rate}")

    @property
    def channels(self) -> int:
        """Number of channels (size of axis 0 of ``waveform``)."""
        return self.waveform.shape[0]

    @property
    def samples(self) -> int:
        """Samples per channel (size of axis 1 of ``waveform``)."""
        return self.waveform.shape[1]

    @property
    def duration(self) -> float:
        """Length in seconds, ``samples / sample_rate``."""
        return self.samples / self.sample_rate


def load_audio(
    path: str | os.PathLike[str],
    sample_rate: int | None = None,
    channels: int | None = None,
    offset: float = 0.0,
    duration: float | None = None,
) -> Audio:
    """Decode an audio file (or a window of it) to a float32 ``(channels, samples)`` tensor.

    The file is decoded with soundfile (libsndfile) straight to float32: integer PCM is scaled to
    ``[-1, 1)``, float PCM is kept as stored. The requested frames are decoded in full and checked:

    * a decoding error part-way, or fewer decoded frames than the header declares (FLAC STREAMINFO,
      MP3 Xing/LAME tag, OGG granule position), means the file is truncated or corrupt, except
      that decoding of a lossy file (MP3, Ogg Vorbis, Opus), whose header only estimates its
      length, may end up to :attr:`AudioInfo.length_tolerance` frames early (max(1 %, 1 s), at
      most 25 %): the waveform then ends where decoding ends, shorter than the header says;
    * a WAV/AIFF whose data is shorter than its header declares is caught by :func:`probe_audio`;
    * NaN or Inf samples are rejected.

    Only the window ``[offset, offset + duration)`` is decoded and checked when one is given; a
    window running past the end of the file is cut at the end (the end of decoding, for a lossy
    file that decodes shorter than its header says).

    Decoding is streamed in blocks of 8192 frames: when the channel count goes down each block is
    mixed to mono first (as :func:`convert_channels`), then each block goes through one streaming
    libsoxr resampler (the same filter as :func:`resample`, which it matches sample for sample),
    and channels are repeated last when the count goes up. Peak memory is therefore about the size
    of the returned waveform plus one block, whatever the file's rate and channel count.

    Args:
        path: the audio file (WAV, FLAC, OGG/Vorbis, MP3, AIFF, or anything else libsndfile reads).
        sample_rate: resample to this rate in Hz; ``None`` keeps the file's rate.
        channels: convert to this many channels (see :func:`convert_channels`); ``None`` keeps them.
        offset: start of the window in seconds from the start of the file (rounded to the nearest
            sample at the file's rate).
        duration: length of the window in seconds (rounded to the nearest sample at the file's
            rate); ``None`` reads to the end.

    Returns:
        :class:`Audio` with ``waveform`` float32 ``(channels, samples)`` and ``sample_rate`` in Hz.

    Raises:
        AudioLoadError: the file is missing, empty, not audio, truncated or corrupt, holds no
            samples, holds NaN/Inf samples, or declares an implausible sample rate (see
            :class:`AudioLoadError`, :func:`probe_audio`).
        ValueError: a bad argument: ``sample_rate`` or ``channels`` < 1, a negative or non-finite
            ``offset``, a ``duration`` shorter than one sample, or an ``offset`` at or past the end
            of the file (of the header's count, or of what decodes of a lossy file that ends
            early). The message names the file.
    """
    path = Path(path)
    if sample_rate is not None and (int(sample_rate) != sample_rate or sample_rate < 1):
        raise ValueError(f"{path}: sample_rate must be a positive integer (Hz), got {sample_rate!r}")
    if channels is not None and (int(channels) != channels or channels < 1):
        raise ValueError(f"{path}: channels must be a positive integer, got {channels!r}")
    if not (math.isfinite(offset) and offset >= 0):
        raise ValueError(f"{path}: offset must be a finite number of seconds >= 0, got {offset!r}")
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        raise ValueError(f"{path}: duration must be a finite number of seconds > 0, got {duration!r}")

    info = probe_audio(path)
    if info.frames <= 0:
        reason = f"no audio samples (the {info.format} header declares 0 frames)"
        if info.format == "OGG":
            # libsndfile takes an OGG's length from its last complete page and reports 0 frames
            # when it finds none, which is also what a file cut short looks like.
            reason += "; an OGG file cut short also reads as 0 frames, so it may be truncated"
        raise AudioLoadError(path, reason)

    start = round(offset * info.sample_rate)
    if start >= info.frames:
        raise ValueError(
            f"{path}: offset {offset} s (frame {start}) is at or past the end of the audio "
            f"({info.duration:.6g} s, {info.frames} frames)"
        )
    if duration is None:
        stop = info.frames
    else:
        length = round(duration * info.sample_rate)
        if length < 1:
            raise ValueError(
                f"{path}: duration {duration} s is shorter than one sample at {info.sample_rate} Hz"
            )
        stop = min(info.frames, start + length)

    mix = channels is not None and channels < info.channels
    rate = info.sample_rate if sample_rate is None else int(sample_rate)
    waveform = torch.from_numpy(_decode_frames(path, info, start, stop, mono=mix, out_rate=rate))
    if channels is not None and channels != waveform.shape[0]:
        waveform = convert_channels(waveform, channels)
    return Audio(waveform=waveform.contiguous(), sample_rate=rate)


def output_format(path: str | os.PathLike[str]) -> str:
    """The container format :func:`save_audio` writes for ``path``'s suffix (``"WAV"``, ``"FLAC"``, ...).

    Lets a command check its output path before it spends time computing the audio.

    Raises:
        ValueError: the suffix is not one of :data:`SUFFIX_FORMATS` (the message names the file).
    """
    path = Path(path)
    format = SUFFIX_FORMATS.get(path.suffix.lower())
    if format is None:
        raise ValueError(
            f"{path}: unsupported suffix {path.suffix!r}; use one of {', '.join(sorted(SUFFIX_FORMATS))}"
        )
    return format


def save_audio(
    path: str | os.PathLike[str],
    waveform: torch.Tensor | np.ndarray,
    sample_rate: int,
    format: str | None = None,
    subtype: str | None = None,
) -> Path:
    """Write a waveform to an audio file, atomically.

    The file is written to a hidden temporary file in the destination folder, then moved over
    ``path`` with :func:`os.replace`: readers never see a half-written file, and a failed write
    leaves an existing ``path`` untouched (the temporary file is removed). There is no fsync, so
    this guards against interrupted processes, not against power loss. Missing parent folders
    are created.

    Samples outside ``[-1, 1]`` are hard-clipped to ``[-1, 1]`` for every subtype except ``FLOAT``
    and ``DOUBLE``, which store values as they are. Integer PCM has no room for them and lossy
    encoders would distort them; clipping here makes the result independent of libsndfile's own
    clipping setting.

    Args:
        path: destination; its suffix picks the format when ``format`` is ``None``: ``.wav`` WAV,
            ``.flac`` FLAC, ``.ogg``/``.oga`` OGG (Vorbis), ``.mp3`` MP3, ``.aif``/``.aiff`` AIFF.
        waveform: ``(channels, samples)`` or ``(samples,)`` (mono) floating-point torch tensor or
            numpy array, samples nominally in ``[-1, 1]``.
        sample_rate: sample rate in Hz (MP3 allows only 8000, 11025, 12000, 16000, 22050, 24000,
            32000, 44100 and 48000).
        format: ``"WAV"``, ``"FLAC"``, ``"OGG"``, ``"MP3"`` or ``"AIFF"`` (any case); ``None`` means
            from the suffix.
        subtype: libsndfile subtype, e.g. ``"PCM_16"``, ``"PCM_24"``, ``"PCM_32"``, ``"FLOAT"``,
            ``"DOUBLE"``, ``"VORBIS"``; ``None`` means ``PCM_16`` for WAV/FLAC/AIFF, ``VORBIS`` for
            OGG and ``MPEG_LAYER_III`` for MP3.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: an unsupported suffix/format or format/subtype pair, a waveform that is not 1-D
            or 2-D, has no samples or no channels, is not floating point or holds NaN/Inf, a
            non-positive sample rate, or a combination libsndfile refuses (e.g. MP3 at 7000 Hz).
            The message names the file.
        OSError: the folder or file cannot be created or written.
    """
    path = Path(path)
    if format is None:
        try:
            format = output_format(path)
        except ValueError as e:
            raise ValueError(f"{e}, or pass format=") from None
    format = format.upper()
    if format not in DEFAULT_SUBTYPES:
        raise ValueError(f"{path}: unsupported format {format!r}; use one of {sorted(DEFAULT_SUBTYPES)}")
    subtype = DEFAULT_SUBTYPES[format] if subtype is None else subtype.upper()
    if not sf.check_format(format, subtype):
        raise ValueError(
            f"{path}: libsndfile cannot write subtype {subtype!r} in {format}; "
            f"available: {sorted(sf.available_subtypes(format))}"
        )
    if int(sample_rate) != sample_rate or sample_rate < 1:
        raise ValueError(f"{path}: sample_rate must be a positive integer (Hz), got {sample_rate!r}")

    data = _waveform_to_numpy(path, waveform)
    if subtype not in _FLOAT_SUBTYPES:
        data = np.clip(data, -1.0, 1.0)
    frames = np.ascontiguousarray(einops.rearrange(data, "channels samples -> samples channels"))

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        try:
            sf.write(str(tmp), frames, int(sample_rate), format=format, subtype=subtype)
        except sf.LibsndfileError as err:
            if err.code == _SF_ERR_SYSTEM:
                raise OSError(f"{path}: cannot write the file (libsndfile: {err.error_string})") from err
            raise ValueError(
                f"{path}: libsndfile refused to write {format} {subtype} at {sample_rate} Hz with "
                f"{data.shape[0]} channels (libsndfile: {err.error_string})"
            ) from err
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


class _FiniteCheck:
    """Counts NaN/Inf samples over the blocks of one decode and remembers the first one."""

    def __init__(self, start: int) -> None:
        self.start, self.total, self.bad, self.nan, self.inf = start, 0, 0, 0, 0
        self.first: tuple[int, int] | None = None

    def update(self, offset: int, block: np.ndarray) -> bool:
        """Check ``block`` (frames ``offset ...`` of the window); True when it is all finite."""
        self.total += block.size
        finite = np.isfinite(block)
        if finite.all():
            return True
        bad = ~finite
        if self.first is None:
            frame, channel = (int(i) for i in np.argwhere(bad)[0])
            self.first = (offset + frame, channel)
        self.bad += int(bad.sum())
        self.nan += int(np.isnan(block).sum())
        self.inf += int(np.isinf(block).sum())
        return False

    def raise_if_bad(self, path: Path) -> None:
        if self.first is None:
            return
        frame, channel = self.first
        raise AudioLoadError(
            path,
            f"non-finite samples (NaN or Inf): {self.bad} of {self.total} samples, first at "
            f"frame {self.start + frame} (channel {channel}); {self.nan} NaN, {self.inf} Inf",
        )


def _decode_frames(
    path: Path, info: AudioInfo, start: int, stop: int, mono: bool = False, out_rate: int | None = None
) -> np.ndarray:
    """Decode frames ``[start, stop)`` to a float32 ``(channels, samples)`` array, streaming.

    Blocks of :data:`_READ_BLOCK_FRAMES` frames are checked for NaN/Inf, mixed to one channel
    when ``mono`` (channel mean, as :func:`convert_channels`), and resampled to ``out_rate`` Hz
    with one streaming libsoxr resampler (the result equals :func:`resample` on the whole
    window). Only the preallocated output and one block are held in memory.

    Raises :class:`AudioLoadError` when libsndfile fails part-way, returns fewer frames than asked
    (beyond a lossy file's :attr:`AudioInfo.length_tolerance`: the result is then cut where decoding
    ended), or a sample is NaN/Inf.
    """
    import soxr

    wanted = stop - start
    out_channels = 1 if mono else info.channels
    out_rate = info.sample_rate if out_rate is None else int(out_rate)
    out_len = math.ceil(wanted * out_rate / info.sample_rate)
    stream = None
    if out_rate != info.sample_rate:
        stream = soxr.ResampleStream(
            info.sample_rate, out_rate, out_channels, dtype="float32", quality=_SOXR_QUALITY
        )
    out = np.zeros((out_channels, out_len), dtype=np.float32)  # (channels, samples)
    written = 0
    finite = _FiniteCheck(start)

    def emit(chunk: np.ndarray) -> None:
        nonlocal written
        take = min(len(chunk), out_len - written)
        out[:, written : written + take] = einops.rearrange(
            chunk[:take], "samples channels -> channels samples"
        )
        written += take

    decoded = 0
    try:
        with sf.SoundFile(str(path)) as f:
            if start:
                try:
                    f.seek(start)
                except (sf.LibsndfileError, RuntimeError) as err:
                    raise AudioLoadError(
                        path,
                        f"truncated or corrupt: seeking to frame {start} of {info.frames} failed ({err})",
                    ) from err
            while decoded < wanted:
                block = f.read(min(_READ_BLOCK_FRAMES, wanted - decoded), dtype="float32", always_2d=True)
                if len(block) == 0:
                    break
                finite.update(decoded, block)
                decoded += len(block)
                if finite.first is not None:
                    continue  # keep decoding to count every bad sample, but stop producing output
                if mono and block.shape[1] > 1:
                    block = block.mean(axis=1, keepdims=True, dtype=np.float32)
                emit(block if stream is None else stream.resample_chunk(np.ascontiguousarray(block)))
    except sf.LibsndfileError as err:
        raise AudioLoadError(
            path,
            f"truncated or corrupt: decoding failed after {start + decoded} of {info.frames} frames "
            f"(libsndfile: {err.error_string})",
        ) from err
    if decoded < wanted:
        _check_early_end(path, info, start, decoded)
    finite.raise_if_bad(path)
    if stream is not None:
        emit(stream.resample_chunk(np.zeros((0, out_channels), dtype=np.float32), last=True))
    if decoded < wanted:  # a lossy file's header overstated its length: return what decodes
        return np.ascontiguousarray(out[:, : math.ceil(decoded * out_rate / info.sample_rate)])
    return out  # zero-padded past ``written`` (at most one sample short of ceil, as resample)


def _check_early_end(path: Path, info: AudioInfo, start: int, decoded: int) -> None:
    """Decoding of frames from ``start`` ended cleanly after ``decoded`` frames, before the header's
    count: raise unless the shortfall is within :attr:`AudioInfo.length_tolerance` (lossy formats
    whose header only estimates the length).

    Raises:
        AudioLoadError: the shortfall is larger (the file is truncated), or nothing decodes at all.
        ValueError: the window starts in the tolerated gap, past the last frame that decodes.
    """
    end = start + decoded
    if end == 0 or info.frames - end > info.length_tolerance:
        raise AudioLoadError(
            path,
            f"truncated or corrupt: decoding stopped after {end} of {info.frames} frames "
            f"the {info.format} header declares",
        )
    if decoded == 0:
        raise ValueError(
            f"{path}: frame {start} is past the end of the audio: decoding ends before it, "
            f"{info.frames - start} frames short of the {info.frames} the {info.format} header estimates"
        )


def _waveform_to_numpy(path: Path, waveform: torch.Tensor | np.ndarray) -> np.ndarray:
    """Check a waveform for :func:`save_audio` and return it as a ``(channels, samples)`` array."""
    if isinstance(waveform, torch.Tensor):
        if not waveform.is_floating_point():
            raise ValueError(f"{path}: waveform must be floating point, got {waveform.dtype}")
        dtype = torch.float64 if waveform.dtype == torch.float64 else torch.float32
        data = waveform.detach().to(device="cpu", dtype=dtype).numpy()
    elif isinstance(waveform, np.ndarray):
        if not np.issubdtype(waveform.dtype, np.floating):
            raise ValueError(f"{path}: waveform must be floating point, got {waveform.dtype}")
        data = waveform.astype(np.float64 if waveform.dtype == np.float64 else np.float32, copy=False)
    else:
        raise ValueError(
            f"{path}: waveform must be a torch.Tensor or numpy array, got {type(waveform).__name__}"
        )
    if data.ndim == 1:
        data = data[None, :]
    if data.ndim != 2:
        raise ValueError(
            f"{path}: waveform must be (channels, samples) or (samples,), got shape {data.shape}"
        )
    if data.shape[0] < 1 or data.shape[1] < 1:
        raise ValueError(f"{path}: waveform has no samples, shape (channels, samples) = {data.shape}")
    if not np.isfinite(data).all():
        raise ValueError(
            f"{path}: waveform holds {int((~np.isfinite(data)).sum())} non-finite samples (NaN or Inf)"
        )
    return data
