"""A user's audio collection for fine-tuning, checked before anything is written.

:func:`collect` turns a folder (scanned with :func:`~audiogen.data.scan.scan_folder`) or a
manifest into the usable files with their style and split, and the rejected files with their
reasons. It writes nothing, so a command can refuse a collection it cannot use before it creates
its run folder; its :class:`CollectionError` says why in one line (no audio files at all, or every
file rejected and for which reasons).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Collection", "CollectionError", "collect", "style_name"]


class CollectionError(ValueError):
    """The collection has nothing to train on; the message names the folder or manifest and why."""


@dataclass
class Collection:
    """What :func:`collect` found.

    Attributes:
        entries: usable files (:class:`~audiogen.data.manifest.ManifestEntry`), labels and splits set.
        rejections: files that could not be used (:class:`~audiogen.data.scan.Rejection`).
    """

    entries: list[Any]
    rejections: list[Any]


def style_name(name: str) -> str:
    """A folder name as a style label: runs of characters other than letters, digits, ``_-.`` become ``_``."""
    return re.sub(r"[^\w.-]+", "_", name).strip("_") or "custom"


def _reasons(rejections: list[Any]) -> str:
    """``"2 unreadable, 1 too_short"``: how many files were rejected for each reason."""
    counts: dict[str, int] = {}
    for r in rejections:
        counts[r.reason] = counts.get(r.reason, 0) + 1
    return ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items()))


def collect(
    source: str | Path,
    style: str | None = None,
    min_seconds: float = 0.1,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.0,
    seed: int = 0,
    progress: bool = True,
) -> Collection:
    """The usable files of a folder or manifest, with style and split; writes nothing.

    A folder is scanned (every file decoded; ``min_seconds``, silence and decode checks; splits per
    file); the summary (with a warning for a split that came out empty) and each rejected file with
    its reason are printed. A manifest is read as is. Each file's label becomes ``style`` (default:
    the folder's, or the manifest's folder's, name), unless no style is given and the manifest has
    labels of its own.

    Raises:
        CollectionError: no audio file in the folder, every audio file rejected (the message
            counts the reasons), an empty manifest, or no file in the training split.
        FileNotFoundError: ``source`` does not exist.
    """
    from audiogen.data.manifest import read_manifest
    from audiogen.data.scan import AUDIO_SUFFIXES, scan_folder

    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such folder or manifest")
    rejections: list[Any] = []
    if source.is_dir():
        scan = scan_folder(
            source,
            min_seconds=min_seconds,
            valid_fraction=valid_fraction,
            test_fraction=test_fraction,
            group_by="none",
            seed=seed,
            workers=2,
            progress=progress,
        )
        print(scan.summary())
        for r in scan.rejections:
            print(f"  skipped {r.path}: {r.reason}" + (f" ({r.detail})" if r.detail else ""))
        entries, rejections = list(scan.entries), list(scan.rejections)
        default_style = style_name(source.resolve().name)
        if not entries and not rejections:
            raise CollectionError(
                f"{source}: no audio files found (searched every subfolder for "
                f"{' '.join(sorted(AUDIO_SUFFIXES))}; {scan.ignored} other file(s) ignored)"
            )
        if not entries:
            raise CollectionError(
                f"{source}: none of its {len(rejections)} audio file(s) can be used "
                f"({_reasons(rejections)}; each file's reason is listed above)"
            )
    else:
        entries = list(read_manifest(source))
        default_style = style_name(source.resolve().parent.name)
        if not entries:
            raise CollectionError(f"{source}: the manifest lists no files")
    keep_labels = style is None and any(e.label for e in entries) and not source.is_dir()
    if not keep_labels:
        entries = [dataclasses.replace(e, label=style or default_style) for e in entries]
    if not any(e.split == "train" for e in entries):
        raise CollectionError(f"{source}: no file in the training split (of {len(entries)})")
    return Collection(entries, rejections)
