"""``audiogen finetune`` run from the web app: the CLI command as a subprocess (so a run can be cancelled
and never blocks the model), its progress read from the run folder, its sample clips as they appear.

The run folder is the record: its ``finetune.json`` (the settings: steps, stages), each stage's
``train/<stage>/metrics.jsonl`` (the logged ``step``) and ``train/<stage>/samples/step-XXXXXXXX/`` (WAV +
PNG per validation), the result (``model_index.json``, or ``lora/denoiser/`` for an adapter) and
``finetune.log`` (the command's output, written once the run folder is the command's). :func:`read_run`
reads all of it, so a run can be followed from any page, or after the server restarted.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
from collections import deque
from dataclasses import dataclass, field, fields
from pathlib import Path

from audiogen.ui.errors import UIError

#: The command's output, kept in the run folder (from the moment the command has written its settings).
LOG_NAME = "finetune.log"
#: The settings file ``audiogen finetune`` writes first in a run folder
#: (``audiogen.training.finetune.SETTINGS_NAME``).
SETTINGS_NAME = "finetune.json"


def lora_supported() -> bool:
    """Whether this audiogen's ``finetune`` can train a LoRA adapter (``--lora RANK``)."""
    from audiogen.training.finetune import FinetuneConfig

    return any(f.name == "lora_rank" for f in fields(FinetuneConfig))


@dataclass
class FinetuneStatus:
    """A snapshot of a fine-tuning run.

    Attributes:
        steps: optimizer steps done per stage (``{stage: step}``, from ``metrics.jsonl``).
        totals: steps asked for per stage.
        samples: the newest validation sample folder's files (WAV and PNG), newest stage last.
        log: the last lines the command printed.
        returncode: ``None`` while it runs (or when it did not run in this server), then its exit status.
        result: the fine-tuned pipeline folder or adapter folder, once written.
        lora: whether the run trains a LoRA adapter.
        running: whether its command is running in this server.
        cancelled: whether it was cancelled from the page.
    """

    steps: dict[str, int]
    totals: dict[str, int]
    samples: list[Path] = field(default_factory=list)
    log: str = ""
    returncode: int | None = None
    result: Path | None = None
    lora: bool = False
    running: bool = False
    cancelled: bool = False

    @property
    def state(self) -> str:
        """``running``, ``done``, ``cancelled``, ``failed`` or ``stopped`` (not running, no result)."""
        if self.running:
            return "running"
        if self.cancelled:
            return "cancelled"
        if self.returncode not in (None, 0):
            return "failed"
        return "done" if self.result is not None else "stopped"

    @property
    def progress(self) -> str:
        """``denoiser 12/20`` per stage."""
        return ", ".join(f"{k} {self.steps[k]}/{self.totals[k]}" for k in self.steps)

    @property
    def fraction(self) -> float:
        """Steps done over steps asked for, all stages together, in [0, 1]."""
        total = sum(self.totals.values())
        return min(1.0, sum(self.steps.values()) / total) if total else 0.0

    @property
    def error(self) -> str:
        """The command's last ``error: ...`` line (without the prefix), or its last line."""
        lines = [ln for ln in self.log.splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("error: ")]
        if errors:
            return errors[-1][len("error: ") :]
        return lines[-1] if lines else f"exit status {self.returncode}"


class FinetuneJob:
    """One ``audiogen finetune SOURCE --out RUN ...`` subprocess.

    Args:
        source: folder of audio on the server.
        out: run folder (becomes a pipeline folder the app can select).
        steps: optimizer steps per stage.
        stages: ``"generator"``, ``"generator+vocoder"`` or ``"all"``.
        style: the collection's style name (``None``: the folder's name).
        base: the base pipeline folder (``None``: the bundled model).
        lora_rank: train a LoRA adapter of this rank instead (0: no; needs :func:`lora_supported`).

    Raises:
        UIError: a missing folder, bad steps or stages (before anything starts).
    """

    def __init__(
        self,
        source: str | Path,
        out: str | Path,
        steps: int,
        stages: str = "generator",
        style: str | None = None,
        base: str | Path | None = None,
        lora_rank: int = 0,
    ) -> None:
        from audiogen.training.finetune import STAGE_PLANS

        if not source or not Path(source).is_dir():
            raise UIError(f"{source}: no such folder")
        if not out:
            raise UIError("--out: give a run folder")
        if steps is None or steps < 1:
            raise UIError(f"--steps must be >= 1, got {steps}")
        if stages not in STAGE_PLANS:
            raise UIError(f"--stages must be one of {', '.join(STAGE_PLANS)}, got {stages!r}")
        if lora_rank and not lora_supported():
            raise UIError("--lora: this version of audiogen cannot fine-tune LoRA adapters")
        self.source, self.out = Path(source).resolve(), Path(out).resolve()
        self.lora = bool(lora_rank)
        self.stages = ("denoiser",) if lora_rank else STAGE_PLANS[stages]
        self.steps = int(steps)
        args = ["finetune", str(self.source), "--out", str(self.out), "--steps", str(self.steps)]
        args += ["--stages", stages] if not lora_rank else ["--lora", str(int(lora_rank))]
        if style:
            args += ["--style", style]
        if base is not None:
            args += ["--from", str(base)]
        self.args = args
        self.cancelled = False
        self._proc: subprocess.Popen[str] | None = None
        self._lines: deque[str] = deque(maxlen=40)
        self._reader: threading.Thread | None = None

    @property
    def command(self) -> str:
        """The same run as a shell command line."""
        return shlex.join(["audiogen", *self.args])

    def start(self) -> None:
        """Start the subprocess (its own process group, so :meth:`cancel` stops its children too)."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "audiogen.cli", *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        """Keep the command's last lines, and append them all to ``RUN/finetune.log`` once the command
        has made the run folder its own (``finetune.json`` written: a run that could not start leaves
        no folder behind)."""
        assert self._proc is not None and self._proc.stdout is not None
        pending: list[str] = []
        log = None
        try:
            for chunk in self._proc.stdout:
                lines = [ln.rstrip() for ln in chunk.replace("\r", "\n").splitlines() if ln.strip()]
                self._lines.extend(lines)
                pending += lines
                if log is None and (self.out / SETTINGS_NAME).is_file():
                    log = open(self.out / LOG_NAME, "a")  # noqa: SIM115 (open for the command's life)
                if log is not None and pending:
                    log.write("".join(f"{ln}\n" for ln in pending))
                    log.flush()
                    pending = []
        finally:
            if log is not None:
                log.close()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the command to end; returns its exit status."""
        assert self._proc is not None
        code = self._proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(5)
        return code

    def cancel(self) -> None:
        """Stop the run (SIGTERM to its process group, SIGKILL after 10 s). The run folder stays; the same
        settings resume it."""
        if not self.running:
            return
        assert self._proc is not None
        self.cancelled = True
        try:
            os.killpg(self._proc.pid, signal.SIGTERM)
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        except ProcessLookupError:
            pass

    def status(self) -> FinetuneStatus:
        """Progress from the run folder and the command's output."""
        st = read_run(self.out, self.stages, self.steps, lora=self.lora)
        st.log = "\n".join(self._lines)
        st.returncode = None if self._proc is None else self._proc.poll()
        st.running, st.cancelled = self.running, self.cancelled
        return st


def read_run(
    run: Path, stages: tuple[str, ...] | None = None, steps: int | None = None, lora: bool | None = None
) -> FinetuneStatus:
    """What the run folder ``run`` says of a fine-tune: steps per stage, newest samples, result, log.

    ``stages`` / ``steps`` / ``lora`` default to what ``RUN/finetune.json`` records (a run started
    elsewhere, or before the server restarted); without it the run has no stages yet.
    """
    import types

    from audiogen.training.finetune import STAGE_PLANS
    from audiogen.training.finetune_stages import stage_steps

    totals: dict[str, int] = {}
    try:
        settings = json.loads((run / SETTINGS_NAME).read_text())
    except (OSError, ValueError):
        settings = None
    if isinstance(settings, dict) and stages is None:
        lora = bool(settings.get("lora_rank"))
        stages = ("denoiser",) if lora else STAGE_PLANS.get(settings.get("stages", ""), ())
        config = types.SimpleNamespace(
            **{k: settings.get(k) for k in ("steps", "vocoder_steps", "autoencoder_steps")}
        )
        totals = {stage: int(stage_steps(config, stage) or 0) for stage in stages}
    stages = stages or ()
    totals = totals or {stage: int(steps or 0) for stage in stages}
    done, samples = {}, []
    for stage in stages:
        stage_dir = run / "train" / stage
        done[stage] = _last_step(stage_dir / "metrics.jsonl")
        folders = sorted((stage_dir / "samples").glob("step-*"))
        if folders:
            samples = sorted(p for p in folders[-1].iterdir() if p.suffix in (".wav", ".png"))
    result = run / "lora" / "denoiser" if lora else run
    marker = "adapter_config.json" if lora else "model_index.json"
    try:
        log = "\n".join((run / LOG_NAME).read_text(errors="replace").splitlines()[-40:])
    except OSError:
        log = ""
    return FinetuneStatus(
        steps=done,
        totals=totals,
        samples=samples,
        log=log,
        result=result if (result / marker).is_file() else None,
        lora=bool(lora),
    )


def _last_step(metrics: Path) -> int:
    """The largest ``step`` logged in a trainer's ``metrics.jsonl`` (0 if none)."""
    step = 0
    try:
        with open(metrics) as f:
            for line in f:
                try:
                    step = max(step, int(json.loads(line).get("step", 0)))
                except (ValueError, AttributeError):
                    continue
    except OSError:
        return 0
    return step
