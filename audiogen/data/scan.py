"""Scan folders of audio into manifest entries: which files are usable, which are not and why.

:func:`scan_folder` walks a folder tree and checks every file with an audio suffix
(:func:`check_audio_file`: it decodes cleanly from start to end, holds only finite samples, is not
silent and is long enough). Usable files become :class:`~audiogen.data.manifest.ManifestEntry`
items with groups and splits (:mod:`audiogen.data.manifest`); every file that fails a check
becomes a :class:`Rejection` with a reason code and a message (the rejection report,
:func:`write_rejections`), and a broken file never stops the scan.

A lossy file (MP3, Ogg Vorbis, Opus) whose decoding ends a little before the length its header
estimates (within :attr:`~audiogen.audio.io.AudioInfo.length_tolerance`) is kept: its entry records
the decoded length (``frames``, ``duration``; the header's count in ``meta["header_frames"]``), and
the scan reports it as a :class:`ScanWarning`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audiogen.audio.levels import SILENCE_DB
from audiogen.data.manifest import (
    DEFAULT_GROUP_REGEX,
    SPLITS,
    GroupBy,
    LabelBy,
    ManifestEntry,
    ManifestError,
    _atomic_write_lines,
    _parse_line,
    assign_splits,
    empty_split_warnings,
    group_key,
    split_for_group,
)

__all__ = [
    "AUDIO_SUFFIXES",
    "REJECTION_REASONS",
    "WARNING_REASONS",
    "Rejection",
    "ScanResult",
    "ScanWarning",
    "check_audio_file",
    "read_rejections",
    "read_warnings",
    "scan_folder",
    "write_rejections",
]

#: File-name suffixes (lower case) that :func:`scan_folder` treats as audio. Files with these
#: suffixes are either listed or reported; formats libsndfile cannot decode (``.m4a``, ``.aac``,
#: ``.wma``) are included on purpose, so that they are reported as unsupported instead of being
#: skipped silently. Every other file is ignored (counted in :attr:`ScanResult.ignored`).
AUDIO_SUFFIXES: frozenset[str] = frozenset(
    {
        ".wav", ".wave", ".bwf", ".rf64", ".w64",
        ".flac",
        ".ogg", ".oga", ".opus",
        ".mp3",
        ".aif", ".aiff", ".aifc",
        ".au", ".snd", ".caf",
        ".m4a", ".aac", ".wma",
    }
)  # fmt: skip


#: Reason codes of a :class:`Rejection`.
REJECTION_REASONS: dict[str, str] = {
    "empty": "the file has 0 bytes or 0 audio frames",
    "unreadable": "not audio, an unsupported format, or truncated/corrupt (decoding failed)",
    "bad_sample_rate": "the header's sample rate is outside audiogen.audio.io's accepted range "
    "(MIN_SAMPLE_RATE-MAX_SAMPLE_RATE, 4000-192000 Hz): a corrupt header",
    "non_finite": "NaN or Inf samples",
    "too_short": "shorter than min_seconds",
    "silent": "RMS level below silence_db (dBFS) over the whole file",
    "error": "an unexpected error while checking the file (a bug or an I/O problem); see detail",
}

#: Reason codes of a :class:`ScanWarning` (the file is kept).
WARNING_REASONS: dict[str, str] = {
    "length_estimate": "a lossy file decodes slightly shorter than its header estimates (within "
    "max(1 %, 1 s)); the manifest records the decoded length",
}

#: ``meta`` key of a :class:`~audiogen.data.manifest.ManifestEntry` holding the frame count the
#: header declared, set when it differs from the decoded ``frames``.
HEADER_FRAMES_KEY = "header_frames"


# Files are decoded in windows of at most this many seconds and this many samples (all channels
# together; 2**24 float32 samples = 64 MiB), so that checking a long, high-rate or many-channel file
# never holds more than one window in memory.
_CHECK_BLOCK_SECONDS = 300.0


_CHECK_BLOCK_SAMPLES = 1 << 24


@dataclass
class Rejection:
    """A file with an audio suffix that did not pass the checks.

    Attributes:
        path: absolute path of the file.
        reason: a code from :data:`REJECTION_REASONS` (``"empty"``, ``"unreadable"``,
            ``"non_finite"``, ``"too_short"``, ``"silent"``, ``"error"``).
        detail: human-readable explanation (e.g. the decoder's message, the measured level).
    """

    path: str
    reason: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return dataclasses.asdict(self)


@dataclass
class ScanWarning:
    """A usable file (it is in the manifest) with something the user should know about.

    Attributes:
        path: absolute path of the file.
        reason: a code from :data:`WARNING_REASONS` (``"length_estimate"``).
        detail: human-readable explanation (e.g. declared and decoded frame counts).
    """

    path: str
    reason: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON, with ``"kept": true`` (how a report line tells it from a rejection)."""
        return {**dataclasses.asdict(self), "kept": True}

    @classmethod
    def for_entry(cls, entry: ManifestEntry) -> ScanWarning | None:
        """The warning for an entry that decodes shorter than its header's count, else ``None``."""
        declared = entry.meta.get(HEADER_FRAMES_KEY)
        if declared is None or declared == entry.frames:
            return None
        short = declared - entry.frames
        return cls(
            entry.path,
            "length_estimate",
            f"decoding ends after {entry.frames} of the {declared} frames the {entry.format} header "
            f"estimates ({short} frames, {short / entry.sample_rate:.3f} s, "
            f"{100 * short / declared:.3g} % short); kept with the decoded length",
        )


@dataclass
class ScanResult:
    """What :func:`scan_folder` found.

    Attributes:
        root: the scanned folder (absolute).
        entries: usable files, sorted by path, with splits assigned.
        rejections: files with an audio suffix that failed a check, sorted by path.
        ignored: number of non-hidden files without an audio suffix (not examined).
        elapsed: wall-clock seconds the scan took.
        fractions: the split fractions asked for, ``{"valid": ..., "test": ...}`` (for the
            empty-split warnings of :meth:`summary`).
        warnings: usable files (in ``entries``) with a warning, sorted by path.
    """

    root: Path
    entries: list[ManifestEntry]
    rejections: list[Rejection]
    ignored: int = 0
    elapsed: float = 0.0
    fractions: dict[str, float] = field(default_factory=dict)
    warnings: list[ScanWarning] = field(default_factory=list)

    def seconds(self, split: str | None = None) -> float:
        """Total duration in seconds of the entries (of one split when ``split`` is given)."""
        return sum(e.duration for e in self.entries if split is None or e.split == split)

    def summary(self) -> str:
        """Multi-line human-readable summary: counts, hours per split, rejections per reason."""
        lines = [
            f"scanned {self.root}: {len(self.entries)} usable, {len(self.rejections)} rejected, "
            f"{self.ignored} non-audio files ignored ({self.elapsed:.1f} s)",
            f"total {self.seconds() / 3600:.3f} h",
        ]
        for split in SPLITS:
            chosen = [e for e in self.entries if e.split == split]
            groups = len({e.group for e in chosen})
            lines.append(
                f"  {split:>5}: {len(chosen)} files, {groups} groups, {self.seconds(split) / 3600:.3f} h"
            )
        counts: dict[str, int] = {}
        for r in self.rejections:
            counts[r.reason] = counts.get(r.reason, 0) + 1
        for reason, n in sorted(counts.items()):
            lines.append(f"  rejected {reason}: {n}")
        if self.entries:
            lines += [f"warning: {w}" for w in empty_split_warnings(self.entries, self.fractions)]
        kept: dict[str, int] = {}
        for w in self.warnings:
            kept[w.reason] = kept.get(w.reason, 0) + 1
        for reason, n in sorted(kept.items()):
            lines.append(f"  kept with a warning, {reason}: {n}")
        return "\n".join(lines)


def _db(value: float) -> float:
    """Amplitude to dBFS, with ``-inf`` for 0."""
    return 20.0 * math.log10(value) if value > 0 else -math.inf


def check_audio_file(
    path: str | os.PathLike[str], min_seconds: float = 0.5, silence_db: float = SILENCE_DB
) -> ManifestEntry | Rejection:
    """Check one audio file and return its entry (split/group/label unset) or why it is unusable.

    Steps: read the header (:func:`audiogen.audio.io.probe_audio`); reject if shorter than
    ``min_seconds`` or if its sample rate is outside 4000-192000 Hz (``"bad_sample_rate"``, a
    corrupt header); decode every frame to the end (:func:`audiogen.audio.io.load_audio`, in
    windows of at most 300 s and 2**24 samples), which catches truncated/corrupt data and NaN/Inf
    samples; measure the peak and the RMS level over all channels and samples; reject as silent if
    the RMS level is below ``silence_db``. A lossy file whose decoding ends within
    :attr:`~audiogen.audio.io.AudioInfo.length_tolerance` of its header's estimate gets the decoded
    length in ``frames`` and ``duration`` and the header's count in ``meta["header_frames"]``
    (:meth:`ScanWarning.for_entry` turns that into the scan's warning).

    Every exception is caught and turned into a :class:`Rejection` (unexpected ones with reason
    ``"error"``), so this never raises for a bad file.

    Args:
        path: the file.
        min_seconds: shortest accepted duration in seconds.
        silence_db: RMS level in dBFS below which a file counts as silent (e.g. -60).

    Returns:
        :class:`ManifestEntry` (absolute path, duration in seconds, sample rate in Hz, channels,
        frames, format, subtype, ``peak_db``, ``rms_db``) or :class:`Rejection`.
    """
    import torch

    from audiogen.audio.io import AudioLoadError, load_audio, probe_audio

    path = Path(path).absolute()
    try:
        info = probe_audio(path)
        if info.frames <= 0:
            return Rejection(str(path), "empty", f"no audio frames ({info.format} {info.subtype})")
        if info.duration < min_seconds:
            return Rejection(
                str(path), "too_short", f"{info.duration:.4f} s is shorter than min_seconds={min_seconds} s"
            )
        peak = 0.0
        square_sum = 0.0
        frames = 0  # decoded so far
        window = min(_CHECK_BLOCK_SECONDS, _CHECK_BLOCK_SAMPLES / (info.sample_rate * info.channels))
        window_frames = max(1, int(window * info.sample_rate))
        while frames < info.frames:
            try:
                audio = load_audio(
                    path, offset=frames / info.sample_rate, duration=window_frames / info.sample_rate
                )
            except ValueError:
                if frames and info.frames - frames <= info.length_tolerance:
                    break  # a lossy file whose decoding ended exactly at the previous window's end
                raise
            block = audio.waveform
            peak = max(peak, float(block.abs().max()))
            square_sum += float(torch.linalg.vector_norm(block, dtype=torch.float64) ** 2)
            frames += block.shape[-1]
            if block.shape[-1] < min(window_frames, info.frames - (frames - block.shape[-1])):
                break  # decoding ended early, within the tolerance (load_audio checked it)
        rms = math.sqrt(square_sum / (frames * info.channels)) if frames else 0.0
        peak_db, rms_db = _db(peak), _db(rms)
        if frames < info.frames and frames / info.sample_rate < min_seconds:
            return Rejection(
                str(path),
                "too_short",
                f"{frames / info.sample_rate:.4f} s decode (the header estimates {info.duration:.4f} s), "
                f"shorter than min_seconds={min_seconds} s",
            )
        if rms_db < silence_db:
            return Rejection(
                str(path),
                "silent",
                f"RMS level {rms_db:.1f} dBFS (peak {peak_db:.1f} dBFS) is below "
                f"silence_db={silence_db} dBFS",
            )
        entry = ManifestEntry.from_probe(path, info, peak_db=round(peak_db, 2), rms_db=round(rms_db, 2))
        if frames < info.frames:  # the decoded length is the truth; keep the header's for the report
            entry.frames, entry.duration = frames, frames / info.sample_rate
            entry.meta[HEADER_FRAMES_KEY] = info.frames
        return entry
    except AudioLoadError as err:
        reason = err.reason
        if reason.startswith("empty file") or reason.startswith("no audio samples"):
            code = "empty"
        elif reason.startswith("non-finite"):
            code = "non_finite"
        elif reason.startswith("implausible sample rate"):
            code = "bad_sample_rate"
        else:
            code = "unreadable"
        return Rejection(str(path), code, reason)
    except Exception as err:  # noqa: BLE001 - a bad file must never stop a scan
        return Rejection(str(path), "error", f"{type(err).__name__}: {err}")


def _walk_files(root: Path) -> tuple[list[Path], int]:
    """Non-hidden files under ``root`` (recursively, hidden folders skipped): audio ones and a count
    of the others."""
    audio: list[Path] = []
    ignored = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(folder) / name
            if path.suffix.lower() in AUDIO_SUFFIXES:
                audio.append(path)
            else:
                ignored += 1
    return audio, ignored


def scan_folder(
    root: str | os.PathLike[str],
    *,
    min_seconds: float = 0.5,
    silence_db: float = SILENCE_DB,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.0,
    group_by: GroupBy = "parent",
    group_regex: str = DEFAULT_GROUP_REGEX,
    label_by: LabelBy = "none",
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
    check: Callable[[Path, float, float], ManifestEntry | Rejection] | None = None,
) -> ScanResult:
    """Walk a folder tree, check every audio file and assign splits by group.

    Files are found recursively; hidden files and folders (name starting with ``.``) are skipped;
    files whose suffix is in :data:`AUDIO_SUFFIXES` are checked with :func:`check_audio_file`,
    others are counted as ignored. Checks run in ``workers`` threads (decoding in libsndfile and
    numpy releases the GIL); any exception while checking a file becomes a :class:`Rejection` with
    reason ``"error"``.

    Args:
        root: folder to scan.
        min_seconds: shortest accepted duration in seconds.
        silence_db: RMS level in dBFS below which a file is rejected as silent.
        valid_fraction: expected fraction of groups in ``"valid"``.
        test_fraction: expected fraction of groups in ``"test"``.
        group_by: ``"parent"``, ``"stem-regex"`` or ``"none"`` (see :func:`group_key`).
        group_regex: pattern for ``group_by="stem-regex"``.
        label_by: ``"parent"`` sets ``label`` to the name of the file's folder (``None`` for files
            directly in ``root``); ``"none"`` leaves labels unset.
        seed: seed of the split hash.
        workers: number of threads checking files (1 = in this thread).
        progress: show a tqdm progress bar.
        check: replacement for :func:`check_audio_file` with the same arguments (for tests).

    Returns:
        :class:`ScanResult` with entries and rejections sorted by path.

    Raises:
        FileNotFoundError: ``root`` does not exist.
        NotADirectoryError: ``root`` is not a folder.
        ValueError: bad fractions, ``group_by``, ``group_regex``, ``label_by`` or ``workers``.
    """
    from tqdm import tqdm

    root = Path(root).absolute()
    if not root.exists():
        raise FileNotFoundError(f"folder to scan does not exist: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {root}")
    if label_by not in ("parent", "none"):
        raise ValueError(f"label_by must be 'parent' or 'none', got {label_by!r}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    split_for_group("", valid_fraction, test_fraction, seed)  # validate the fractions up front
    group_key("x.wav", group_by, group_regex)  # validate group_by / group_regex up front
    check_fn = check or check_audio_file

    start = time.perf_counter()
    files, ignored = _walk_files(root)

    def safe_check(path: Path) -> ManifestEntry | Rejection:
        try:
            return check_fn(path, min_seconds, silence_db)
        except Exception as err:  # noqa: BLE001 - a bad file must never stop a scan
            return Rejection(str(path), "error", f"{type(err).__name__}: {err}")

    bar = tqdm(total=len(files), desc="scan", unit="file", disable=not progress, dynamic_ncols=True)
    results: list[ManifestEntry | Rejection] = []
    if workers == 1:
        for path in files:
            results.append(safe_check(path))
            bar.update()
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            for result in pool.map(safe_check, files):
                results.append(result)
                bar.update()
    bar.close()

    entries: list[ManifestEntry] = []
    rejections: list[Rejection] = []
    for path, result in zip(files, results, strict=True):
        if isinstance(result, Rejection):
            rejections.append(result)
            continue
        rel = path.relative_to(root)
        result.group = group_key(rel, group_by, group_regex)
        if label_by == "parent":
            result.label = rel.parent.name or None
        entries.append(result)
    entries = assign_splits(entries, valid_fraction, test_fraction, seed)
    entries.sort(key=lambda e: e.path)
    rejections.sort(key=lambda r: r.path)
    warnings = [w for w in map(ScanWarning.for_entry, entries) if w is not None]
    return ScanResult(
        root=root,
        entries=entries,
        rejections=rejections,
        ignored=ignored,
        elapsed=time.perf_counter() - start,
        fractions={"valid": valid_fraction, "test": test_fraction},
        warnings=warnings,
    )


def write_rejections(
    path: str | os.PathLike[str], rejections: Sequence[Rejection], warnings: Sequence[ScanWarning] = ()
) -> Path:
    """Write the scan report as JSON lines, atomically: each rejection (``path`` absolute, ``reason``,
    ``detail``), then each warning (the same keys and ``"kept": true``).

    Raises:
        OSError: the file cannot be written.
    """
    path = Path(path)
    records = [r.to_dict() for r in rejections] + [w.to_dict() for w in warnings]
    _atomic_write_lines(path, (json.dumps(r, ensure_ascii=False) for r in records))
    return path


def _read_report(path: str | os.PathLike[str], kept: bool) -> list[dict[str, str]]:
    """The records of a :func:`write_rejections` report whose ``kept`` flag is ``kept``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"report not found: {path}")
    out = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            record = _parse_line(path, number, line)
            if bool(record.get("kept", False)) != kept:
                continue
            try:
                out.append(
                    {"path": record["path"], "reason": record["reason"], "detail": record.get("detail", "")}
                )
            except KeyError as err:
                raise ManifestError(f"{path}, line {number}: missing key {err}") from err
    return out


def read_rejections(path: str | os.PathLike[str]) -> list[Rejection]:
    """The rejections of a report written by :func:`write_rejections` (its warnings left out).

    Raises:
        FileNotFoundError: the file does not exist.
        ManifestError: a malformed line (names the file and the line).
    """
    return [Rejection(**record) for record in _read_report(path, kept=False)]


def read_warnings(path: str | os.PathLike[str]) -> list[ScanWarning]:
    """The warnings (files kept) of a report written by :func:`write_rejections`.

    Raises:
        FileNotFoundError: the file does not exist.
        ManifestError: a malformed line (names the file and the line).
    """
    return [ScanWarning(**record) for record in _read_report(path, kept=True)]
