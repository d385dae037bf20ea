"""Several processes on several machines: who builds the caches, which checkpoint a resume uses,
and what a lost process means for the others.

Everything here works through ``torch.distributed`` as ``accelerate launch`` sets it up (one
process group over every process of every machine); with a single process each function does
what a single-process run needs and no collective is called.

* **Caches** (:func:`cache_builders_first`): with ``train.shared_cache: true`` (the default: every
  machine sees the same cache folder, e.g. on NFS / Lustre) the global main process builds the
  caches while every other process waits, then all read them. With ``false`` (each machine has its
  own disk) the first process of each machine builds that machine's copy while the other processes
  of the machine wait. Either mistake is safe, only wasteful: caches are built under a temporary
  name and renamed into place, so two builders of one cache never leave a half-written one.
* **Checkpoints** are written by the global main process only (:class:`~audiogen.training.trainer.Trainer`).
  On resume (:func:`agree_on_checkpoint`) every process reports the newest complete checkpoint it
  can see in its own ``RUN_DIR/checkpoints``; the newest of all is used (of equal steps, the one of
  the lowest rank), and the processes of machines that lack it (or hold a different copy) receive
  it from a process that has it, which the first process of each such machine writes to its disk
  (SHA-256 checked against the sender's ``COMPLETE`` manifest). So a run resumes from any
  machine's copy: rank 0's disk may be a new, empty one. The transfer holds the whole checkpoint in
  memory once per process (``broadcast_object_list``); with shared disks nothing is sent.
* **A lost process** (killed, out of memory, machine down) makes the next collective operation of
  the others fail: at once when its connection closes, else after the process-group timeout
  ``train.dist_timeout_s`` (:func:`start_process_group`). :func:`is_communication_error` tells
  these errors apart and :func:`lost_contact_message` turns them into one line that names the
  newest checkpoint and the command that resumes.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiogen.training.checkpoint import (
    COMPLETE_NAME,
    CheckpointError,
    checkpoint_name,
    checkpoint_step,
    find_latest_checkpoint,
    list_checkpoints,
    write_checkpoint,
)
from audiogen.training.train_config import TrainingError

#: Substrings of the messages of gloo / NCCL / c10d errors raised when a peer is gone or silent.
_COMMUNICATION_MARKERS = (
    "gloo",
    "nccl",
    "connection reset",
    "connection closed",
    "connection refused",
    "broken pipe",
    "timed out",
    "timeout",
    "socket",
    "processgroup",
    "c10d",
)


def start_process_group(cpu: bool, timeout_s: float) -> Any:
    """Accelerate's ``PartialState``, opening the process group (under ``accelerate launch``) with a
    collective-operation timeout of ``timeout_s`` seconds; an already open group is kept as it is.

    Call it before the first ``Accelerator`` / ``PartialState`` of the process: Accelerate's own
    ``InitProcessGroupKwargs`` handler drops a timeout equal to its default (600 s), which then
    falls back to torch's backend default (1800 s for gloo).

    Raises:
        ValueError: ``timeout_s`` is not positive.
    """
    from accelerate import PartialState

    if not timeout_s > 0:
        raise ValueError(f"train.dist_timeout_s must be > 0 (seconds), got {timeout_s}")
    return PartialState(cpu=cpu, timeout=datetime.timedelta(seconds=float(timeout_s)))


@contextlib.contextmanager
def cache_builders_first(state: Any, shared: bool) -> Iterator[None]:
    """Run the block on the cache builders first, then on the other processes (see the module docs).

    Args:
        state: an ``accelerate.Accelerator`` or ``PartialState``.
        shared: ``True``: one process in all (the global main) builds; ``False``: one per machine
            (each machine's local main).
    """
    with state.main_process_first() if shared else state.local_main_process_first():
        yield


def is_first_process() -> bool:
    """Whether this is process 0 of the launch (``RANK`` unset or ``0``), the one that reports results.

    Reads the environment that ``accelerate launch`` / torchrun sets, so it also holds after the
    process group is closed.
    """
    return os.environ.get("RANK", "0") == "0"


def _distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _all_gather(obj: Any) -> list[Any]:
    import torch.distributed as dist

    if not _distributed():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


@dataclass(frozen=True)
class CheckpointView:
    """What one process sees in its ``checkpoints/`` folder.

    Attributes:
        any_checkpoint: a folder with a ``COMPLETE`` marker exists (verified or not).
        step: step of the newest checkpoint that passes verification (``None``: none does).
        digest: SHA-256 of that checkpoint's ``COMPLETE`` manifest (equal digests: equal files).
    """

    any_checkpoint: bool
    step: int | None = None
    digest: str | None = None


def checkpoint_view(checkpoints_dir: str | Path, verify: bool = True) -> CheckpointView:
    """This process's :class:`CheckpointView` of ``checkpoints_dir``.

    ``verify``: also find (and hash-check) the newest complete checkpoint.
    """
    checkpoints_dir = Path(checkpoints_dir)
    any_checkpoint = bool(list_checkpoints(checkpoints_dir))
    latest = find_latest_checkpoint(checkpoints_dir) if verify and any_checkpoint else None
    if latest is None:
        return CheckpointView(any_checkpoint)
    digest = hashlib.sha256((latest / COMPLETE_NAME).read_bytes()).hexdigest()
    return CheckpointView(any_checkpoint, checkpoint_step(latest), digest)


def agree_on_checkpoint(
    state: Any, checkpoints_dir: str | Path, resume: bool, keep: int | None = None
) -> Path | None:
    """The checkpoint every process starts from, copied to the machines that lack it (see the module docs).

    A collective call: every process of the run must make it.

    Args:
        state: an ``accelerate.Accelerator`` or ``PartialState`` (process index, local main, barrier).
        checkpoints_dir: the run's ``checkpoints/`` folder (the same path on every machine).
        resume: ``False``: no process may see a checkpoint (a fresh run must not overwrite one).
        keep: on a machine that receives the checkpoint, keep only this many newest ones (``None``: all).

    Returns:
        The checkpoint folder, present and complete on every machine, or ``None`` (fresh start).

    Raises:
        TrainingError: ``resume`` is false and some process sees checkpoints (on every process).
        CheckpointError: a received file does not match the sender's SHA-256.
    """
    checkpoints_dir = Path(checkpoints_dir)
    views: list[CheckpointView] = _all_gather(checkpoint_view(checkpoints_dir, verify=resume))
    if not resume:
        holders = [rank for rank, v in enumerate(views) if v.any_checkpoint]
        if holders:
            where = "" if len(views) == 1 else f" (seen by processes {holders})"
            raise TrainingError(
                f"{checkpoints_dir.parent} already holds checkpoints{where}; pass --resume to continue "
                "that run or choose another output folder"
            )
        return None
    found = [(v.step, -rank) for rank, v in enumerate(views) if v.step is not None]
    if not found:
        return None
    step, minus_source = max(found)
    source = -minus_source
    chosen = (step, views[source].digest)
    path = checkpoints_dir / checkpoint_name(step)
    lacking = [rank for rank, v in enumerate(views) if (v.step, v.digest) != chosen]
    if lacking:
        _send_checkpoint(state, path, source, state.process_index in lacking, keep)
    return path


def _read_checkpoint(path: Path) -> dict[str, Any]:
    manifest = json.loads((path / COMPLETE_NAME).read_text())
    return {"manifest": manifest, "files": {rel: (path / rel).read_bytes() for rel in manifest["files"]}}


def _send_checkpoint(state: Any, path: Path, source: int, receive: bool, keep: int | None) -> None:
    """Broadcast checkpoint ``path`` from rank ``source``; the local main of a receiving machine writes it."""
    import torch.distributed as dist

    payload = [_read_checkpoint(path) if state.process_index == source else None]
    dist.broadcast_object_list(payload, src=source)
    if receive and state.is_local_main_process:
        manifest, files = payload[0]["manifest"], payload[0]["files"]
        for rel, data in files.items():
            if hashlib.sha256(data).hexdigest() != manifest["files"][rel]["sha256"]:
                raise CheckpointError(
                    f"{path}: {rel} received from process {source} does not match its SHA-256"
                )

        def write(tmp: Path) -> None:
            for rel, data in files.items():
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                (tmp / rel).write_bytes(data)

        write_checkpoint(path.parent, checkpoint_step(path), write, keep=keep)
        print(f"copied {path.name} from process {source} to this machine's {path.parent}", flush=True)
    state.wait_for_everyone()


def is_communication_error(error: BaseException) -> bool:
    """Whether ``error`` comes from the process group (a peer process gone, silent past the timeout)."""
    import torch.distributed as dist

    if isinstance(error, TrainingError):
        return False
    dist_error = getattr(dist, "DistError", None)
    if dist_error is not None and isinstance(error, dist_error):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and any(m in text for m in _COMMUNICATION_MARKERS)


def lost_contact_message(error: BaseException, step: int, checkpoint: Path | None, timeout_s: float) -> str:
    """One line for a run stopped by a lost peer: what happened, the newest checkpoint, how to resume."""
    first = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
    where = (
        f"the newest checkpoint is {checkpoint} (on the machine of process 0)"
        if checkpoint is not None
        else "no checkpoint was written yet"
    )
    return (
        f"lost contact with another training process at step {step}: it stopped (killed, out of memory, "
        f"machine down) or did not answer within train.dist_timeout_s={timeout_s:g} s ({first}); {where}. "
        "Start the same command on every machine again, with --resume for `audiogen train` "
        "(`audiogen finetune` resumes by itself), to continue from it"
    )


def end_distributed() -> None:
    """Destroy the default process group if one is open (call once, when a process has trained).

    :class:`Trainer` leaves the group of ``accelerate launch`` open so that several stages can train
    one after the other in the same processes; a process that exits with it open can hang.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
