"""Temporary folders that only their dead owner's successor removes.

A temporary folder (a checkpoint being written, a feature cache being built) carries its owner's
process id and host name in its name (``...-pid1234@host@...``, :func:`temp_folder_prefix`); a
cleanup removes only those whose owner is known to be dead (same host, no such process,
:func:`dead_temp_folders`), never another live process's work in progress. Used by
:mod:`audiogen.training.checkpoint` and :mod:`audiogen.data.cache`.
"""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

__all__ = ["LEGACY_STALE_SECONDS", "dead_temp_folders", "owner_is_dead", "temp_folder_prefix"]

#: A temporary folder of the older naming (no owner recorded) counts as abandoned once its last
#: change is this old; a judgement: no cache build or checkpoint write takes a day without
#: touching its folder.
LEGACY_STALE_SECONDS = 24 * 3600.0

_OWNER_RE = re.compile(r"-pid(?P<pid>\d+)@(?P<host>[^@/]+)@")
_LEGACY_PID_RE = re.compile(r"^\.tmp-checkpoint-\d{8,}-(?P<pid>\d+)$")


def temp_folder_prefix(stem: str) -> str:
    """``f"{stem}-pid{os.getpid()}@{hostname}@"``: a temporary folder name prefix naming its owner."""
    host = socket.gethostname().replace("@", "_").replace("/", "_") or "localhost"
    return f"{stem}-pid{os.getpid()}@{host}@"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def owner_is_dead(folder: Path) -> bool:
    """Whether ``folder``'s owner (from its name, see :func:`temp_folder_prefix`) is known dead.

    A folder of another host is never known dead. A checkpoint temporary folder of the older
    naming (``.tmp-checkpoint-XXXXXXXX-PID``) is checked by its pid on this host; one with no owner
    at all is dead when unchanged for :data:`LEGACY_STALE_SECONDS`.
    """
    match = _OWNER_RE.search(folder.name)
    if match is not None:
        if match["host"] != socket.gethostname().replace("@", "_").replace("/", "_"):
            return False
        return not _pid_alive(int(match["pid"]))
    legacy = _LEGACY_PID_RE.match(folder.name)
    if legacy is not None:
        return not _pid_alive(int(legacy["pid"]))
    try:
        return time.time() - folder.stat().st_mtime > LEGACY_STALE_SECONDS
    except OSError:
        return False


def dead_temp_folders(parent: str | os.PathLike[str], pattern: str) -> list[Path]:
    """Folders in ``parent`` matching the glob ``pattern`` whose owner is dead (:func:`owner_is_dead`)."""
    parent = Path(parent)
    if not parent.is_dir():
        return []
    return sorted(p for p in parent.glob(pattern) if p.is_dir() and owner_is_dead(p))
