"""LoRA adapters of the latent denoiser with Hugging Face ``peft``: the layers, the folder, training.

An adapter changes a frozen base denoiser by low-rank updates ``W + s * (alpha / r) * B A`` (Hu et al.,
2021, "LoRA") of its pointwise convolutions and linear layers (``peft``'s ``Linear`` and ``Conv1d``
LoRA layers; the depthwise convolutions are left alone), plus, when it introduces a style label the
base does not have, one trained row of the style-label embedding. ``s`` is the adapter's strength,
chosen at generation time: 0 switches the adapter off (the output is bit-identical to the base), 1
is the adapter as trained, other values scale its update; several adapters stack, each with its own
strength.

An adapter folder (``RUN/lora/denoiser/`` of ``audiogen finetune --lora``; no pickle)::

    adapter_config.json          peft's LoraConfig (r, lora_alpha, target_modules, ...)
    adapter_model.safetensors    peft's adapter state dict (lora_A / lora_B per layer)
    style_embedding.safetensors  one embedding row per new style (only if the adapter has one)
    audiogen_lora.json           sidecar: SHA-256 of the base denoiser's weights, base styles, the
                                 adapter's styles, its noise schedule (zero terminal SNR or not)

Styles. A new style's row sits in the label table between the base styles and the null ("no style")
row, so :meth:`~audiogen.pipelines.audiogen.AudioGenPipeline.style_label` finds it and classifier-free
guidance contrasts it with the null row exactly as for a built-in style. At strength ``s`` the row
is ``null + s * (row - null)`` (the trained row itself at 1, the null row at 0). With two or more
adapters carrying styles a blended style ``"a+b"`` is added whose row is
``null + sum_i s_i * (row_i - null)``: generating it with the stacked adapters interpolates both
the weights and the conditioning.

Noise schedule. An adapter trained on another schedule than the base (``audiogen finetune`` moves
to zero terminal SNR by default) switches the pipeline to that schedule while its strength is not 0.

Here: the adapter's peft layers (:func:`lora_config`, :func:`inject_adapter`), training and saving
one (:func:`attach_for_training`, :func:`save_adapter`), finding and reading its files. Loading
adapters onto a pipeline, stacking them, setting strengths, unloading and fusing is
:class:`audiogen.pipelines.lora.LoraStack`.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audiogen.models.lora_styles import StyleTable

ADAPTER_CONFIG_NAME = "adapter_config.json"
ADAPTER_WEIGHTS_NAME = "adapter_model.safetensors"
STYLES_NAME = "style_embedding.safetensors"
SIDECAR_NAME = "audiogen_lora.json"
#: Modules of :class:`~audiogen.models.denoiser.LatentDenoiser` that get LoRA by default (name suffixes):
#: the blocks' pointwise convolutions, the attention projections and every adaLN modulation.
DEFAULT_TARGETS = ("pwconv1", "pwconv2", "qkv", "proj", "modulation")
TRAINING_ADAPTER = "default"


class LoraError(ValueError):
    """An adapter cannot be used: missing or corrupt files, or made for another base (names the file)."""


def lora_config(
    rank: int, alpha: float | None = None, targets: tuple[str, ...] | list[str] | None = None
) -> Any:
    """A peft ``LoraConfig`` for the denoiser: rank ``rank``, ``lora_alpha`` ``alpha`` (default: ``rank``).

    Raises:
        ValueError: ``rank < 1``, ``alpha <= 0`` or an empty target list.
    """
    from peft import LoraConfig

    if rank < 1:
        raise ValueError(f"LoRA rank must be >= 1, got {rank}")
    if alpha is not None and alpha <= 0:
        raise ValueError(f"LoRA alpha must be positive, got {alpha}")
    targets = list(targets or DEFAULT_TARGETS)
    if not targets:
        raise ValueError("LoRA targets must name at least one module")
    return LoraConfig(
        r=rank,
        lora_alpha=float(alpha if alpha is not None else rank),
        target_modules=targets,
        lora_dropout=0.0,
    )


def weights_sha256(module: nn.Module, state: dict[str, torch.Tensor] | None = None) -> str:
    """SHA-256 of a module's state (names, shapes and float32 values, in name order): the base's identity.

    ``state``: hash this state dict instead of ``module.state_dict()``.
    """
    h = hashlib.sha256()
    for name, tensor in sorted((module.state_dict() if state is None else state).items()):
        h.update(f"{name}{tuple(tensor.shape)}".encode())
        h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def legacy_weights_sha256(module: nn.Module) -> str:
    """:func:`weights_sha256` of the same weights in the denoiser's earlier conditioned-block layout.

    Adapters saved before the ConvNeXt blocks became one class record that hash
    (:func:`audiogen.models.layers.legacy_state`); their tensors load through the blocks' load hook.
    """
    from audiogen.models.layers import legacy_state

    return weights_sha256(module, legacy_state(module))


def tuner_layers(module: nn.Module) -> list[Any]:
    from peft.tuners.tuners_utils import BaseTunerLayer

    return [m for m in module.modules() if isinstance(m, BaseTunerLayer)]


def inject_adapter(denoiser: nn.Module, config: Any, name: str) -> None:
    """Add adapter ``name`` to ``denoiser`` in place (peft's ``inject_adapter_in_model``).

    Raises:
        LoraError: no module of the denoiser matches the config's targets, or peft cannot wrap one.
    """
    from peft import inject_adapter_in_model

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*peft_config.*")  # several adapters are intended
        try:
            inject_adapter_in_model(config, denoiser, adapter_name=name)
        except ValueError as e:
            raise LoraError(f"LoRA targets {list(config.target_modules)}: {e}") from e


# ------------------------------------------------------------------------------------------------
# training


def attach_for_training(denoiser: nn.Module, config: Any, new_styles: list[str]) -> list[str]:
    """Turn a (label-grown) denoiser into LoRA training form, in place; returns the trainable names.

    ``denoiser`` is a :class:`~audiogen.models.denoiser.LatentDenoiser` whose last ``len(new_styles)``
    labels are the new styles (their rows already initialised, e.g. to the null row). Its label
    embedding becomes a :class:`StyleTable` with the new rows trainable, adapter
    ``TRAINING_ADAPTER`` is injected, and every other parameter is frozen.

    Raises:
        LoraError: as :func:`inject_adapter`; ValueError: the labels do not end with ``new_styles``.
    """
    cfg = denoiser.config
    labels = list(cfg.class_labels or [])
    if new_styles and labels[len(labels) - len(new_styles) :] != list(new_styles):
        raise ValueError(f"the denoiser's labels {labels} do not end with the new styles {new_styles}")
    denoiser.requires_grad_(False)
    if new_styles:
        weight = denoiser.label_embedding.weight.detach()
        keep = len(labels) - len(new_styles)
        base = nn.Embedding.from_pretrained(torch.cat([weight[:keep], weight[-1:]]).clone(), freeze=True)
        table = StyleTable(base)
        for i, style in enumerate(new_styles):
            table.add(TRAINING_ADAPTER, style, weight[keep + i], trainable=True)
        denoiser.label_embedding = table
    inject_adapter(denoiser, config, TRAINING_ADAPTER)
    for name, p in denoiser.named_parameters():
        if ".lora_" in name:
            p.requires_grad_(True)
    return [n for n, p in denoiser.named_parameters() if p.requires_grad]


def save_adapter(
    denoiser: nn.Module, folder: str | Path, base_sha256: str, base_labels: list[str], info: dict[str, Any]
) -> Path:
    """Write a trained adapter (the :func:`attach_for_training` form of ``denoiser``) to ``folder``.

    Writes ``adapter_config.json`` + ``adapter_model.safetensors`` (peft), ``style_embedding.safetensors``
    (if the adapter adds styles) and the ``audiogen_lora.json`` sidecar (``base_sha256``,
    ``base_labels``, the styles, the noise schedule and ``info``).

    Returns:
        ``folder``.
    """
    from peft import get_peft_model_state_dict

    from audiogen.models.pretrained import save_tensors_atomic, write_json_atomic

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = denoiser.peft_config[TRAINING_ADAPTER]
    config.save_pretrained(str(folder))
    state = get_peft_model_state_dict(denoiser, adapter_name=TRAINING_ADAPTER)
    save_tensors_atomic(folder / ADAPTER_WEIGHTS_NAME, state, metadata={"format": "pt"})
    table = denoiser.label_embedding
    styles = list(table.adapter_styles) if isinstance(table, StyleTable) else []
    if styles:
        rows = {style: table.rows[key] for key, _, style in table.owners}
        save_tensors_atomic(folder / STYLES_NAME, rows, metadata={"format": "pt"})
    sidecar = {
        "format": 1,
        "stage": "denoiser",
        "base_denoiser_sha256": base_sha256,
        "base_styles": list(base_labels),
        "styles": styles,
        "rescale_betas_zero_snr": bool(denoiser.config.rescale_betas_zero_snr),
        "rank": int(config.r),
        "lora_alpha": float(config.lora_alpha),
        "target_modules": sorted(config.target_modules),
        **info,
    }
    write_json_atomic(folder / SIDECAR_NAME, sidecar)
    return folder


# ------------------------------------------------------------------------------------------------
# finding and reading an adapter


def find_adapter_folder(path: str | Path) -> Path:
    """The denoiser adapter folder that ``path`` names: the folder itself, ``path/denoiser``
    (``RUN/lora``), ``path/lora/denoiser`` (a fine-tuning run folder).

    Raises:
        FileNotFoundError: none of them holds ``adapter_config.json`` (names ``path``).
    """
    path = Path(path)
    for folder in (path, path / "denoiser", path / "lora" / "denoiser"):
        if (folder / ADAPTER_CONFIG_NAME).is_file():
            return folder
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such LoRA adapter folder")
    raise FileNotFoundError(
        f"{path}: not a LoRA adapter (no {ADAPTER_CONFIG_NAME} in it, in denoiser/ or in lora/denoiser/)"
    )


#: The strengths the command line and the web app accept: 0 = off, 1 = as trained, above 1
#: exaggerates the adapter. A negative strength would subtract the adapter's change (the style
#: row moves away from the "no style" row the other way), which no test or listening covers; the
#: Python API (:meth:`~audiogen.pipelines.audiogen.AudioGenPipeline.load_lora`) still takes any
#: finite value.
LORA_STRENGTH_RANGE = (0.0, 2.0)


def parse_lora_spec(spec: str) -> tuple[Path, float]:
    """``"DIR"`` or ``"DIR:STRENGTH"`` → ``(DIR, strength)`` (default strength 1).

    Raises:
        ValueError: a strength that is not a number or outside :data:`LORA_STRENGTH_RANGE` (the
            message names ``--lora`` and the range).
    """
    path, sep, tail = spec.rpartition(":")
    if not sep or not path or "/" in tail:
        return Path(spec), 1.0
    try:
        strength = float(tail)
    except ValueError as e:
        raise ValueError(f"--lora {spec}: strength {tail!r} is not a number (DIR[:STRENGTH])") from e
    low, high = LORA_STRENGTH_RANGE
    if not low <= strength <= high:  # NaN fails too
        raise ValueError(
            f"--lora {spec}: strength must be in [{low:g}, {high:g}] (0 = off, 1 = as trained, "
            f"above 1 exaggerates), got {tail}"
        )
    return Path(path), strength


def read_adapter_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise LoraError(f"{path}: missing")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LoraError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise LoraError(f"{path}: expected a JSON object")
    return data


def load_adapter_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise LoraError(f"{path}: cannot read ({e})") from e


__all__ = [
    "ADAPTER_CONFIG_NAME",
    "ADAPTER_WEIGHTS_NAME",
    "DEFAULT_TARGETS",
    "SIDECAR_NAME",
    "STYLES_NAME",
    "LoraError",
    "StyleTable",
    "attach_for_training",
    "find_adapter_folder",
    "inject_adapter",
    "load_adapter_tensors",
    "lora_config",
    "LORA_STRENGTH_RANGE",
    "parse_lora_spec",
    "read_adapter_json",
    "save_adapter",
    "tuner_layers",
    "legacy_weights_sha256",
    "weights_sha256",
]
