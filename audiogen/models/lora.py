"""LoRA adapters on the latent denoiser with Hugging Face ``peft``: attach, stack, strength, fuse, unload.

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
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audiogen.models.lora_styles import StyleTable, set_labels

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


def weights_sha256(module: nn.Module) -> str:
    """SHA-256 of a module's state (names, shapes and float32 values, in name order): the base's identity."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        h.update(f"{name}{tuple(tensor.shape)}".encode())
        h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _tuner_layers(module: nn.Module) -> list[Any]:
    from peft.tuners.tuners_utils import BaseTunerLayer

    return [m for m in module.modules() if isinstance(m, BaseTunerLayer)]


def _inject(denoiser: nn.Module, config: Any, name: str) -> None:
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
        LoraError: as :func:`_inject`; ValueError: the labels do not end with ``new_styles``.
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
    _inject(denoiser, config, TRAINING_ADAPTER)
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
# loading onto a pipeline


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


def parse_lora_spec(spec: str) -> tuple[Path, float]:
    """``"DIR"`` or ``"DIR:STRENGTH"`` → ``(DIR, strength)`` (default strength 1).

    Raises:
        ValueError: a strength that is not a finite number.
    """
    path, sep, tail = spec.rpartition(":")
    if not sep or not path or "/" in tail:
        return Path(spec), 1.0
    try:
        strength = float(tail)
    except ValueError as e:
        raise ValueError(f"--lora {spec}: strength {tail!r} is not a number (DIR[:STRENGTH])") from e
    if strength != strength or strength in (float("inf"), float("-inf")):
        raise ValueError(f"--lora {spec}: strength must be finite")
    return Path(path), strength


@dataclass
class LoadedAdapter:
    """An adapter on a pipeline: its folder, strength, styles and noise schedule."""

    name: str
    folder: Path
    strength: float
    styles: list[str]
    zero_snr: bool
    sidecar: dict[str, Any] = field(default_factory=dict)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise LoraError(f"{path}: missing")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LoraError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise LoraError(f"{path}: expected a JSON object")
    return data


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise LoraError(f"{path}: cannot read ({e})") from e


class LoraStack:
    """The adapters loaded on one pipeline (what :meth:`AudioGenPipeline.load_lora` and friends call).

    Keeps the base's label embedding, labels, noise schedule and weight hash so that unloading the
    last adapter restores the base exactly.

    Args:
        pipeline: the :class:`~audiogen.pipelines.audiogen.AudioGenPipeline` (its denoiser must be
            free of LoRA).
    """

    def __init__(self, pipeline: Any) -> None:
        den = pipeline.denoiser
        self.pipeline = pipeline
        self.base_sha256 = weights_sha256(den)
        self.base_config = den.config
        self.base_labels = list(pipeline.styles)
        self.base_embedding = den.label_embedding
        self.base_scheduler = pipeline.scheduler
        self.adapters: dict[str, LoadedAdapter] = {}

    # -------------------------------------------------------------- adapters
    def load(self, path: str | Path, name: str | None = None, strength: float = 1.0) -> str:
        """Load the adapter at ``path`` (see :func:`find_adapter_folder`) as ``name``; returns the name.

        Raises:
            FileNotFoundError: no adapter there.
            LoraError: a corrupt file, an adapter made for another base (hash or shapes; names the file),
                a name already loaded, or a style the pipeline already has.
        """
        from peft import LoraConfig, set_peft_model_state_dict

        folder = find_adapter_folder(path)
        sidecar_path = folder / SIDECAR_NAME
        sidecar = _read_json(sidecar_path)
        recorded = sidecar.get("base_denoiser_sha256")
        if recorded != self.base_sha256:
            raise LoraError(
                f"{sidecar_path}: this adapter was made for another base model (base denoiser SHA-256 "
                f"{str(recorded)[:12]}..., this pipeline's {self.base_sha256[:12]}...)"
            )
        styles = [str(s) for s in sidecar.get("styles", [])]
        if name is None:
            name = (
                styles[0]
                if styles
                else folder.parent.parent.name
                if folder.parent.name == "lora"
                else folder.name
            )
        name = re.sub(r"[^0-9A-Za-z_-]+", "_", str(name)) or "lora"
        if name in self.adapters or name == TRAINING_ADAPTER:
            raise LoraError(f"{folder}: an adapter named {name!r} is already loaded (pass another name)")
        clash = sorted(set(styles) & set(self.pipeline.styles))
        if clash:
            raise LoraError(f"{sidecar_path}: style(s) {clash} already exist on this pipeline")
        if styles and self.base_embedding is None:
            raise LoraError(
                f"{sidecar_path}: the adapter adds styles but this pipeline's denoiser is unconditional"
            )
        try:
            config = LoraConfig.from_pretrained(str(folder))
        except (ValueError, TypeError, OSError) as e:
            raise LoraError(f"{folder / ADAPTER_CONFIG_NAME}: not a peft LoRA config ({e})") from e
        state = _load_tensors(folder / ADAPTER_WEIGHTS_NAME)
        rows = _load_tensors(folder / STYLES_NAME) if styles else {}
        den = self.pipeline.denoiser
        dim = self.base_embedding.weight.shape[1] if self.base_embedding is not None else None
        for style in styles:
            if style not in rows or rows[style].shape != (dim,):
                raise LoraError(
                    f"{folder / STYLES_NAME}: no row of shape ({dim},) for style {style!r} "
                    "(made for another base)"
                )
        _inject(den, config, name)
        try:
            result = set_peft_model_state_dict(den, state, adapter_name=name)
        except RuntimeError as e:
            self._remove_layers(name)
            first = str(e).strip().splitlines()
            detail = next(
                (line.strip() for line in first if "size mismatch" in line), first[-1] if first else ""
            )
            raise LoraError(
                f"{folder / ADAPTER_WEIGHTS_NAME}: does not fit this pipeline's denoiser "
                f"(made for another base: {detail})"
            ) from e
        missing = [k for k in result.missing_keys if f".{name}." in k and ".lora_" in k]
        if result.unexpected_keys or missing:
            self._remove_layers(name)
            raise LoraError(
                f"{folder / ADAPTER_WEIGHTS_NAME}: does not fit this pipeline's denoiser (made for another "
                f"base: unexpected {list(result.unexpected_keys)[:3]}, missing {missing[:3]})"
            )
        if styles:
            table = self._table()
            for style in styles:
                table.add(name, style, rows[style].to(table.base.weight))
        zero = bool(sidecar.get("rescale_betas_zero_snr", self.base_config.rescale_betas_zero_snr))
        self.adapters[name] = LoadedAdapter(name, folder, float(strength), styles, zero, sidecar)
        self.refresh()
        return name

    def _table(self) -> StyleTable:
        den = self.pipeline.denoiser
        if not isinstance(den.label_embedding, StyleTable):
            den.label_embedding = StyleTable(self.base_embedding)
        return den.label_embedding

    def set_strength(self, name: str, strength: float) -> None:
        """Set adapter ``name``'s strength (0: off, 1: as trained; any finite value).

        Raises:
            KeyError: no adapter of that name (lists the loaded ones).
            ValueError: a strength that is not finite.
        """
        self._get(name)
        if not torch.isfinite(torch.tensor(float(strength))):
            raise ValueError(f"LoRA strength must be finite, got {strength}")
        self.adapters[name].strength = float(strength)
        self.refresh()

    def _get(self, name: str) -> LoadedAdapter:
        if name not in self.adapters:
            raise KeyError(f"no LoRA adapter {name!r} is loaded (loaded: {sorted(self.adapters) or 'none'})")
        return self.adapters[name]

    def _remove_layers(self, name: str) -> None:
        den = self.pipeline.denoiser
        for layer in _tuner_layers(den):
            if name in layer.lora_A:
                layer.delete_adapter(name)
        getattr(den, "peft_config", {}).pop(name, None)
        if not any(n != name for n in self.adapters):  # none left: the plain base layers again
            _unwrap(den)
            if hasattr(den, "peft_config"):
                del den.peft_config

    def unload(self, name: str) -> None:
        """Remove adapter ``name``; with none left the denoiser is the base again (bit-identical).

        Raises:
            KeyError: no adapter of that name.
        """
        self._get(name)
        self._remove_layers(name)
        den = self.pipeline.denoiser
        if isinstance(den.label_embedding, StyleTable):
            den.label_embedding.remove(name)
        del self.adapters[name]
        if not self.adapters:
            den.label_embedding = self.base_embedding
        self.refresh()

    def fuse(self) -> None:
        """Merge every adapter at its strength into the base weights and drop the LoRA layers.

        Afterwards the pipeline is a plain one (``save_pretrained`` writes it); strengths can no
        longer change and the adapters' styles are ordinary label rows.
        """
        den = self.pipeline.denoiser
        active = [n for n, a in self.adapters.items() if a.strength != 0.0]
        with torch.no_grad():
            for layer in _tuner_layers(den):
                names = [n for n in active if n in layer.lora_A]
                if names:
                    layer.merge(adapter_names=names)
            _unwrap(den)
            if isinstance(den.label_embedding, StyleTable):
                den.label_embedding = nn.Embedding.from_pretrained(
                    den.label_embedding.table().detach().clone(), freeze=False
                )
        if hasattr(den, "peft_config"):
            del den.peft_config
        self.adapters = {}

    # -------------------------------------------------------------- state
    def refresh(self) -> None:
        """Apply the strengths: active adapters and scales per layer, style rows, labels, noise schedule."""
        den = self.pipeline.denoiser
        active = [n for n, a in self.adapters.items() if a.strength != 0.0]
        for layer in _tuner_layers(den):
            layer.set_adapter([n for n in active if n in layer.lora_A])
            for n in active:
                layer.set_scale(n, self.adapters[n].strength)
        den.requires_grad_(False)
        if isinstance(den.label_embedding, StyleTable):
            table = den.label_embedding
            table.strengths = {n: a.strength for n, a in self.adapters.items()}
            set_labels(den, self.base_labels, table)
        else:
            den.config = dataclasses.replace(
                den.config,
                num_classes=self.base_config.num_classes,
                class_labels=self.base_config.class_labels,
            )
        base_zero = bool(self.base_config.rescale_betas_zero_snr)
        zero = base_zero
        if any(self.adapters[n].zero_snr != base_zero for n in active):
            zero = not base_zero
        den.config = dataclasses.replace(den.config, rescale_betas_zero_snr=zero)
        if zero == base_zero:
            self.pipeline.scheduler = self.base_scheduler
        else:
            sched = self.base_scheduler
            self.pipeline.scheduler = type(sched).from_config(sched.config, rescale_betas_zero_snr=zero)

    def summary(self) -> dict[str, float]:
        """``{adapter name: strength}`` in load order."""
        return {n: a.strength for n, a in self.adapters.items()}


def _unwrap(module: nn.Module) -> None:
    """Replace every peft LoRA layer under ``module`` by its base layer (weights as they are now)."""
    for parent in list(module.modules()):
        for child_name, child in list(parent.named_children()):
            from peft.tuners.tuners_utils import BaseTunerLayer

            if isinstance(child, BaseTunerLayer):
                setattr(parent, child_name, child.get_base_layer())


__all__ = [
    "ADAPTER_CONFIG_NAME",
    "ADAPTER_WEIGHTS_NAME",
    "DEFAULT_TARGETS",
    "SIDECAR_NAME",
    "STYLES_NAME",
    "LoraError",
    "LoraStack",
    "StyleTable",
    "attach_for_training",
    "find_adapter_folder",
    "lora_config",
    "parse_lora_spec",
    "save_adapter",
    "weights_sha256",
]
