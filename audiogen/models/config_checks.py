"""Checks on what a model folder asks for, before anything is built or allocated.

A ``config.json`` (or ``model_index.json``) is data from outside: a wrong type (``"64"``, ``64.5``,
``null`` for a section), a NaN, a name the libraries do not know or a size in the billions must end
in one ``ValueError`` naming the file and the field, not in a traceback from deep inside torch or
an attempt to allocate hundreds of gigabytes. Three layers:

* :func:`read_json` - JSON that parses (nesting too deep for the parser included);
* :func:`check_config` - every field of a config dataclass against its annotation (``int`` is an
  integer, not a bool or a float; floats are finite; ``Literal`` values are among the allowed;
  nested config sections are objects), integer fields within :data:`INT_BOUNDS`, the noise
  schedule among :data:`BETA_SCHEDULES`;
* :func:`check_weights_match` - the model built on PyTorch's ``meta`` device (no memory, no
  initialisation) has exactly the tensor names and shapes the safetensors header lists, and at
  most :data:`MAX_PARAMETERS` elements, before the weights are read; :func:`check_finite` then
  checks the loaded tensors hold no NaN or Inf.

The bounds are judgements, not format limits; they are all here, each with its reason.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from pathlib import Path
from typing import Any

import torch

from audiogen.audio.io import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE

__all__ = [
    "BETA_SCHEDULES",
    "INT_BOUNDS",
    "MAX_PARAMETERS",
    "check_config",
    "check_model_index",
    "check_scheduler_config",
    "check_finite",
    "check_weights_match",
    "read_json",
]

#: Widths (channels) of any layer: 8192 is 16x the widest layer of the models here.
_MAX_WIDTH = 8192
#: Layers / blocks per stage: 256 is 50x the deepest stage here.
_MAX_DEPTH = 256
#: FFT / window sizes in samples: 16384 is 85 ms at 192 kHz, 0.74 s at 22.05 kHz.
_MAX_FFT = 16384

#: Inclusive ``(low, high)`` bounds of integer config fields, by field name (any config class).
#: Fields not listed get :data:`_DEFAULT_INT_BOUNDS`.
INT_BOUNDS: dict[str, tuple[int, int]] = {
    "latent_dim": (1, _MAX_WIDTH),
    "channels": (1, _MAX_WIDTH),
    "decoder_channels": (1, _MAX_WIDTH),
    "dim": (1, _MAX_WIDTH),
    "intermediate_dim": (1, 4 * _MAX_WIDTH),
    "embed_dim": (1, _MAX_WIDTH),
    "blocks_per_stage": (0, _MAX_DEPTH),
    "decoder_blocks_per_stage": (0, _MAX_DEPTH),
    "blocks_per_level": (1, _MAX_DEPTH),
    "num_layers": (1, _MAX_DEPTH),
    "convs_per_stage": (1, _MAX_DEPTH),
    "attention_layers": (0, _MAX_DEPTH),
    "attention_heads": (1, _MAX_DEPTH),
    "kernel_size": (1, 255),
    "channel_mults": (1, 64),  # each element
    "time_downsample": (1, 4096),
    "n_fft": (4, _MAX_FFT),
    "head_n_fft": (4, _MAX_FFT),
    "win_length": (1, _MAX_FFT),
    "hop_length": (1, _MAX_FFT),
    "n_mels": (1, 1024),
    "sample_rate": (MIN_SAMPLE_RATE, MAX_SAMPLE_RATE),  # the rates audio files may declare
    # iterations run at every call: 1000 Griffin-Lim iterations are 30x the default, already slow
    "gl_iters": (1, 1000),
    "nnls_steps": (0, 1000),
    "num_train_timesteps": (1, 100_000),
    "num_classes": (0, 100_000),
    "init_seed": (0, 2**63 - 1),
}
_DEFAULT_INT_BOUNDS = (-(2**31), 2**31 - 1)
#: The most elements a list field (labels, channel multipliers) may have.
_MAX_LIST = 100_000

#: Noise schedules diffusers' DDPM-family schedulers implement (anything else raises deep inside
#: diffusers when the scheduler is built).
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid", "laplace")

#: The most tensor elements one model folder may declare (2**31: 8 GiB as float32), 800x the
#: largest stage here; checked on the meta device before anything is allocated.
MAX_PARAMETERS = 2**31


def read_json(path: Path) -> Any:
    """Parse a JSON file.

    Raises:
        ValueError: not UTF-8, not valid JSON, or nested too deeply for the parser (names the file).
        OSError: the file cannot be read.
    """
    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e
    except RecursionError as e:
        raise ValueError(f"{path}: not valid JSON (nested too deeply)") from e


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _check_value(hint: Any, value: Any, where: str) -> str | None:
    """Why ``value`` does not fit ``hint`` (``None`` when it does)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        reasons = [_check_value(arm, value, where) for arm in args]
        if any(r is None for r in reasons):
            return None
        if value is None:
            return f"{where} is null; expected {' or '.join(_type_name(a) for a in args)}"
        return next(r for r, arm in zip(reasons, args, strict=True) if arm is not type(None))
    if hint is type(None):
        return None if value is None else f"{where} must be null, got {value!r}"
    if origin is typing.Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return None
        return f"{where} must be one of {list(args)}, got {value!r}"
    if hint is bool:
        return None if isinstance(value, bool) else f"{where} must be true or false, got {value!r}"
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            return f"{where} must be an integer, got {value!r} ({type(value).__name__})"
        low, high = INT_BOUNDS.get(where.rsplit(".", 1)[-1].split("[")[0], _DEFAULT_INT_BOUNDS)
        if not low <= value <= high:
            return f"{where} must be in [{low}, {high}], got {value}"
        return None
    if hint is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return f"{where} must be a number, got {value!r} ({type(value).__name__})"
        return None if math.isfinite(value) else f"{where} must be a finite number, got {value}"
    if hint is str:
        return None if isinstance(value, str) else f"{where} must be a string, got {value!r}"
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            return f"{where} must be a list, got {value!r}"
        if len(value) > _MAX_LIST:
            return f"{where} has {len(value)} elements; at most {_MAX_LIST}"
        element = args[0] if args else Any
        for i, item in enumerate(value):
            reason = _check_value(element, item, f"{where}[{i}]")
            if reason is not None:
                return reason
        return None
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            return f"{where} must be an object (a {hint.__name__} section), got {value!r}"
        return _check_fields(hint, value, where)
    return None  # Any and other annotations: left to the dataclass itself


def _check_fields(cls: type, data: dict[str, Any], prefix: str) -> str | None:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in data if k not in names)
    if unknown:
        return f"{prefix or cls.__name__}: unknown key(s) {unknown}; accepted: {sorted(names)}"
    for name, value in data.items():
        reason = _check_value(hints[name], value, f"{prefix}.{name}" if prefix else name)
        if reason is not None:
            return reason
    schedule = data.get("beta_schedule")
    if isinstance(schedule, str) and schedule not in BETA_SCHEDULES:
        where = f"{prefix}.beta_schedule" if prefix else "beta_schedule"
        return f"{where} must be one of {list(BETA_SCHEDULES)}, got {schedule!r}"
    return None


def check_config(cls: type, data: Any, path: Path | str, prefix: str = "") -> None:
    """Check a config section ``data`` against the dataclass ``cls`` before it is built.

    Args:
        cls: the config dataclass (e.g. :class:`~audiogen.models.autoencoder.AutoencoderConfig`).
        data: the parsed JSON section.
        path: the file it came from (for the message).
        prefix: dotted path of the section inside the file (e.g. ``"config"``, ``"mel"``).

    Raises:
        ValueError: ``f"{path}: {field}: {reason}"`` for the first field that is of the wrong type,
            non-finite, out of :data:`INT_BOUNDS`, an unknown key or an unknown beta schedule.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{path}: {prefix or cls.__name__} must be an object, got {data!r}")
    reason = _check_fields(cls, data, prefix)
    if reason is not None:
        raise ValueError(f"{path}: {reason}")


def check_weights_match(model_cls: type, skeleton: Any, weights: Path) -> Any:
    """Compare ``skeleton`` (a ``model_cls`` built on the meta device) with ``weights``' header.

    Nothing is allocated: the skeleton (:func:`~audiogen.models.pretrained.build_skeleton`: meta
    device, parameters left uninitialised) has shapes but no storage, and only the safetensors
    header (names, shapes) is read.

    Args:
        model_cls: the model's class (named in errors).
        skeleton: ``model_cls(config)`` built by :func:`~audiogen.models.pretrained.build_skeleton`.
        weights: the ``model.safetensors`` file.

    Returns:
        The skeleton (load the weights into it with ``load_state_dict(..., assign=True)``).

    Raises:
        ValueError: the model would have more than :data:`MAX_PARAMETERS` elements, or its state
            dict's names or shapes differ from the file's (names the file and the first few).
    """
    from safetensors import SafetensorError, safe_open

    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    total = sum(math.prod(s) for s in expected.values())
    if total > MAX_PARAMETERS:
        raise ValueError(
            f"{weights.parent / 'config.json'}: the configuration asks for {total:.3g} parameters; "
            f"the limit is {MAX_PARAMETERS:.3g}"
        )
    try:
        with safe_open(str(weights), framework="pt") as f:
            stored = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{weights}: cannot read weights ({e})") from e
    # a denoiser saved with the earlier conditioned-block layout is renamed and reshaped on load
    from audiogen.models.layers import upgrade_legacy_state

    shells = {k: torch.empty(shape, device="meta") for k, shape in stored.items()}
    stored = {k: tuple(v.shape) for k, v in upgrade_legacy_state(skeleton, shells).items()}
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    wrong = [
        f"{k} {stored[k]} vs {expected[k]}"
        for k in sorted(set(expected) & set(stored))
        if stored[k] != expected[k]
    ]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{weights}: weights do not match {model_cls.__name__} as configured in config.json: "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}, shapes (file vs config) {wrong[:3]}"
        )
    return skeleton


def check_finite(state: dict[str, torch.Tensor], path: Path) -> None:
    """Raise ``ValueError`` naming ``path`` and the tensor if a floating-point tensor holds NaN/Inf."""
    for name, tensor in state.items():
        # a NaN or an infinity anywhere makes the sum NaN or infinite, so a finite sum clears the
        # tensor in one vectorised pass; only a non-finite sum (also a finite overflow) is looked at
        if not tensor.is_floating_point() or math.isfinite(tensor.sum(dtype=torch.float64)):
            continue
        if not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise ValueError(
                f"{path}: tensor {name!r} holds {bad} non-finite value(s) (NaN or Inf) of "
                f"{tensor.numel()}; the file is corrupt"
            )


def check_model_index(
    index: Any, directory: Path, index_path: Path, stages: tuple[str, ...]
) -> dict[str, Path]:
    """Check a pipeline folder's ``model_index.json`` and return each stage's folder.

    Every stage's ``subfolder`` must be a relative path that stays inside ``directory`` once
    resolved (``..``, absolute paths and symbolic links that lead elsewhere are refused: a pipeline
    folder is loaded from what it holds, nothing else); the ``mel`` section must be a valid
    :class:`~audiogen.config.MelConfig`; ``generation.cfg_scale``, when present, a finite number.

    Raises:
        ValueError: naming ``index_path`` and the field.
    """
    from audiogen.config import MelConfig

    if not isinstance(index, dict):
        raise ValueError(f"{index_path}: expected a JSON object")
    table = index.get("stages")
    if not isinstance(table, dict):
        raise ValueError(f"{index_path}: malformed ('stages' must be an object naming {list(stages)})")
    root = directory.resolve()
    folders = {}
    for name in stages:
        entry = table.get(name)
        sub = entry.get("subfolder") if isinstance(entry, dict) else None
        if not isinstance(sub, str) or not sub:
            raise ValueError(f"{index_path}: malformed (stages.{name}.subfolder must be a folder name)")
        folder = directory / sub
        if Path(sub).is_absolute() or not folder.resolve().is_relative_to(root):
            raise ValueError(
                f"{index_path}: stages.{name}.subfolder {sub!r} points outside the pipeline folder "
                f"{directory}; refused"
            )
        folders[name] = folder
    try:
        check_config(MelConfig, index.get("mel"), index_path, prefix="mel")
    except ValueError as e:
        raise ValueError(f"{index_path}: malformed ({str(e).removeprefix(f'{index_path}: ')})") from None
    generation = index.get("generation", {})
    if not isinstance(generation, dict):
        raise ValueError(f"{index_path}: malformed ('generation' must be an object)")
    cfg = generation.get("cfg_scale", 0.0)
    if isinstance(cfg, bool) or not isinstance(cfg, int | float) or not math.isfinite(cfg):
        raise ValueError(f"{index_path}: malformed (generation.cfg_scale is {cfg!r}, not a finite number)")
    return folders


def check_scheduler_config(config: dict[str, Any], path: Path) -> None:
    """Check the fields of a diffusers ``scheduler_config.json`` that size or shape the schedule.

    ``num_train_timesteps`` is an integer within :data:`INT_BOUNDS` (diffusers allocates that many
    betas), ``beta_schedule`` one of :data:`BETA_SCHEDULES`, ``beta_start`` / ``beta_end`` finite,
    a flow schedule's ``shift`` a finite number > 0.

    Raises:
        ValueError: naming ``path`` and the field.
    """
    steps = config.get("num_train_timesteps", 1000)
    low, high = INT_BOUNDS["num_train_timesteps"]
    if isinstance(steps, bool) or not isinstance(steps, int) or not low <= steps <= high:
        raise ValueError(f"{path}: num_train_timesteps must be an integer in [{low}, {high}], got {steps!r}")
    schedule = config.get("beta_schedule", "linear")
    if schedule not in BETA_SCHEDULES:
        raise ValueError(f"{path}: beta_schedule must be one of {list(BETA_SCHEDULES)}, got {schedule!r}")
    for key in ("beta_start", "beta_end"):
        value = config.get(key, 0.0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{path}: {key} must be a finite number, got {value!r}")
    shift = config.get("shift", 1.0)
    if (
        isinstance(shift, bool)
        or not isinstance(shift, int | float)
        or not (math.isfinite(shift) and shift > 0)
    ):
        raise ValueError(f"{path}: shift must be a finite number > 0, got {shift!r}")
