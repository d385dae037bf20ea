"""Save and load a model as ``config.json`` + ``model.safetensors`` (no pickle), shared by every stage.

A model folder holds exactly two files::

    config.json         {"class": "MelVAE", "audiogen_version": "...", "config": {...dataclass fields...}}
    model.safetensors   the module's ``state_dict()`` (parameters and persistent buffers)

Models mix in :class:`PretrainedMixin` and set ``config_class`` to their config dataclass; the
training checkpoint writes the same folders, so a checkpoint's ``models/<name>/`` (or its
``ema/<name>/``) can be passed to ``from_pretrained`` directly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Self

import torch

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON through a temporary file, fsync, then rename over ``path``."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def save_tensors_atomic(
    path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> Path:
    """Write ``tensors`` with safetensors through a temporary file, fsync, then rename over ``path``.

    Tensors are detached, made contiguous and moved to CPU first; ``metadata`` values must be strings
    (safetensors stores them in the file's JSON header).
    """
    from safetensors.torch import save_file

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def save_model_files(
    directory: str | Path, class_name: str, config: dict[str, Any], state_dict: dict[str, torch.Tensor]
) -> Path:
    """Write a model folder (``config.json`` + ``model.safetensors``) without needing the module.

    Used by :meth:`PretrainedMixin.save_pretrained` and by the trainer to export EMA weights.

    Args:
        directory: output folder, created if missing.
        class_name: the model class, stored so a loader can check it gets what it expects.
        config: the config dataclass as a plain dict (JSON-serialisable).
        state_dict: parameter / buffer name → tensor.

    Returns:
        ``directory`` as a :class:`~pathlib.Path`.
    """
    from audiogen import __version__

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_tensors_atomic(directory / WEIGHTS_NAME, state_dict, metadata={"format": "pt", "class": class_name})
    write_json_atomic(
        directory / CONFIG_NAME, {"class": class_name, "audiogen_version": __version__, "config": config}
    )
    return directory


def load_model_files(directory: str | Path, device: str | torch.device = "cpu") -> tuple[str, dict, dict]:
    """Read a model folder written by :func:`save_model_files`.

    Returns:
        ``(class_name, config_dict, state_dict)``.

    Raises:
        FileNotFoundError: if the folder or one of its two files is missing (names the file).
        ValueError: if ``config.json`` is not valid JSON of the expected form, or the weights file
            cannot be parsed (e.g. truncated) or holds NaN/Inf in a floating-point tensor.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from audiogen.models.config_checks import check_finite, read_json

    directory = Path(directory)
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (directory / name).is_file():
            raise FileNotFoundError(
                f"{directory}: missing {name} (a model folder holds {CONFIG_NAME} and {WEIGHTS_NAME})"
            )
    meta = read_json(directory / CONFIG_NAME)
    if not isinstance(meta, dict) or "class" not in meta or "config" not in meta:
        raise ValueError(f"{directory / CONFIG_NAME}: expected keys 'class' and 'config'")
    if not isinstance(meta["class"], str) or not isinstance(meta["config"], dict):
        raise ValueError(f"{directory / CONFIG_NAME}: 'class' must be a string and 'config' an object")
    try:
        target = torch.device(device)  # safetensors rejects "cpu:0" (the CPU device of a gloo group)
        where = "cpu" if target.type == "cpu" else str(target)
        state = load_file(str(directory / WEIGHTS_NAME), device=where)
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{directory / WEIGHTS_NAME}: cannot read weights ({e})") from e
    check_finite(state, directory / WEIGHTS_NAME)
    return meta["class"], meta["config"], state


#: ``torch.nn.init`` functions made no-ops while a skeleton is built (the weights are loaded next).
_INIT_FUNCTIONS = tuple(
    name for name in dir(torch.nn.init) if name.endswith("_") and not name.startswith("_")
)
#: Window functions computed on the CPU while a skeleton is built: on the meta device they run
#: PyTorch's Python reference implementations, whose first call imports ``torch._dynamo`` (~1.5 s).
_WINDOW_FUNCTIONS = ("hann_window", "hamming_window", "blackman_window", "bartlett_window", "kaiser_window")


def _keep(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    return tensor


def _on_cpu(function: Any) -> Any:
    def window(*args: Any, **kwargs: Any) -> torch.Tensor:
        if kwargs.get("device") is None:
            kwargs["device"] = "cpu"
        return function(*args, **kwargs)

    return window


@contextlib.contextmanager
def skeleton_mode() -> Iterator[None]:
    """Modules built inside get meta-device parameters that ``torch.nn.init`` leaves alone.

    Like ``torch.nn.utils.skip_init`` / ``load_state_dict(assign=True)`` loading: no memory and no
    random initialisation for weights that are about to be replaced. Window functions
    (``torch.hann_window``, ...) still give real CPU tensors, so non-persistent buffers built from
    them are usable (and building does not import ``torch._dynamo``).
    """
    saved = {name: getattr(torch.nn.init, name) for name in _INIT_FUNCTIONS}
    windows = {name: getattr(torch, name) for name in _WINDOW_FUNCTIONS}
    try:
        for name in _INIT_FUNCTIONS:
            setattr(torch.nn.init, name, _keep)
        for name, function in windows.items():
            setattr(torch, name, _on_cpu(function))
        with torch.device("meta"):
            yield
    finally:
        for name, function in saved.items():
            setattr(torch.nn.init, name, function)
        for name, function in windows.items():
            setattr(torch, name, function)


def build_skeleton(model_cls: type, config: Any) -> Any:
    """``model_cls(config)`` built in :func:`skeleton_mode`: parameters on the meta device, uninitialised."""
    with skeleton_mode():
        return model_cls(config)


def _meta_tensors(model: Any) -> list[str]:
    """Names of the tensors of ``model`` still on the meta device (parameters, buffers, tensor attributes)."""
    names = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    for prefix, module in model.named_modules():
        tensors = [k for k, v in vars(module).items() if torch.is_tensor(v) and v.is_meta]
        names += [f"{prefix}.{k}".lstrip(".") for k in tensors]
    return names


def _aligned(tensor: torch.Tensor) -> torch.Tensor:
    return tensor if tensor.data_ptr() % 64 == 0 else tensor.clone()


def assign_weights(model: Any, state: dict[str, torch.Tensor], where: Path | str) -> Any:
    """Make ``state``'s tensors the parameters and buffers of ``model`` (no copy; strict names).

    Each tensor is first cast to the dtype of the tensor it replaces (float16-stored parameters
    become float32, as ``load_state_dict``'s copy would make them). safetensors hands out tensors
    at any byte offset, and CPU kernels round differently on data not aligned to 64 bytes, so such
    tensors are copied once into PyTorch's (aligned) allocation: outputs then match a model whose
    parameters were copied into place bit for bit.

    Raises:
        ValueError: names or shapes differ (``where`` names the weights file).
    """
    from audiogen.models.layers import upgrade_legacy_state

    current = model.state_dict()
    state = upgrade_legacy_state(model, state)
    state = {k: _aligned(v.to(current[k].dtype) if k in current else v) for k, v in state.items()}
    try:
        result = model.load_state_dict(state, strict=False, assign=True)
    except RuntimeError as e:  # shape mismatches
        lines = str(e).splitlines()[1:3]
        raise ValueError(f"{where}: weights do not match {type(model).__name__}: {lines}") from e
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"{where}: weights do not match {type(model).__name__}; "
            f"missing {result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}"
        )
    return model


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as a JSON-ready dict (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


class PretrainedMixin:
    """``save_pretrained(dir)`` / ``from_pretrained(dir)`` for an ``nn.Module`` built from ``self.config``.

    The subclass sets ``config_class`` (a dataclass) and takes that dataclass as its only required
    constructor argument. Before saving, :meth:`_config_for_save` may refresh config fields from
    buffers (e.g. a measured latent scale).
    """

    config_class: ClassVar[type]
    config: Any

    def _config_for_save(self) -> Any:
        """The config written to ``config.json``; override to sync fields from buffers."""
        return self.config

    def save_pretrained(self, directory: str | Path, parameter_dtype: torch.dtype | None = None) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into ``directory`` (created if missing).

        Args:
            directory: output folder.
            parameter_dtype: store floating-point *parameters* in this dtype (e.g. ``torch.float16``
                halves a shipped file); buffers (windows, filterbanks, scales) keep theirs.
                :meth:`from_pretrained` loads them into the model's float32 parameters.

        Returns:
            ``directory`` as a :class:`~pathlib.Path`.
        """
        state = self.state_dict()  # type: ignore[attr-defined]
        if parameter_dtype is not None:
            params = {name for name, _ in self.named_parameters()}  # type: ignore[attr-defined]
            state = {
                k: v.to(parameter_dtype) if k in params and v.is_floating_point() else v
                for k, v in state.items()
            }
        return save_model_files(
            directory, type(self).__name__, config_to_dict(self._config_for_save()), state
        )

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> Self:
        """Build the model from ``config.json`` and load ``model.safetensors`` strictly.

        The configuration is checked first (:func:`~audiogen.models.config_checks.check_config`:
        types, finiteness, size bounds), then the model is built on the meta device without
        initialising its parameters (:func:`build_skeleton`) and compared with the weights file's
        header (names, shapes, parameter count), so a bad folder fails before anything is
        allocated; the weights, which must be finite, then become its parameters in place
        (:func:`assign_weights`: ``load_state_dict(assign=True)``, no second copy).

        Raises:
            FileNotFoundError: if a file is missing.
            ValueError: if the folder holds a different model class, the config has unknown keys,
                a wrong type, a non-finite number or a size out of bounds, or the weights do not
                match the architecture or hold NaN/Inf (names the file and the field or tensor).
        """
        from audiogen.config import from_dict
        from audiogen.models.config_checks import check_config, check_weights_match, read_json

        directory = Path(directory)
        config_path = directory / CONFIG_NAME
        for name in (CONFIG_NAME, WEIGHTS_NAME):
            if not (directory / name).is_file():
                raise FileNotFoundError(
                    f"{directory}: missing {name} (a model folder holds {CONFIG_NAME} and {WEIGHTS_NAME})"
                )
        meta = read_json(config_path)
        if not isinstance(meta, dict) or "class" not in meta or "config" not in meta:
            raise ValueError(f"{config_path}: expected keys 'class' and 'config'")
        if meta["class"] != cls.__name__:
            raise ValueError(f"{directory}: holds a {meta['class']}, not a {cls.__name__}")
        check_config(cls.config_class, meta["config"], config_path, prefix="config")
        try:
            model_config = from_dict(cls.config_class, meta["config"])
        except (TypeError, ValueError) as e:
            raise ValueError(f"{config_path}: {e}") from e
        model = check_weights_match(cls, build_skeleton(cls, model_config), directory / WEIGHTS_NAME)
        _, _, state = load_model_files(directory, device)
        assign_weights(model, state, directory / WEIGHTS_NAME)
        if _meta_tensors(model):
            # something built in __init__ and not in the weights file stayed on the meta device:
            # build on the CPU instead, parameters still uninitialised (torch.empty) until assigned
            with skeleton_mode(), torch.device("cpu"):
                model = cls(model_config)  # type: ignore[call-arg]
            assign_weights(model, state, directory / WEIGHTS_NAME)
        return model.to(device).eval()  # type: ignore[attr-defined]
