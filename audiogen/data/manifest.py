"""Scan folders of audio into manifests: which files are usable, which are not and why, and splits.

A *manifest* is a JSON-lines file, one :class:`ManifestEntry` per line, listing audio files that
decode cleanly from start to end, hold only finite samples, are not silent and are long enough.
:func:`scan_folder` builds one from a folder tree; every file with an audio suffix that fails a
check becomes a :class:`Rejection` with a reason code and a message, and a broken file never stops
the scan.

Paths: in memory, :attr:`ManifestEntry.path` is absolute. :func:`write_manifest` stores each path
relative to the manifest file's own folder (POSIX separators), so a dataset folder can be moved or
copied together with its manifest; :func:`read_manifest` resolves relative paths against the
manifest's folder again (absolute paths are kept as they are).

Splits are assigned per *group* (e.g. all takes of one piece, all files in one sub-folder), from a
hash of the group key and a seed (:func:`split_for_group`): a group lands in exactly one split, the
assignment of a group never changes when other files are added, and raising ``valid_fraction`` or
``test_fraction`` only moves groups out of ``train``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from audiogen.audio.levels import SILENCE_DB

__all__ = [
    "AUDIO_SUFFIXES",
    "DEFAULT_GROUP_REGEX",
    "REJECTION_REASONS",
    "SPLITS",
    "ManifestEntry",
    "ManifestError",
    "Rejection",
    "ScanResult",
    "assign_splits",
    "check_audio_file",
    "group_key",
    "read_manifest",
    "read_rejections",
    "scan_folder",
    "split_for_group",
    "write_manifest",
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

#: Split names, in the order :func:`split_for_group` fills the unit interval (test, valid, train).
SPLITS: tuple[str, ...] = ("train", "valid", "test")

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

#: Default pattern for ``group_by="stem-regex"``: the file stem without trailing separators and
#: digits, so ``"song_01"``, ``"song-2"`` and ``"song"`` share the group ``"song"``.
DEFAULT_GROUP_REGEX = r"^(.*?)[-_. ]*\d*$"

GroupBy = Literal["parent", "stem-regex", "none"]
LabelBy = Literal["parent", "none"]

# Files are decoded in windows of at most this many seconds and this many samples (all channels
# together; 2**24 float32 samples = 64 MiB), so that checking a long, high-rate or many-channel file
# never holds more than one window in memory.
_CHECK_BLOCK_SECONDS = 300.0
_CHECK_BLOCK_SAMPLES = 1 << 24


class ManifestError(ValueError):
    """A manifest or report file is malformed; the message names the file and the line."""


@dataclass
class ManifestEntry:
    """One usable audio file.

    Attributes:
        path: absolute path of the file (in memory; written relative to the manifest's folder).
        duration: length in seconds.
        sample_rate: the file's sample rate in Hz.
        channels: number of channels in the file.
        frames: samples per channel in the file.
        format: libsndfile container, e.g. ``"WAV"``, ``"FLAC"``.
        subtype: libsndfile sample encoding, e.g. ``"PCM_16"``, ``"FLOAT"``, ``"VORBIS"``.
        split: ``"train"``, ``"valid"`` or ``"test"``.
        group: group key; all files of one group are in the same split.
        label: class / style label, or ``None`` when unknown.
        peak_db: sample peak in dBFS over all channels (``None`` when not measured).
        rms_db: RMS level in dBFS over all channels and samples (``None`` when not measured).
        meta: free-form JSON-serialisable extra fields (e.g. ``{"piece": "bwv66.6"}``).
    """

    path: str
    duration: float
    sample_rate: int
    channels: int
    frames: int
    format: str = ""
    subtype: str = ""
    split: str = "train"
    group: str = ""
    label: str | None = None
    peak_db: float | None = None
    rms_db: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_probe(cls, path: str | Path, info: Any, **fields: Any) -> ManifestEntry:
        """An entry for ``path`` with the header fields of ``info`` (an
        :class:`~audiogen.audio.io.AudioInfo` from :func:`~audiogen.audio.io.probe_audio`: duration,
        sample rate, channels, frames, format, subtype) and the given other ``fields``.

        Raises:
            TypeError: a field name that :class:`ManifestEntry` does not have.
        """
        header = {
            k: getattr(info, k)
            for k in ("duration", "sample_rate", "channels", "frames", "format", "subtype")
        }
        return cls(path=str(path), **header, **fields)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON (``path`` as stored in memory)."""
        return dataclasses.asdict(self)


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
class ScanResult:
    """What :func:`scan_folder` found.

    Attributes:
        root: the scanned folder (absolute).
        entries: usable files, sorted by path, with splits assigned.
        rejections: files with an audio suffix that failed a check, sorted by path.
        ignored: number of non-hidden files without an audio suffix (not examined).
        elapsed: wall-clock seconds the scan took.
    """

    root: Path
    entries: list[ManifestEntry]
    rejections: list[Rejection]
    ignored: int = 0
    elapsed: float = 0.0

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
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# checks


@dataclass
class _Checked:
    """Outcome of :func:`check_audio_file`: exactly one of ``entry`` and ``rejection`` is set."""

    entry: ManifestEntry | None = None
    rejection: Rejection | None = None


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
    the RMS level is below ``silence_db``.

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
        count = 0
        offset = 0.0
        window = min(_CHECK_BLOCK_SECONDS, _CHECK_BLOCK_SAMPLES / (info.sample_rate * info.channels))
        while round(offset * info.sample_rate) < info.frames:
            audio = load_audio(path, offset=offset, duration=window)
            block = audio.waveform
            peak = max(peak, float(block.abs().max()))
            square_sum += float(torch.linalg.vector_norm(block, dtype=torch.float64) ** 2)
            count += block.numel()
            offset += window
        rms = math.sqrt(square_sum / count) if count else 0.0
        peak_db, rms_db = _db(peak), _db(rms)
        if rms_db < silence_db:
            return Rejection(
                str(path),
                "silent",
                f"RMS level {rms_db:.1f} dBFS (peak {peak_db:.1f} dBFS) is below "
                f"silence_db={silence_db} dBFS",
            )
        return ManifestEntry.from_probe(path, info, peak_db=round(peak_db, 2), rms_db=round(rms_db, 2))
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


# ----------------------------------------------------------------------------------------------
# groups and splits


def group_key(
    relative_path: str | os.PathLike[str],
    group_by: GroupBy = "parent",
    group_regex: str = DEFAULT_GROUP_REGEX,
) -> str:
    """Group key of a file from its path relative to the scanned folder.

    * ``"parent"``: the file's folder relative to the scanned folder (POSIX), so all files in one
      sub-folder share a group; a file directly in the scanned folder has no folder to share and
      is its own group (its relative path).
    * ``"stem-regex"``: the first capture group (or the whole match) of ``re.search(group_regex,
      stem)``; the stem itself when the pattern does not match or captures an empty string.
    * ``"none"``: the relative path, so each file is its own group.

    Raises:
        ValueError: unknown ``group_by`` or an invalid ``group_regex``.
    """
    rel = Path(relative_path)
    if group_by == "parent":
        parent = rel.parent.as_posix()
        return rel.as_posix() if parent in ("", ".") else parent
    if group_by == "none":
        return rel.as_posix()
    if group_by == "stem-regex":
        try:
            match = re.search(group_regex, rel.stem)
        except re.error as err:
            raise ValueError(f"invalid group_regex {group_regex!r}: {err}") from err
        if match is None:
            return rel.stem
        key = match.group(1) if match.groups() else match.group(0)
        return key if key else rel.stem
    raise ValueError(f"group_by must be 'parent', 'stem-regex' or 'none', got {group_by!r}")


def split_for_group(group: str, valid_fraction: float, test_fraction: float = 0.0, seed: int = 0) -> str:
    """Split of a group from a hash of ``(seed, group)``.

    ``u = sha256(f"{seed}\\0{group}")`` mapped to ``[0, 1)``; ``u < test_fraction`` gives
    ``"test"``, ``u < test_fraction + valid_fraction`` gives ``"valid"``, otherwise ``"train"``.
    The result depends only on the group key, the seed and the fractions, so it is stable when
    other files or groups are added. Fractions hold in expectation over many groups; with few groups
    a split can be empty.

    Raises:
        ValueError: a fraction outside ``[0, 1]`` or fractions summing to more than 1.
    """
    if not (0.0 <= valid_fraction <= 1.0 and 0.0 <= test_fraction <= 1.0):
        raise ValueError(
            f"valid_fraction and test_fraction must be in [0, 1], got {valid_fraction}, {test_fraction}"
        )
    if valid_fraction + test_fraction > 1.0 + 1e-12:
        raise ValueError(
            f"valid_fraction + test_fraction must be <= 1, got {valid_fraction} + {test_fraction}"
        )
    digest = hashlib.sha256(f"{seed}\0{group}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    if u < test_fraction:
        return "test"
    if u < test_fraction + valid_fraction:
        return "valid"
    return "train"


def assign_splits(
    entries: Iterable[ManifestEntry], valid_fraction: float = 0.1, test_fraction: float = 0.0, seed: int = 0
) -> list[ManifestEntry]:
    """Return copies of ``entries`` with ``split`` set from their ``group`` (:func:`split_for_group`).

    An entry with an empty group is treated as its own group (its path).

    Raises:
        ValueError: as :func:`split_for_group`.
    """
    out = []
    for entry in entries:
        group = entry.group or entry.path
        out.append(
            dataclasses.replace(entry, split=split_for_group(group, valid_fraction, test_fraction, seed))
        )
    return out


# ----------------------------------------------------------------------------------------------
# scanning


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
    return ScanResult(
        root=root,
        entries=entries,
        rejections=rejections,
        ignored=ignored,
        elapsed=time.perf_counter() - start,
    )


# ----------------------------------------------------------------------------------------------
# reading and writing


def _atomic_write_lines(path: Path, lines: Iterable[str]) -> None:
    """Write text lines to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for line in lines:
                f.write(line + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _relative_posix(path: str, folder: Path) -> str:
    """``path`` relative to ``folder`` (POSIX separators; may start with ``..``), or absolute if
    that is impossible (another drive)."""
    try:
        return Path(os.path.relpath(Path(path).absolute(), folder.absolute())).as_posix()
    except ValueError:
        return Path(path).absolute().as_posix()


def write_manifest(path: str | os.PathLike[str], entries: Iterable[ManifestEntry]) -> Path:
    """Write entries as JSON lines, atomically; paths relative to the manifest's folder.

    Args:
        path: the manifest file (``.jsonl``); missing parent folders are created.
        entries: entries with absolute (or working-directory-relative) paths.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OSError: the file cannot be written.
        TypeError: an entry's ``meta`` is not JSON-serialisable.
    """
    path = Path(path)
    folder = path.absolute().parent
    lines = []
    for entry in entries:
        record = entry.to_dict()
        record["path"] = _relative_posix(entry.path, folder)
        lines.append(json.dumps(record, ensure_ascii=False, allow_nan=False))
    _atomic_write_lines(path, lines)
    return path


_REQUIRED_KEYS = ("path", "duration", "sample_rate", "channels")
_ENTRY_FIELDS = {f.name: f for f in dataclasses.fields(ManifestEntry)}


def _parse_line(path: Path, number: int, line: str) -> dict[str, Any]:
    """Parse one JSON-lines record, raising :class:`ManifestError` naming file and line."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise ManifestError(f"{path}, line {number}: invalid JSON ({err.msg} at column {err.colno})") from err
    if not isinstance(record, dict):
        raise ManifestError(f"{path}, line {number}: expected a JSON object, got {type(record).__name__}")
    return record


def read_manifest(path: str | os.PathLike[str]) -> list[ManifestEntry]:
    """Read a manifest written by :func:`write_manifest` (or by hand).

    Blank lines are skipped. Relative paths are resolved against the manifest's folder. Required
    keys: ``path``, ``duration`` (seconds), ``sample_rate`` (Hz), ``channels``; ``frames`` defaults
    to ``round(duration * sample_rate)``; the other :class:`ManifestEntry` fields are optional.

    Returns:
        The entries, in file order, with absolute paths.

    Raises:
        FileNotFoundError: the manifest does not exist.
        ManifestError: a line is not valid JSON, not an object, lacks a required key, has an
            unknown key or a value of the wrong type; the message names the file and the line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    folder = path.absolute().parent
    entries: list[ManifestEntry] = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            record = _parse_line(path, number, line)
            missing = [k for k in _REQUIRED_KEYS if k not in record]
            if missing:
                raise ManifestError(f"{path}, line {number}: missing key(s) {missing}")
            unknown = sorted(set(record) - set(_ENTRY_FIELDS))
            if unknown:
                raise ManifestError(
                    f"{path}, line {number}: unknown key(s) {unknown}; accepted: {sorted(_ENTRY_FIELDS)}"
                )
            try:
                record["path"] = str(folder / str(record["path"]))
                record["duration"] = float(record["duration"])
                record["sample_rate"] = int(record["sample_rate"])
                record["channels"] = int(record["channels"])
                record.setdefault("frames", round(record["duration"] * record["sample_rate"]))
                record["frames"] = int(record["frames"])
                if record.get("meta") is None:
                    record["meta"] = {}
                if not isinstance(record["meta"], dict):
                    raise TypeError("meta must be a JSON object")
                if record.get("label") is not None and not isinstance(record["label"], str):
                    raise TypeError(f"label must be a string or null, got {record['label']!r}")
                entry = ManifestEntry(**record)
            except (TypeError, ValueError) as err:
                raise ManifestError(f"{path}, line {number}: bad value ({err})") from err
            if entry.duration < 0 or entry.sample_rate <= 0 or entry.channels <= 0:
                raise ManifestError(
                    f"{path}, line {number}: need duration >= 0, sample_rate > 0, channels > 0; got "
                    f"{entry.duration}, {entry.sample_rate}, {entry.channels}"
                )
            entries.append(entry)
    return entries


def write_rejections(path: str | os.PathLike[str], rejections: Sequence[Rejection]) -> Path:
    """Write rejections as JSON lines (``path`` absolute, ``reason``, ``detail``), atomically.

    Raises:
        OSError: the file cannot be written.
    """
    path = Path(path)
    _atomic_write_lines(path, (json.dumps(r.to_dict(), ensure_ascii=False) for r in rejections))
    return path


def read_rejections(path: str | os.PathLike[str]) -> list[Rejection]:
    """Read a report written by :func:`write_rejections`.

    Raises:
        FileNotFoundError: the file does not exist.
        ManifestError: a malformed line (names the file and the line).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"report not found: {path}")
    out = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            record = _parse_line(path, number, line)
            try:
                out.append(
                    Rejection(path=record["path"], reason=record["reason"], detail=record.get("detail", ""))
                )
            except KeyError as err:
                raise ManifestError(f"{path}, line {number}: missing key {err}") from err
    return out
