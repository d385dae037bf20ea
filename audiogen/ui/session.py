"""What one browser session of the web app owns: its LoRA adapters (folders and strengths), the model
they were loaded for, the fine-tuning runs it started. The page keeps a :class:`SessionState` in a
``gr.State`` (one copy per open page); jobs see the shared :class:`~audiogen.ui.host.ModelHost` through a
:class:`SessionHost`, which applies this session's adapters, and no other's, for the length of the job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audiogen.ui.host import LoadedLora, ModelHost, UIError

#: The most adapters one session stacks.
MAX_LORAS = 4


@dataclass
class SessionState:
    """One browser session's settings (kept in a ``gr.State``; deep-copied for every new page).

    Attributes:
        loras: the adapters this session loaded, ``{name: LoadedLora}`` in load order.
        lora_model: the model folder they were loaded onto (adapters belong to one base model).
        started: run folders of the fine-tunes this page started (selected in **model** once done).
        announced: those of them already announced as finished.
        seen: page values last sent by the fine-tune timer (to send only what changed).
    """

    loras: dict[str, LoadedLora] = field(default_factory=dict)
    lora_model: str | None = None
    started: list[str] = field(default_factory=list)
    announced: list[str] = field(default_factory=list)
    seen: dict[str, Any] = field(default_factory=dict)

    def loras_for(self, model: str | Path) -> dict[str, LoadedLora]:
        """The adapters to apply on ``model`` (none on another model than the one they were loaded for)."""
        if self.lora_model is None or Path(model).resolve() != Path(self.lora_model).resolve():
            return {}
        return self.loras


class SessionHost:
    """A :class:`~audiogen.ui.host.ModelHost` as one session sees it: the same loaded weights, lock and
    output folder, but :meth:`load` applies this session's adapters and :attr:`loras` lists them (for the
    CLI command). Everything else is the host's."""

    def __init__(self, host: ModelHost, state: SessionState) -> None:
        self.host = host
        self.state = state

    def __getattr__(self, name: str) -> Any:
        return getattr(self.host, name)

    @property
    def loras(self) -> dict[str, LoadedLora]:
        return self.state.loras_for(self.host.pipeline_path)

    def load(self, path: str | Path, loras: dict[str, LoadedLora] | None = None) -> Any:
        """The pipeline at ``path`` with this session's adapters (or ``loras``); call inside ``job``."""
        return self.host.load(path, self.state.loras_for(path) if loras is None else loras)

    # ------------------------------------------------------------------ adapters
    def add_lora(self, model: str | Path, path: str | Path) -> str:
        """Load the adapter ``path`` into this session at strength 1 (inside ``job``); returns its name.

        The same adapter folder again is a no-op (its strength stays). Other sessions are unaffected.

        Raises:
            UIError: no folder given, too many adapters, or the adapter cannot be loaded (the CLI's message).
        """
        from audiogen.models.lora import find_adapter_folder

        if not path or not str(path).strip():
            raise UIError("--lora: give an adapter folder")
        path = Path(str(path).strip()).expanduser()
        try:
            folder = find_adapter_folder(path).resolve()
        except FileNotFoundError as e:
            raise UIError(f"--lora {e}") from e
        mine = self.state.loras_for(model)
        for name, lora in mine.items():
            if find_adapter_folder(lora.path).resolve() == folder:
                return name
        if len(mine) >= MAX_LORAS:
            raise UIError(f"--lora: at most {MAX_LORAS} adapters at once")
        pipe = self.host.load(model, mine)
        try:
            name = pipe.load_lora(folder, strength=1.0)
        except (FileNotFoundError, ValueError) as e:
            raise UIError(f"--lora {path}: {e}") from e
        self.state.loras = {**mine, name: LoadedLora(path.resolve(), 1.0)}
        self.state.lora_model = str(Path(model).resolve())
        return name

    def clear_loras(self) -> None:
        """Forget this session's adapters (the next job runs on the base model)."""
        self.state.loras = {}
        self.state.lora_model = None

    def set_strength(self, index: int, strength: float) -> None:
        """Set the strength of this session's ``index``-th adapter (used from the next job on).

        Raises:
            UIError: a strength that is not a finite number.
        """
        import math

        names = list(self.state.loras)
        if index >= len(names):
            return
        if strength is None or not math.isfinite(strength):
            raise UIError(f"--lora strength must be a finite number, got {strength}")
        self.state.loras[names[index]].strength = float(strength)
