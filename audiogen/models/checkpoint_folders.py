"""The checkpoint folder format, as far as finding and checking one goes (standard library only).

A training run keeps ``checkpoint-{step:08d}`` folders under its ``checkpoints/``; the one that
counts is the newest whose ``COMPLETE`` marker (JSON ``{step, files: {relative path: {size,
sha256}}}``, written last) matches the files on disk. :func:`find_latest_checkpoint` finds it;
writing checkpoints and the trainer's state is :mod:`audiogen.training.checkpoint`'s. This module
sits outside the training package so that :mod:`audiogen.hub` can find a run's newest model without
importing training.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from pathlib import Path

COMPLETE_NAME = "COMPLETE"
CHECKPOINT_RE = re.compile(r"^checkpoint-(\d{8,})$")


class CheckpointError(RuntimeError):
    """A checkpoint folder is incomplete, damaged, or does not match the run being resumed."""


def checkpoint_name(step: int) -> str:
    """``checkpoint-{step:08d}``."""
    return f"checkpoint-{step:08d}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def list_checkpoints(checkpoints_dir: str | Path) -> list[Path]:
    """Checkpoint folders that have a ``COMPLETE`` marker, oldest step first (contents not verified)."""
    checkpoints_dir = Path(checkpoints_dir)
    if not checkpoints_dir.is_dir():
        return []
    found = [
        p for p in checkpoints_dir.iterdir() if CHECKPOINT_RE.match(p.name) and (p / COMPLETE_NAME).is_file()
    ]
    return sorted(found, key=lambda p: int(CHECKPOINT_RE.match(p.name).group(1)))  # type: ignore[union-attr]


def verify_checkpoint(path: str | Path, check_hashes: bool = True) -> None:
    """Check that every file listed in ``COMPLETE`` exists with the recorded size (and SHA-256).

    Raises:
        CheckpointError: naming the first missing, truncated or altered file, or a bad marker.
    """
    path = Path(path)
    marker = path / COMPLETE_NAME
    if not marker.is_file():
        raise CheckpointError(f"{path}: no {COMPLETE_NAME} marker (the write did not finish)")
    try:
        manifest = json.loads(marker.read_text())
        files = manifest["files"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CheckpointError(f"{marker}: unreadable marker ({e})") from e
    for rel, info in files.items():
        f = path / rel
        if not f.is_file():
            raise CheckpointError(f"{path}: {rel} is missing")
        if f.stat().st_size != info["size"]:
            raise CheckpointError(
                f"{path}: {rel} has {f.stat().st_size} bytes, expected {info['size']} (truncated?)"
            )
        if check_hashes and _sha256(f) != info["sha256"]:
            raise CheckpointError(f"{path}: {rel} does not match its SHA-256 (altered or damaged)")


def find_latest_checkpoint(checkpoints_dir: str | Path, check_hashes: bool = True) -> Path | None:
    """The newest checkpoint that passes :func:`verify_checkpoint`, or ``None``.

    Incomplete folders (no marker, or a ``.tmp-*`` name) are ignored; damaged ones are skipped
    with a warning naming the problem, and the previous complete one is returned.
    """
    for path in reversed(list_checkpoints(checkpoints_dir)):
        try:
            verify_checkpoint(path, check_hashes=check_hashes)
        except CheckpointError as e:
            warnings.warn(f"skipping damaged checkpoint: {e}", stacklevel=2)
            continue
        return path
    return None


def checkpoint_step(path: str | Path) -> int:
    """The step number in a ``checkpoint-{step:08d}`` folder name.

    Raises:
        ValueError: if the name does not have that form.
    """
    m = CHECKPOINT_RE.match(Path(path).name)
    if not m:
        raise ValueError(f"{path}: not a checkpoint folder name (checkpoint-{{step:08d}})")
    return int(m.group(1))
