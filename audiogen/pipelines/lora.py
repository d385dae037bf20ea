"""LoRA adapters on :class:`~audiogen.pipelines.audiogen.AudioGenPipeline`: thin delegations to
:class:`audiogen.models.lora.LoraStack` (load, stack, strength, unload, fuse)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class LoraMixin:
    """``load_lora``, ``set_lora_strength``, ``unload_lora``, ``fuse_lora`` and ``loras``."""

    def _lora_stack(self) -> Any:
        from audiogen.models.lora import LoraStack

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
