"""The fine-tunes the web app's server runs in the background, keyed by run folder.

A run started from a page belongs to the server, not to the page: closing the tab leaves it running,
and every page (one opened later included) lists it with its progress, read from the run folder
(:func:`~audiogen.ui.finetune_job.read_run`). Cancel stops one on purpose; starting the same settings
again resumes it from its newest checkpoint. When the server exits, its runs are stopped the same way.
"""

from __future__ import annotations

import atexit
import threading
from pathlib import Path

from audiogen.ui.errors import UIError
from audiogen.ui.finetune_job import SETTINGS_NAME, FinetuneJob, FinetuneStatus, read_run

RESUME_HINT = (
    "The run folder keeps its newest checkpoint (written with every validation sample): start "
    "Fine-tune again with the same settings to resume from it."
)


class FinetuneRuns:
    """The server's fine-tuning runs: those started here (their subprocesses) and the run folders in
    ``runs_dir`` (``*/finetune.json``).

    Args:
        runs_dir: the folder the page offers for new runs; runs found there are listed too.
    """

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = Path(runs_dir)
        self.jobs: dict[Path, FinetuneJob] = {}
        self._lock = threading.Lock()
        atexit.register(self.close)

    def start(self, job: FinetuneJob) -> FinetuneJob:
        """Start ``job`` in the background (it outlives the request and the page).

        Raises:
            UIError: a run is already going on in that run folder.
        """
        with self._lock:
            running = self.jobs.get(job.out)
            if running is not None and running.running:
                raise UIError(f"--out {job.out}: this run is already fine-tuning; cancel it first")
            job.start()
            self.jobs[job.out] = job
        return job

    def folders(self) -> list[Path]:
        """Every known run folder: started here (newest first), then the runs in ``runs_dir`` by name."""
        started = list(reversed(self.jobs))
        found = sorted(p.parent.resolve() for p in self.runs_dir.glob(f"*/{SETTINGS_NAME}"))
        return started + [p for p in found if p not in self.jobs]

    def status(self, run: str | Path) -> FinetuneStatus:
        """The run's progress (the job's, with its output and exit status, when it was started here)."""
        run = Path(run).resolve()
        job = self.jobs.get(run)
        return job.status() if job is not None else read_run(run)

    def cancel(self, run: str | Path | None) -> str:
        """Stop the run in ``run`` (waits for it to end); returns the message for the page.

        Raises:
            UIError: no run of this server is fine-tuning there.
        """
        job = self.jobs.get(Path(run).resolve()) if run else None
        if job is None or not job.running:
            raise UIError(f"{run or 'no run selected'}: no fine-tune of this server is running there")
        job.cancel()
        st = job.status()
        return f"Cancelled {job.out} at {st.progress} steps. {RESUME_HINT}"

    def close(self) -> None:
        """Stop every run still going (the server is exiting)."""
        for job in list(self.jobs.values()):
            job.cancel()
