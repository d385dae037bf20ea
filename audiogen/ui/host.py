"""The model behind the web app: one loaded pipeline kept between requests, the choice of model folder,
and cooperative cancellation of the job that is running.

Jobs run one at a time (:meth:`ModelHost.job` holds a lock; the page also queues them). A job gets a
:class:`CancelToken`; cancelling it makes the denoiser's next forward call raise :class:`JobCancelled`
(a forward pre-hook), so the sampler loop stops within one step and the worker is free again.

The base weights are shared by every browser session; LoRA adapters are not. A job names the adapters
it wants (:meth:`ModelHost.load` with ``loras``, or a session's
:class:`~audiogen.ui.session.SessionHost`), and inside the job's lock the pipeline's adapters are made
exactly those (:meth:`ModelHost.apply_loras`): what one session loads never reaches another's output.
"""

from __future__ import annotations

import contextlib
import ipaddress
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audiogen.ui.errors import JobCancelled, UIError  # raised here; importable from here as before


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an IP address) serves this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class CancelToken:
    """A flag a running job checks (through the denoiser hook); :meth:`cancel` sets it."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`JobCancelled` if cancelled."""
        if self._event.is_set():
            raise JobCancelled("cancelled")


@dataclass
class LoadedLora:
    """A LoRA adapter a session uses: the folder it was loaded from (for the CLI command) and its strength."""

    path: Path
    strength: float


@dataclass
class ModelHost:
    """Holds the loaded :class:`~audiogen.pipelines.audiogen.AudioGenPipeline`; runs jobs on it one at a time.

    Attributes:
        checkpoint: the pipeline folder given to ``audiogen ui --checkpoint`` (``None``: the bundled
            model, :data:`~audiogen.hub.DEFAULT_PIPELINE`).
        device: ``"cpu"`` or ``"cuda"``.
        runs_dir: folder where fine-tuning runs are written and looked for (each run folder with a
            ``model_index.json`` is offered as a model).
        out_dir: folder the results (audio, PNG) are written to.
    """

    checkpoint: Path | None
    device: str
    runs_dir: Path
    out_dir: Path
    _pipe: Any = field(default=None, init=False, repr=False)
    _pipe_path: Path | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _token: CancelToken | None = field(default=None, init=False, repr=False)
    _counter: int = field(default=0, init=False, repr=False)
    #: the adapters a job gets when it names none (``{}``: the base model)
    loras: dict[str, LoadedLora] = field(default_factory=dict, init=False)
    _finished: list[Path] = field(default_factory=list, init=False, repr=False)
    _finetunes: Any = field(default=None, init=False, repr=False)

    # ------------------------------------------------------------------ models
    @property
    def default_path(self) -> Path:
        """The model the page starts with: ``checkpoint`` or the bundled model."""
        from audiogen import hub

        return (self.checkpoint or hub.DEFAULT_PIPELINE).resolve()

    def is_bundled(self, path: str | Path) -> bool:
        from audiogen import hub

        return Path(path).resolve() == hub.DEFAULT_PIPELINE.resolve()

    def models(self) -> list[tuple[str, str]]:
        """``(label, folder)`` of every model the page offers: the start model, the runs in ``runs_dir``
        and the runs finished from the page elsewhere (:meth:`add_model`)."""
        from audiogen.hub import MODEL_INDEX_NAME

        first = self.default_path
        out = [(("bundled default" if self.is_bundled(first) else first.name) + f" ({first})", str(first))]
        runs = [i.parent.resolve() for i in sorted(self.runs_dir.glob(f"*/{MODEL_INDEX_NAME}"))]
        runs += [*self._finished, *(self._finetunes.folders() if self._finetunes is not None else [])]
        for run in [r for r in runs if (r / MODEL_INDEX_NAME).is_file()]:
            if str(run) not in [path for _, path in out]:
                out.append((f"{run.name} ({run})", str(run)))
        return out

    def add_model(self, path: str | Path) -> None:
        """Offer the pipeline folder ``path`` (a finished fine-tuning run) in :meth:`models`."""
        self._finished.append(Path(path).resolve())

    @property
    def finetunes(self) -> Any:
        """The server's fine-tuning runs (:class:`~audiogen.ui.runs.FinetuneRuns`), kept by the host so
        that they outlive the page that started them."""
        if self._finetunes is None:
            from audiogen.ui.runs import FinetuneRuns

            self._finetunes = FinetuneRuns(self.runs_dir)
        return self._finetunes

    @property
    def pipeline(self) -> Any:
        """The loaded pipeline (loads the start model on first use)."""
        if self._pipe is None:
            self.load(self.default_path)
        return self._pipe

    @property
    def pipeline_path(self) -> Path:
        self.pipeline  # noqa: B018 (loads it)
        assert self._pipe_path is not None
        return self._pipe_path

    def load(self, path: str | Path, loras: dict[str, LoadedLora] | None = None) -> Any:
        """Load the pipeline folder ``path`` unless it is the one loaded, with exactly the adapters ``loras``
        (``None``: :attr:`loras`) applied; returns it. Call it inside :meth:`job`.

        Raises:
            UIError: the folder or an adapter is missing or cannot be loaded (the CLI's messages).
        """
        pipe = self._load(path)
        self.apply_loras(pipe, self.loras if loras is None else loras)
        return pipe

    def _load(self, path: str | Path) -> Any:
        from audiogen.hub import MODEL_INDEX_NAME
        from audiogen.pipelines.audiogen import AudioGenPipeline

        path = Path(path).resolve()
        if self._pipe is not None and path == self._pipe_path:
            return self._pipe
        if self.is_bundled(path) and not (path / MODEL_INDEX_NAME).is_file():
            raise UIError(
                f"no model: the bundled default model is not installed ({path} has no {MODEL_INDEX_NAME}); "
                "pass --checkpoint DIR, a pipeline folder written by AudioGenPipeline.save_pretrained"
            )
        try:
            pipe = AudioGenPipeline.from_pretrained(path, device=self.device)
        except FileNotFoundError as e:
            raise UIError(str(e)) from e
        except ValueError as e:
            raise UIError(f"cannot load the pipeline in {path}: {e}") from e
        pipe.denoiser.register_forward_pre_hook(self._check_cancelled)
        self._pipe, self._pipe_path = pipe, path
        return pipe

    @staticmethod
    def apply_loras(pipe: Any, wanted: dict[str, LoadedLora]) -> None:
        """Make ``pipe``'s adapters exactly ``wanted`` (names, folders, order, strengths).

        Adapters already on the pipeline are kept as long as they match ``wanted`` from its start (same
        name and folder, in load order); the rest are unloaded and the missing ones loaded in order, so
        one set of adapters always gives the same layers and the same audio. ``{}`` restores the base
        exactly (:meth:`~audiogen.pipelines.audiogen.AudioGenPipeline.unload_lora`).

        Raises:
            UIError: an adapter cannot be loaded any more (its folder is gone or changed).
        """
        if not hasattr(pipe, "load_lora") or (not wanted and not pipe.loras):
            return
        from audiogen.models.lora import find_adapter_folder

        stack = pipe._lora_stack()
        loaded = list(stack.adapters.values())
        names = list(wanted)
        keep = 0
        while (
            keep < min(len(loaded), len(names))
            and loaded[keep].name == names[keep]
            and Path(loaded[keep].folder).resolve() == _adapter_folder(wanted[names[keep]].path)
        ):
            keep += 1
        for adapter in reversed(loaded[keep:]):
            pipe.unload_lora(adapter.name)
        for name in names:
            lora = wanted[name]
            try:
                if name in pipe.loras:
                    if pipe.loras[name] != lora.strength:
                        pipe.set_lora_strength(name, lora.strength)
                else:
                    pipe.load_lora(find_adapter_folder(lora.path), name=name, strength=lora.strength)
            except (FileNotFoundError, ValueError) as e:
                raise UIError(f"--lora {lora.path}: {e}") from e

    def _check_cancelled(self, module: Any, args: Any) -> None:
        token = self._token
        if token is not None:
            token.check()

    # ------------------------------------------------------------------ jobs
    @property
    def busy(self) -> bool:
        """Whether a job is running."""
        return self._lock.locked()

    @contextlib.contextmanager
    def job(self, token: CancelToken | None = None) -> Iterator[None]:
        """Run one job: waits for the running one, then makes ``token`` the one the denoiser checks.

        Raises:
            JobCancelled: ``token`` was cancelled before the job started.
        """
        token = token or CancelToken()
        with self._lock:
            token.check()
            self._token = token
            try:
                yield
            finally:
                self._token = None

    def new_output_dir(self, kind: str) -> Path:
        """A fresh folder ``out_dir/NNNN-kind`` for one result (called inside :meth:`job`)."""
        self._counter += 1
        folder = self.out_dir / f"{self._counter:04d}-{kind}"
        while folder.exists():
            self._counter += 1
            folder = self.out_dir / f"{self._counter:04d}-{kind}"
        folder.mkdir(parents=True)
        return folder


def _adapter_folder(path: Path) -> Path | None:
    from audiogen.models.lora import find_adapter_folder

    try:
        return find_adapter_folder(path).resolve()
    except FileNotFoundError:
        return None
