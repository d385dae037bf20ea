"""Training checkpoints: pickle-free state files, atomic folders, newest-complete lookup, RNG capture.

A checkpoint is a folder ``checkpoint-{step:08d}`` under a run's ``checkpoints/``::

    COMPLETE                        written last: JSON {step, files: {relative path: {size, sha256}}}
    trainer_state.json              step, data position, counters, the recipe
    models/<name>/config.json       + model.safetensors: loadable with ``from_pretrained``
    ema/<name>/config.json          + model.safetensors: the EMA weights, same format
    optimizers/<name>.json          + .safetensors: ``optimizer.state_dict()`` split into JSON + tensors
    schedulers/<name>.json          learning-rate scheduler state
    rng.json                        + rng.safetensors: every process's Python / NumPy / torch RNG state

:func:`write_checkpoint` builds the folder under a temporary name, fsyncs every file, writes
``COMPLETE`` with the size and SHA-256 of each file, fsyncs, and only then renames it into place,
so a crash mid-write leaves at worst a ``.tmp-*`` folder that is never loaded.
:func:`find_latest_checkpoint` returns the newest folder whose ``COMPLETE`` manifest matches the
files on disk, skipping (and reporting) incomplete or damaged ones. On resume,
:func:`trim_metrics_log` cuts the run's ``metrics.jsonl`` back to the checkpoint's step.

Everything here is pickle-free: tensors go to safetensors, the rest to JSON (:func:`save_state`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiogen.data.tempfolders import dead_temp_folders, temp_folder_prefix
from audiogen.models.checkpoint_folders import (
    CHECKPOINT_RE,
    COMPLETE_NAME,
    CheckpointError,
    _sha256,
    checkpoint_name,
    checkpoint_step,
    find_latest_checkpoint,
    list_checkpoints,
    verify_checkpoint,
)
from audiogen.models.pretrained import save_tensors_atomic, write_json_atomic

# --------------------------------------------------------------------------------------------------
# Nested state (dicts / lists / tuples of tensors and plain values) ↔ JSON + safetensors
# --------------------------------------------------------------------------------------------------


def flatten_state(obj: Any) -> tuple[Any, dict[str, torch.Tensor]]:
    """Split a nested state into a JSON-ready tree and a flat ``{key: tensor}`` dict.

    Tensors are replaced by ``{"__tensor__": key}``; tuples by ``{"__tuple__": [...]}``; dicts whose
    keys are not all strings (e.g. an optimizer's ``{param_index: state}``) by
    ``{"__items__": [[key, value], ...]}``, so :func:`unflatten_state` restores the exact types.

    Raises:
        TypeError: for values that are neither tensors, containers, nor JSON scalars.
    """
    tensors: dict[str, torch.Tensor] = {}

    def enc(x: Any, path: str) -> Any:
        if isinstance(x, torch.Tensor):
            tensors[path] = x
            return {"__tensor__": path}
        if isinstance(x, np.ndarray):
            return enc(torch.from_numpy(np.ascontiguousarray(x)), path)
        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, dict):
            if all(isinstance(k, str) and not k.startswith("__") for k in x):
                return {k: enc(v, f"{path}.{k}") for k, v in x.items()}
            return {"__items__": [[k, enc(v, f"{path}.{k}")] for k, v in x.items()]}
        if isinstance(x, tuple):
            return {"__tuple__": [enc(v, f"{path}.{i}") for i, v in enumerate(x)]}
        if isinstance(x, list):
            return [enc(v, f"{path}.{i}") for i, v in enumerate(x)]
        if x is None or isinstance(x, bool | int | float | str):
            return x
        raise TypeError(f"cannot store {type(x).__name__} at {path!r} in a checkpoint (no pickle)")

    return enc(obj, "s"), tensors


def unflatten_state(tree: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`flatten_state`.

    Raises:
        CheckpointError: if the tree refers to a tensor that is not in ``tensors``.
    """

    def dec(x: Any) -> Any:
        if isinstance(x, dict):
            if "__tensor__" in x:
                key = x["__tensor__"]
                if key not in tensors:
                    raise CheckpointError(f"state refers to tensor {key!r}, which is missing")
                return tensors[key]
            if "__tuple__" in x:
                return tuple(dec(v) for v in x["__tuple__"])
            if "__items__" in x:
                return {k: dec(v) for k, v in x["__items__"]}
            return {k: dec(v) for k, v in x.items()}
        if isinstance(x, list):
            return [dec(v) for v in x]
        return x

    return dec(tree)


def save_state(stem: str | Path, obj: Any) -> list[Path]:
    """Write a nested state as ``{stem}.json`` (+ ``{stem}.safetensors`` if it holds tensors).

    Returns:
        The files written.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    tree, tensors = flatten_state(obj)
    written = [write_json_atomic(stem.with_name(stem.name + ".json"), tree)]
    if tensors:
        written.append(save_tensors_atomic(stem.with_name(stem.name + ".safetensors"), tensors))
    return written


def load_state(stem: str | Path, device: str | torch.device = "cpu") -> Any:
    """Read a state written by :func:`save_state`.

    Raises:
        FileNotFoundError: if ``{stem}.json`` is missing.
        CheckpointError: if the tensors file is missing or unreadable.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    stem = Path(stem)
    json_path, st_path = stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".safetensors")
    tree = json.loads(json_path.read_text())
    tensors: dict[str, torch.Tensor] = {}
    if st_path.exists():
        try:
            tensors = load_file(str(st_path), device=str(device))
        except (SafetensorError, OSError) as e:
            raise CheckpointError(f"{st_path}: cannot read ({e})") from e
    return unflatten_state(tree, tensors)


# --------------------------------------------------------------------------------------------------
# Random number generators
# --------------------------------------------------------------------------------------------------


def capture_rng_state(cuda: bool = True) -> dict[str, Any]:
    """This process's Python, NumPy, torch CPU and (if ``cuda`` and initialised) CUDA RNG states."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": list(random.getstate()),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if cuda and torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [s for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Set the RNGs from :func:`capture_rng_state`'s result (as returned by :func:`load_state`)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"].cpu().to(torch.uint8))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu().to(torch.uint8) for s in state["cuda"]])


@contextlib.contextmanager
def preserved_rng(cuda: bool = True) -> Iterator[None]:
    """Run a block (validation, measurements) without changing any global RNG state afterwards.

    ``cuda=False`` leaves the CUDA generators alone (cheaper, for code that only uses CPU RNGs).
    """
    state = capture_rng_state(cuda)
    try:
        yield
    finally:
        restore_rng_state(state)


# --------------------------------------------------------------------------------------------------
# Atomic checkpoint folders
# --------------------------------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_checkpoint(
    checkpoints_dir: str | Path, step: int, write: Callable[[Path], None], keep: int | None = None
) -> Path:
    """Create ``checkpoints_dir/checkpoint-{step:08d}`` atomically.

    Args:
        checkpoints_dir: parent folder, created if missing.
        step: optimizer step the checkpoint holds.
        write: fills the temporary folder it is given (the final name is not visible until done).
        keep: keep only the newest ``keep`` complete checkpoints afterwards (``None``: keep all).

    Returns:
        The final checkpoint folder.
    """
    checkpoints_dir = Path(checkpoints_dir)
    checkpoints_dir.mkdir(parents=True, exist_ok=True)
    final = checkpoints_dir / checkpoint_name(step)
    for pattern in (".tmp-checkpoint-*", ".old-checkpoint-*"):  # left by runs killed mid-write
        for stale in dead_temp_folders(checkpoints_dir, pattern):  # never a live process's
            shutil.rmtree(stale, ignore_errors=True)
    tmp = checkpoints_dir / temp_folder_prefix(f".tmp-{final.name}")
    tmp.mkdir()
    try:
        write(tmp)
    except BaseException:  # a failed write leaves nothing behind (a killed one: see dead_temp_folders)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    files = {}
    for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
        with open(path, "rb") as f:
            os.fsync(f.fileno())
        files[path.relative_to(tmp).as_posix()] = {"size": path.stat().st_size, "sha256": _sha256(path)}
    for d in sorted({p.parent for p in tmp.rglob("*")} | {tmp}, key=lambda p: -len(p.parts)):
        _fsync_dir(d)
    write_json_atomic(tmp / COMPLETE_NAME, {"step": step, "files": files})
    _fsync_dir(tmp)
    if final.exists():  # e.g. the same step saved again after a resume: swap the old one out first
        old = checkpoints_dir / temp_folder_prefix(f".old-{final.name}")
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    _fsync_dir(checkpoints_dir)
    if keep is not None:
        for old_ckpt in list_checkpoints(checkpoints_dir)[:-keep]:
            shutil.rmtree(old_ckpt, ignore_errors=True)
    return final


def seed_all(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def write_trainer_state(trainer: Any, folder: Path, rng_states: list[dict[str, Any]]) -> None:
    """Write a :class:`~audiogen.training.trainer.Trainer`'s state into checkpoint ``folder``.

    ``models/<name>/`` and ``ema/<name>/`` (model folders), ``optimizers/``, ``schedulers/``, ``rng``
    (``rng_states``: one per process) and ``trainer_state`` (step, data position, counters, grad
    scaler, task, recipe and loop settings); :func:`load_trainer_state` reads them back.
    """
    from audiogen.models.pretrained import config_to_dict, save_model_files

    acc = trainer.accelerator
    for name, model in trainer.models.items():
        m = acc.unwrap_model(model)
        config = config_to_dict(m._config_for_save()) if hasattr(m, "_config_for_save") else {}
        save_model_files(folder / "models" / name, type(m).__name__, config, m.state_dict())
        if name in trainer.ema:
            save_model_files(folder / "ema" / name, type(m).__name__, config, trainer.ema[name].export(m))
    for name, opt in trainer.optimizers.items():
        save_state(folder / "optimizers" / name, opt.state_dict())
        save_state(folder / "schedulers" / name, trainer.schedulers[name].state_dict())
    save_state(folder / "rng", {f"rank{i}": s for i, s in enumerate(rng_states)})
    state = {
        "step": trainer.step,
        "epoch": trainer.epoch,
        "batch_in_epoch": trainer.batch_in_epoch,
        "nonfinite_steps": trainer.nonfinite_steps,
        "consecutive_nonfinite": trainer.consecutive_nonfinite,
        "num_processes": acc.num_processes,
        "mixed_precision": trainer.config.mixed_precision,
        "ema_updates": {n: e.num_updates for n, e in trainer.ema.items()},
        "scaler": acc.scaler.state_dict() if acc.scaler is not None else None,
        "task": trainer.task.name,
        "task_config": trainer.task.export_config(),
        "recipe": trainer.recipe,
        "train_config": dataclasses.asdict(trainer.config),
    }
    save_state(folder / "trainer_state", state)


def _match_moment_shapes(optimizer: torch.optim.Optimizer) -> None:
    """Reshape per-parameter optimizer state saved for a parameter of another shape, same size.

    The denoiser's pointwise weights were once stored ``(out, in, 1)`` and are ``(out, in)`` now
    (:func:`audiogen.models.layers.upgrade_legacy_state`); their Adam moments follow.
    """
    for group in optimizer.param_groups:
        for param in group["params"]:
            moments = optimizer.state.get(param, {})
            for key, value in moments.items():
                if torch.is_tensor(value) and value.shape != param.shape and value.numel() == param.numel():
                    moments[key] = value.reshape(param.shape)


def load_trainer_state(trainer: Any, checkpoint: Path) -> None:
    """Restore a :class:`~audiogen.training.trainer.Trainer` from :func:`write_trainer_state`'s folder.

    Raises:
        TrainingError: a model of the checkpoint does not match the recipe's model.
    """
    from audiogen.models.layers import upgrade_legacy_state
    from audiogen.models.pretrained import load_model_files
    from audiogen.training.train_config import TrainingError

    acc = trainer.accelerator
    state = load_state(checkpoint / "trainer_state")
    for name, model in trainer.models.items():
        _, _, weights = load_model_files(checkpoint / "models" / name)
        try:
            acc.unwrap_model(model).load_state_dict(weights, strict=True)
        except RuntimeError as e:
            raise TrainingError(
                f"{checkpoint}: model {name!r} does not match the recipe's model ({e})"
            ) from e
        if name in trainer.ema:
            _, _, ema_weights = load_model_files(checkpoint / "ema" / name, acc.device)
            ema_weights = upgrade_legacy_state(acc.unwrap_model(model), ema_weights)
            trainer.ema[name].load(ema_weights, state["ema_updates"][name])
    for name, opt in trainer.optimizers.items():
        opt.load_state_dict(load_state(checkpoint / "optimizers" / name))
        _match_moment_shapes(opt)
        trainer.schedulers[name].load_state_dict(load_state(checkpoint / "schedulers" / name))
    if acc.scaler is not None and state.get("scaler"):
        acc.scaler.load_state_dict(state["scaler"])
    trainer.step, trainer.epoch = state["step"], state["epoch"]
    trainer.batch_in_epoch = state["batch_in_epoch"]
    trainer.nonfinite_steps = state["nonfinite_steps"]
    trainer.consecutive_nonfinite = state["consecutive_nonfinite"]
    rng = load_state(checkpoint / "rng")
    if state["num_processes"] == acc.num_processes:
        restore_rng_state(rng[f"rank{acc.process_index}"])
    else:
        acc.print(
            f"warning: {checkpoint} was written by {state['num_processes']} processes, resuming with "
            f"{acc.num_processes}; RNG streams are reseeded and the data order continues approximately"
        )
        seed_all(trainer.config.seed * 7919 + 104_729 * (acc.process_index + 1) + trainer.step)
    trainer.last_checkpoint = checkpoint
    acc.print(f"resumed from {checkpoint} (step {trainer.step})")


def trim_metrics_log(path: Path, step: int) -> int:
    """Keep the records of a run's ``metrics.jsonl`` up to ``step``, the checkpoint it resumes from.

    What an interrupted run logged after its last checkpoint is logged again by the resumed run,
    so those records (and a last line cut off mid-write) are removed, leaving one record per step
    and kind. The file is replaced atomically. Returns the number of lines dropped.
    """
    if not path.is_file():
        return 0
    lines = path.read_text().splitlines()
    kept = []
    for line in lines:
        try:
            if int(json.loads(line)["step"]) <= step:
                kept.append(line)
        except (ValueError, KeyError, TypeError):
            pass  # a line cut off mid-write
    if len(kept) < len(lines):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in kept))
        tmp.replace(path)
    return len(lines) - len(kept)


__all__ = [
    "CHECKPOINT_RE",
    "COMPLETE_NAME",
    "CheckpointError",
    "capture_rng_state",
    "checkpoint_name",
    "checkpoint_step",
    "find_latest_checkpoint",
    "flatten_state",
    "list_checkpoints",
    "load_state",
    "load_trainer_state",
    "preserved_rng",
    "restore_rng_state",
    "save_state",
    "seed_all",
    "trim_metrics_log",
    "unflatten_state",
    "verify_checkpoint",
    "write_checkpoint",
    "write_trainer_state",
]
