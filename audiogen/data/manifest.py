"""Manifests of audio collections: the entry format, reading and writing them, groups and splits.

A *manifest* is a JSON-lines file, one :class:`ManifestEntry` per line, listing audio files that
decode cleanly from start to end, hold only finite samples, are not silent and are long enough.
:func:`audiogen.data.scan.scan_folder` builds one from a folder tree (and a report of the files it
rejected).

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
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "DEFAULT_GROUP_REGEX",
    "SPLITS",
    "ManifestEntry",
    "ManifestError",
    "assign_splits",
    "empty_split_warnings",
    "group_key",
    "read_manifest",
    "split_for_group",
    "write_manifest",
]


#: Split names, in the order :func:`split_for_group` fills the unit interval (test, valid, train).
SPLITS: tuple[str, ...] = ("train", "valid", "test")

#: Default pattern for ``group_by="stem-regex"``: the file stem without trailing separators and
#: digits, so ``"song_01"``, ``"song-2"`` and ``"song"`` share the group ``"song"``.
DEFAULT_GROUP_REGEX = r"^(.*?)[-_. ]*\d*$"

GroupBy = Literal["parent", "stem-regex", "none"]
LabelBy = Literal["parent", "none"]


class ManifestError(ValueError):
    """A manifest or report file is malformed; the message names the file and the line."""


@dataclass
class ManifestEntry:
    """One usable audio file.

    Attributes:
        path: absolute path of the file (in memory; written relative to the manifest's folder).
        duration: length in seconds, ``frames / sample_rate``.
        sample_rate: the file's sample rate in Hz.
        channels: number of channels in the file.
        frames: samples per channel that decode: what the header declares, except for a lossy file
            (MP3, Ogg Vorbis, Opus) that decodes slightly shorter than its header estimates, where
            :func:`~audiogen.data.scan.check_audio_file` records the decoded count and keeps the
            header's in ``meta["header_frames"]``. Every consumer (crops, caches) relies on it.
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


def empty_split_warnings(entries: Iterable[ManifestEntry], fractions: dict[str, float]) -> list[str]:
    """One warning per split that was asked for (fraction > 0) but came out with no file.

    Splits are drawn per group (:func:`split_for_group`), so a small collection (e.g. 10 files at
    ``valid_fraction=0.1``) often gets none; the message says so and what to do.

    Args:
        entries: the collection with splits assigned.
        fractions: ``{split: fraction}``, e.g. ``{"valid": 0.1, "test": 0.0}``.
    """
    entries = list(entries)
    groups = len({e.group or e.path for e in entries})
    return [
        f"the {split} split is empty: splits are drawn per group of files, and {groups} group(s) at a "
        f"{split} fraction of {fraction:g} gave none (about {groups * fraction:.2g} expected); "
        "add files or raise the fraction"
        for split, fraction in fractions.items()
        if fraction > 0 and not any(e.split == split for e in entries)
    ]


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
