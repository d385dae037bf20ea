"""One process per run folder.

:class:`RunLock`: an exclusive, non-blocking lock on a run folder (`filelock
<https://py-filelock.readthedocs.io>`_, ``flock`` on ``RUN_DIR/.audiogen.lock``). The operating
system releases it when the holder exits, however it exits (``kill -9`` included), so a stale lock
never blocks a resume. Temporary folders inside a run (checkpoints being written, caches being
built) are named after their owner: :mod:`audiogen.data.tempfolders`.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["LOCK_NAME", "RunFolderBusy", "RunLock"]

#: The lock file inside a run folder.
LOCK_NAME = ".audiogen.lock"


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
