"""One process per run folder, and temporary folders that only their dead owner's successor removes.

* :class:`RunLock`: an exclusive, non-blocking lock on a run folder (`filelock
  <https://py-filelock.readthedocs.io>`_, ``flock`` on ``RUN_DIR/.audiogen.lock``). The operating
  system releases it when the holder exits, however it exits (``kill -9`` included), so a stale
  lock never blocks a resume.
* :func:`temp_folder_prefix` / :func:`dead_temp_folders`: temporary folders carry their owner's
  process id and host name (``...-pid1234@host@...``); a cleanup removes only those whose owner is
  known to be dead (same host, no such process), never another live process's work in progress.
"""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

__all__ = [
    "LOCK_NAME",
    "RunFolderBusy",
    "RunLock",
    "dead_temp_folders",
    "owner_is_dead",
    "temp_folder_prefix",
]

#: The lock file inside a run folder.
LOCK_NAME = ".audiogen.lock"

#: A temporary folder of the older naming (no owner recorded) counts as abandoned once its last
#: change is this old; a judgement: no cache build or checkpoint write takes a day without
#: touching its folder.
LEGACY_STALE_SECONDS = 24 * 3600.0

_OWNER_RE = re.compile(r"-pid(?P<pid>\d+)@(?P<host>[^@/]+)@")
_LEGACY_PID_RE = re.compile(r"^\.tmp-checkpoint-\d{8,}-(?P<pid>\d+)$")


class RunFolderBusy(RuntimeError):
    """Another process holds the run folder's lock."""


class RunLock:
    """Exclusive lock on a run folder, taken without waiting.

    Use as a context manager or with :meth:`acquire` / :meth:`release`. The folder is created if
    missing. Re-acquiring an instance that holds the lock is a no-op.

    Args:
        run_dir: the run folder.

    Raises:
        RunFolderBusy: from :meth:`acquire`, when another process (or another :class:`RunLock` on
            the same folder) holds it; the message names the folder.
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._lock = None

    def acquire(self) -> RunLock:
        from filelock import FileLock, Timeout

        if self._lock is not None and self._lock.is_locked:
            return self
        self.run_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.path), timeout=0, is_singleton=False)
        try:
            lock.acquire()
        except Timeout as e:
            raise RunFolderBusy(
                f"{self.run_dir} is in use by another audiogen process (it holds {self.path}); wait "
                "for it to finish, or choose another output folder"
            ) from e
        self._lock = lock
        return self

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release(force=True)
            self._lock = None

    @property
    def is_locked(self) -> bool:
        return self._lock is not None and self._lock.is_locked

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


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
