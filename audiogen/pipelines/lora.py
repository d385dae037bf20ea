"""LoRA adapters on :class:`~audiogen.pipelines.audiogen.AudioGenPipeline`: load, stack, unload, fuse.

:class:`LoraMixin` gives the pipeline its ``load_lora`` / ``set_lora_strength`` / ``unload_lora`` /
``fuse_lora`` methods; they delegate to the pipeline's :class:`LoraStack`, which keeps the base
denoiser's label table, noise schedule and weight hash so that unloading the last adapter restores
the base exactly. What an adapter is (the peft layers, the folder, the style rows, training and
saving one) is :mod:`audiogen.models.lora`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audiogen.models.lora import (
    ADAPTER_CONFIG_NAME,
    ADAPTER_WEIGHTS_NAME,
    SIDECAR_NAME,
    STYLES_NAME,
    TRAINING_ADAPTER,
    LoraError,
    find_adapter_folder,
    inject_adapter,
    legacy_weights_sha256,
    load_adapter_tensors,
    read_adapter_json,
    tuner_layers,
    weights_sha256,
)
from audiogen.models.lora_styles import StyleTable, set_labels


@dataclass
class LoadedAdapter:
    """An adapter on a pipeline: its folder, strength, styles and noise schedule."""

    name: str
    folder: Path
    strength: float
    styles: list[str]
    zero_snr: bool
    sidecar: dict[str, Any] = field(default_factory=dict)


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
        self.legacy_sha256 = legacy_weights_sha256(den)  # adapters saved before the blocks' layout change
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
        sidecar = read_adapter_json(sidecar_path)
        recorded = sidecar.get("base_denoiser_sha256")
        if recorded != self.base_sha256 and recorded != self.legacy_sha256:
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
        state = load_adapter_tensors(folder / ADAPTER_WEIGHTS_NAME)
        rows = load_adapter_tensors(folder / STYLES_NAME) if styles else {}
        den = self.pipeline.denoiser
        dim = self.base_embedding.weight.shape[1] if self.base_embedding is not None else None
        for style in styles:
            if style not in rows or rows[style].shape != (dim,):
                raise LoraError(
                    f"{folder / STYLES_NAME}: no row of shape ({dim},) for style {style!r} "
                    "(made for another base)"
                )
        inject_adapter(den, config, name)
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
        for layer in tuner_layers(den):
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
            for layer in tuner_layers(den):
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
        for layer in tuner_layers(den):
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


class LoraMixin:
    """``load_lora``, ``set_lora_strength``, ``unload_lora``, ``fuse_lora`` and ``loras``."""

    def _lora_stack(self) -> Any:
        if getattr(self, "_lora", None) is None:
            self._lora = LoraStack(self)
        return self._lora

    @property
    def loras(self) -> dict[str, float]:
        """The loaded LoRA adapters, ``{name: strength}`` in load order (``{}``: none)."""
        stack = getattr(self, "_lora", None)
        return stack.summary() if stack is not None else {}

    def load_lora(self, path: str | Path, name: str | None = None, strength: float = 1.0) -> str:
        """Load a LoRA adapter of the denoiser (``audiogen finetune --lora``) at ``strength``; they stack.

        Its styles join :attr:`styles` (with CFG as the built-in ones); see :mod:`audiogen.models.lora`.

        Args:
            path: the adapter folder, ``RUN/lora`` or the fine-tuning run folder ``RUN``.
            name: the adapter's name (default: its first style, else its folder's name).
            strength: 0 = off (output bit-identical to the base), 1 = as trained; any finite value.

        Returns:
            The adapter's name.

        Raises:
            FileNotFoundError: no adapter at ``path``.
            audiogen.models.lora.LoraError: a corrupt adapter, or one made for another base model
                (one line naming the file), a name or style already loaded.
        """
        return self._lora_stack().load(path, name=name, strength=strength)

    def set_lora_strength(self, name: str, strength: float) -> None:
        """Set a loaded adapter's strength. Raises ``KeyError`` for an unknown name."""
        self._lora_stack().set_strength(name, strength)

    def unload_lora(self, name: str) -> None:
        """Remove a loaded adapter (the base is restored exactly when none is left). Raises ``KeyError``."""
        self._lora_stack().unload(name)

    def fuse_lora(self) -> None:
        """Merge the loaded adapters at their strengths into the denoiser's weights (faster; final).

        The result is a plain pipeline (``save_pretrained`` writes it); strengths cannot change after.
        """
        self._lora_stack().fuse()
        self._lora = None
