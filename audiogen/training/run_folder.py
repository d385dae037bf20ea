"""What a run folder may be: ours, not overlapping its inputs, and resumed only on the data it began with.

* :func:`check_fresh_run_folder`: a new run goes into a missing or empty folder, or one that is
  already a run of ours (it holds :data:`RUN_MARKER`, or only the names an audiogen run writes);
  a folder with other content is refused, so nothing of the user's is deleted or mixed in.
* :func:`data_fingerprint` / :func:`compare_fingerprints`: the files a recipe's ``data`` section
  names (a manifest's listed files, or an audio folder's files) with their sizes, recorded in
  :data:`RUN_MARKER` when a run starts and compared on ``--resume``; a difference is reported as
  what changed (files added, removed, changed size) instead of silently breaking an exact resume.
* :func:`check_no_overlap`: an output folder must not be, contain, or lie inside an input.
* :func:`claim_run_folder`: the trainer's entry point: lock (:class:`~audiogen.training.lock.RunLock`),
  then the checks above, on the main process, with the verdict shared with every process.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from audiogen.training.lock import LOCK_NAME, RunFolderBusy, RunLock
from audiogen.training.train_config import TrainingError

__all__ = [
    "RUN_MARKER",
    "RUN_ENTRIES",
    "RunFolderError",
    "check_creatable",
    "check_fresh_run_folder",
    "check_no_overlap",
    "claim_folder",
    "claim_run_folder",
    "compare_fingerprints",
    "data_fingerprint",
    "read_marker",
    "write_marker",
]

#: Written into every run folder when a run starts: JSON ``{"audiogen_run": 1, "data": {...}}``.
RUN_MARKER = ".audiogen-run.json"

#: Names a training run writes at the top of its folder; a folder holding only these (e.g. one
#: from before :data:`RUN_MARKER` existed) counts as a run of ours.
RUN_ENTRIES = frozenset({"recipe.yaml", "metrics.jsonl", "logs", "samples", "checkpoints"})

# recipe ``data`` keys that name the training data
_DATA_KEYS = ("manifest", "audio_dir")


class RunFolderError(TrainingError):
    """A run folder cannot be used: not ours, busy, overlapping an input, or its data changed."""


def _resolved(path: str | os.PathLike[str]) -> Path:
    return Path(path).expanduser().resolve()


def check_creatable(folder: str | os.PathLike[str], flag: str = "--out") -> None:
    """Refuse a folder that cannot be created or written, before anything is created.

    The nearest existing folder on its way (``folder`` itself when it exists) must be a folder in
    which this process may create entries.

    Raises:
        ValueError: ``flag folder: ...`` naming the file on its path or the folder not writable.
    """
    folder = Path(folder)
    base = folder.absolute()
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise ValueError(f"{flag} {folder}: cannot be created, {base} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {folder}: cannot write in {base} (permission denied)")


def check_no_overlap(out: str | os.PathLike[str], inputs: dict[str, str | os.PathLike[str]]) -> None:
    """Refuse an output folder that is an input, lies inside one, or contains one.

    Args:
        out: the output folder (``--out``).
        inputs: ``{description: path}``, e.g. ``{"the audio folder": src, "--from": base}``.

    Raises:
        RunFolderError: naming the output, the input and how they overlap.
    """
    target = _resolved(out)
    for what, path in inputs.items():
        other = _resolved(path)
        if target == other:
            how = "is"
        elif other in target.parents:
            how = "is inside"
        elif target in other.parents:
            how = "contains"
        else:
            continue
        raise RunFolderError(
            f"--out {out} {how} {what} ({path}); the run would write into its own input. "
            "Choose an output folder outside it"
        )


def read_marker(run_dir: Path) -> dict[str, Any] | None:
    """The run folder's :data:`RUN_MARKER` contents, or ``None`` when it has none (or it is unreadable)."""
    try:
        data = json.loads((run_dir / RUN_MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_marker(run_dir: Path, data: dict[str, Any] | None = None) -> None:
    """Write :data:`RUN_MARKER` (atomically) with the data fingerprint ``data``."""
    from audiogen.models.pretrained import write_json_atomic

    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run_dir / RUN_MARKER, {"audiogen_run": 1, "data": data or {}})


def check_fresh_run_folder(
    run_dir: Path, known: frozenset[str] = RUN_ENTRIES, markers: tuple[str, ...] = (RUN_MARKER,)
) -> None:
    """Refuse to start a new run in a folder that holds something other than an audiogen run.

    Args:
        run_dir: the folder.
        known: names a run of this kind writes (a folder holding only these is ours).
        markers: files whose presence makes the folder ours whatever else it holds.

    Raises:
        RunFolderError: ``run_dir`` is a file, or a non-empty folder with no marker and a name
            outside ``known`` (lists a few of those names).
    """
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir} is a file, not a run folder")
    names = sorted(p.name for p in run_dir.iterdir() if p.name != LOCK_NAME)
    if not names or any(m in names for m in markers):
        return
    foreign = [n for n in names if n not in known]
    if foreign:
        shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        raise RunFolderError(
            f"{run_dir} is not empty and is not an audiogen run folder (it holds {shown}); a new run "
            "would mix its files with these. Choose an empty or new folder"
        )


def _files_with_sizes(paths: Iterable[Path], root: Path | None = None) -> dict[str, int]:
    out = {}
    for p in paths:
        try:
            size = p.stat().st_size
        except OSError:
            size = -1  # listed but missing
        key = p.relative_to(root).as_posix() if root is not None else str(p)
        out[key] = size
    return out


def data_fingerprint(data: dict[str, Any] | None) -> dict[str, Any]:
    """The training data a recipe's ``data`` section names, as ``{key: {"path", "sha256", "files"}}``.

    ``data.manifest``: each listed file with its size, and a SHA-256 of the manifest's bytes and
    that listing;
    ``data.audio_dir``: each audio file under it (by suffix, recursively) with its size. Other keys
    are not data files and are left out. Missing sources give an empty fingerprint (the task
    reports them).
    """
    from audiogen.data.manifest import read_manifest
    from audiogen.data.scan import AUDIO_SUFFIXES

    found: dict[str, Any] = {}
    for key in _DATA_KEYS:
        value = (data or {}).get(key)
        if not isinstance(value, str):
            continue
        path = Path(value)
        if key == "manifest" and path.is_file():
            try:
                files = _files_with_sizes(Path(e.path) for e in read_manifest(path))
            except (ValueError, OSError):
                files = {}
            listing = json.dumps(files, sort_keys=True).encode()
            digest = hashlib.sha256(path.read_bytes() + b"\0" + listing).hexdigest()
            found[key] = {"path": str(_resolved(path)), "sha256": digest, "files": files}
        elif key == "audio_dir" and path.is_dir():
            audio = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
            files = _files_with_sizes(audio, root=path)
            digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
            found[key] = {"path": str(_resolved(path)), "sha256": digest, "files": files}
    return found


def compare_fingerprints(then: dict[str, Any], now: dict[str, Any]) -> str | None:
    """What changed between two :func:`data_fingerprint` results (``None``: nothing)."""
    changes = []
    for key in sorted(set(then) | set(now)):
        a, b = then.get(key), now.get(key)
        if a is None or b is None:
            changes.append(f"data.{key} was {a and a['path']!r}, now {b and b['path']!r}")
            continue
        if a.get("sha256") == b.get("sha256"):
            continue
        old, new = a.get("files", {}), b.get("files", {})
        added = sorted(set(new) - set(old))
        removed = sorted(set(old) - set(new))
        resized = sorted(k for k in set(old) & set(new) if old[k] != new[k])
        parts = [
            f"{len(names)} {what} (e.g. {names[0]})"
            for names, what in ((added, "added"), (removed, "removed"), (resized, "changed size"))
            if names
        ]
        detail = "; ".join(parts) or "the manifest file changed (splits, labels or order)"
        changes.append(f"data.{key} {b['path']}: {detail}")
    return "; ".join(changes) if changes else None


def _verdict(run_dir: Path, resuming: bool, data: dict[str, Any] | None) -> str | None:
    """The run-folder checks of :func:`claim_run_folder` (main process, lock held); an error or ``None``."""
    try:
        now = data_fingerprint(data)
        if resuming:
            marker = read_marker(run_dir)
            if marker is not None and marker.get("data"):
                changed = compare_fingerprints(marker["data"], now)
                if changed:
                    return (
                        f"{run_dir}: cannot resume, the training data is not what the run started with "
                        f"({changed}); restore it, or start a new run in another folder"
                    )
            else:  # a run from before the marker: record the data from now on
                write_marker(run_dir, now)
        else:
            check_fresh_run_folder(run_dir)
            write_marker(run_dir, now)
    except (RunFolderError, OSError) as e:
        return str(e)
    return None


def claim_run_folder(
    accelerator: Any, run_dir: Path, resuming: bool, data: dict[str, Any] | None
) -> RunLock | None:
    """Lock a training run folder and check it (see :func:`claim_folder`).

    Args:
        accelerator: the run's :class:`accelerate.Accelerator`.
        run_dir: the run folder.
        resuming: a checkpoint exists and the run resumes from it: the data must match
            :data:`RUN_MARKER`'s fingerprint. Otherwise the folder must be fresh or ours
            (:func:`check_fresh_run_folder`) and the marker is written.
        data: the recipe's ``data`` section (for :func:`data_fingerprint`).

    Raises:
        RunFolderError: the folder is busy, not ours, or its data changed.
    """
    return claim_folder(
        accelerator,
        run_dir,
        lambda: _verdict(run_dir, resuming, data),
        precheck=None if resuming else lambda: check_fresh_run_folder(run_dir),
    )


def claim_folder(
    state: Any,
    folder: Path,
    verdict: Callable[[], str | None],
    precheck: Callable[[], str | None] | None = None,
) -> RunLock | None:
    """Lock ``folder`` and check it on the main process; every process raises if that failed.

    Args:
        state: an :class:`accelerate.Accelerator` or :class:`accelerate.PartialState` (only its main
            process locks and checks; the outcome is broadcast so that all processes stop together).
        folder: the folder to lock (created if missing).
        verdict: the checks run with the lock held, returning an error message or ``None`` (a
            :class:`RunFolderError`, ``ValueError`` or ``OSError`` it raises counts as its message).
        precheck: read-only checks run first, before the folder is created or locked, so that a
            refused folder is left exactly as it was.

    Returns:
        The held :class:`~audiogen.training.lock.RunLock` on the main process (release it when the
        work ends), ``None`` on the others.

    Raises:
        RunFolderError: the folder is busy or ``verdict`` failed (same message on every process).
    """
    lock, error = None, None
    if state.is_main_process:
        try:
            error = precheck() if precheck is not None else None
            if error is None:
                lock = RunLock(folder).acquire()
                error = verdict()
        except (RunFolderBusy, RunFolderError, ValueError, OSError) as e:
            error = str(e)
        if error is not None and lock is not None:
            lock.release()
            lock = None
    if state.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        error = broadcast_object_list([error])[0]
    if error is not None:
        raise RunFolderError(error)
    return lock


def finetune_inputs(source: str | os.PathLike[str], base_dir: Path) -> dict[str, Path]:
    """The inputs a fine-tuning run's ``--out`` must stay clear of (for :func:`check_no_overlap`).

    The audio folder, or a manifest and the folders of the files it lists; and the base pipeline
    folder (``--from``).
    """
    from audiogen.data.manifest import read_manifest

    source = Path(source)
    inputs: dict[str, Path] = {"--from (the base pipeline)": base_dir}
    if source.is_dir():
        inputs["the audio folder"] = source
    elif source.is_file():
        inputs["the manifest"] = source
        for parent in sorted({Path(e.path).parent for e in read_manifest(source)}):
            inputs[f"the folder of files in {source.name}"] = parent
            if len(inputs) > 1000:  # enough to catch an overlap; bounded work for huge manifests
                break
    return inputs


def finetune_verdict(out: Path, inputs: dict[str, Path], settings_name: str) -> str | None:
    """Checks of a fine-tuning run folder: no overlap with its inputs; empty, or a fine-tuning run
    (``settings_name`` or :data:`RUN_MARKER` in it). A pipeline folder that is not a fine-tuning
    run is refused (it would be overwritten)."""
    check_no_overlap(out, inputs)
    check_fresh_run_folder(out, known=frozenset(), markers=(settings_name, RUN_MARKER))
    return None
