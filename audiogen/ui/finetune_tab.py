"""The **Fine-tune** tab: start ``audiogen finetune`` as a background run of the server
(:class:`~audiogen.ui.runs.FinetuneRuns`), and follow every run of the server, its progress, samples,
log and result, from any page (a timer reads the run folders once a second)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from audiogen.ui.components import no_share
from audiogen.ui.finetune_job import FinetuneJob, FinetuneStatus, lora_supported
from audiogen.ui.host import ModelHost, UIError
from audiogen.ui.messages import error_markdown, in_page_words
from audiogen.ui.runs import RESUME_HINT
from audiogen.ui.session import SessionState

#: Seconds between two looks at the run folders.
POLL_SECONDS = 1.0


def describe(run: Path, st: FinetuneStatus) -> str:
    """The run's state in a sentence (what to do next included)."""
    steps = f"{st.progress} steps" if st.steps else "preparing the data"
    if st.state == "running":
        return f"**running**: {steps}. It goes on if this page is closed; Cancel stops it."
    if st.state == "done":
        where = "load it under *LoRA adapters*" if st.lora else "it is offered in **model** above"
        return f"**done**: {steps}; the result is {st.result} ({where})."
    if st.state == "cancelled":
        return f"**cancelled** at {steps}. {RESUME_HINT}"
    if st.state == "failed":
        return f"**failed**: {in_page_words(_last_error(st), 'finetune')}"
    return f"**stopped** at {steps} (not running in this server). {RESUME_HINT}"


def _last_error(st: FinetuneStatus) -> str:
    lines = [ln for ln in st.log.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    return (errors or lines or [f"exit status {st.returncode}"])[-1]


def runs_table(host: ModelHost, folders: list[Path]) -> str:
    """A Markdown table of the server's runs: folder, state, steps."""
    if not folders:
        return "No fine-tuning runs yet."
    rows = ["| run folder | state | steps |", "|---|---|---|"]
    for run in folders:
        st = host.finetunes.status(run)
        rows.append(f"| `{run}` | {st.state} | {st.progress or '-'} |")
    return "\n".join(rows)


def build_finetune_tab(host: ModelHost, state: gr.State, model: gr.Dropdown, lora_path: Any) -> None:
    """The tab's components and events (``lora_path``: the adapter box a finished LoRA run fills, or
    ``None``)."""
    with gr.Tab("Fine-tune", elem_id="tab-finetune"):
        gr.Markdown(
            "Runs `audiogen finetune` on a folder of this server, in the background: the run belongs to the "
            "server, so closing this page does not stop it, and every page lists it below. **Cancel** stops "
            "it; starting it again with the same settings resumes it."
        )
        with gr.Row():
            source = gr.Textbox(label="Audio folder on the server", elem_id="finetune-source")
            out = gr.Textbox(str(host.runs_dir / "my-sounds"), label="Run folder", elem_id="finetune-out")
            style = gr.Textbox(label="Style name (default: the folder's name)", elem_id="finetune-style")
        with gr.Row():
            steps = gr.Number(500, label="Steps", precision=0, elem_id="finetune-steps")
            stages = gr.Radio(
                ["generator", "generator+vocoder", "all"],
                value="generator",
                label="Stages",
                elem_id="finetune-stages",
            )
            lora = gr.Number(
                0,
                label="LoRA rank (0: fine-tune the stages)",
                precision=0,
                visible=lora_supported(),
                elem_id="finetune-lora",
            )
        run_button = gr.Button("Fine-tune", variant="primary", elem_id="finetune-run")
        status = gr.Markdown(elem_id="finetune-status")
        gr.Markdown("### Runs of this server")
        table = gr.Markdown(elem_id="finetune-runs")
        with gr.Row():
            selected = gr.Dropdown(
                [], label="Run", scale=4, allow_custom_value=False, elem_id="finetune-run-folder"
            )
            cancel = gr.Button("Cancel", scale=0, elem_id="finetune-cancel")
        progress = gr.Markdown(elem_id="finetune-progress")
        with gr.Row():
            gallery = gr.Gallery(
                label="sample spectrograms",
                columns=2,
                elem_id="finetune-gallery",
                **no_share(gr.Gallery, ("download", "fullscreen")),
            )
            with gr.Column():
                sample = gr.Audio(
                    label="newest sample",
                    type="filepath",
                    interactive=False,
                    elem_id="finetune-audio",
                    **no_share(gr.Audio),
                )
                files = gr.File(
                    label="sample clips", file_count="multiple", interactive=False, elem_id="finetune-files"
                )
        log = gr.Textbox(label="log", lines=6, max_lines=12, interactive=False, elem_id="finetune-log")
        command = gr.Code(
            label="the same run from the CLI", language="shell", interactive=False, elem_id="finetune-command"
        )
        timer = gr.Timer(POLL_SECONDS)

    def on_start(
        s: SessionState, src: str, run: str, name: str, n: float, plan: str, rank: float
    ) -> list[Any]:
        try:
            job = FinetuneJob(
                src, run, int(n) if n is not None else 0, plan, name or None, lora_rank=int(rank or 0)
            )
            host.finetunes.start(job)
        except UIError as e:
            return [s, error_markdown(str(e), "finetune"), gr.skip()]
        s.started.append(str(job.out))
        folders = [str(f) for f in host.finetunes.folders()]
        s.seen["choices"] = folders
        message = (
            f"Started fine-tuning `{job.out}` in the background: it goes on if you close this page, and "
            "any page follows it under *Runs of this server*."
        )
        return [s, message, gr.Dropdown(choices=folders, value=str(job.out))]

    def on_cancel(run: str) -> str:
        try:
            return host.finetunes.cancel(run)
        except UIError as e:
            return error_markdown(str(e), "finetune")

    details = [progress, log, gallery, sample, files, command]
    extra = [lora_path] if lora_path is not None else []

    def on_tick(s: SessionState, run: str | None) -> list[Any]:
        folders = [str(f) for f in host.finetunes.folders()]
        run = run if run in folders else (folders[0] if folders else None)
        choices = gr.skip()
        if folders != s.seen.get("choices") or run != s.seen.get("run"):
            choices = gr.Dropdown(choices=folders, value=run)
        s.seen["choices"], s.seen["run"] = folders, run
        shown = [gr.skip()] * len(details) if run is None else _details(s, Path(run))
        return [s, runs_table(host, [Path(f) for f in folders]), choices, *shown, *_announce(s)]

    def _details(s: SessionState, run: Path) -> list[Any]:
        st = host.finetunes.status(run)
        job = host.finetunes.jobs.get(run.resolve())
        key = [str(p) for p in st.samples]
        media: list[Any] = [gr.skip()] * 3
        if key != s.seen.get("samples"):
            s.seen["samples"] = key
            wavs = [p for p in key if p.endswith(".wav")]
            media = [[p for p in key if p.endswith(".png")], wavs[0] if wavs else None, wavs or None]
        return [describe(run, st), st.log, *media, job.command if job is not None else ""]

    def _announce(s: SessionState) -> list[Any]:
        """Select a run this page started in **model** (or the adapter box) once it is done; else offer
        the models as they are now."""
        for run in s.started:
            if run in s.announced:
                continue
            st = host.finetunes.status(run)
            if st.state != "done":
                continue
            s.announced.append(run)
            if st.lora:
                return [gr.skip(), *([str(run)] if extra else [])]
            host.add_model(run)
            s.seen["models"] = host.models()
            return [gr.Dropdown(choices=host.models(), value=run), *([gr.skip()] if extra else [])]
        models = host.models()
        update = gr.skip() if models == s.seen.get("models") else gr.Dropdown(choices=models)
        s.seen["models"] = models
        return [update, *([gr.skip()] if extra else [])]

    run_button.click(
        on_start,
        [state, source, out, style, steps, stages, lora],
        [state, status, selected],
        api_name="finetune",
        concurrency_id="finetune",
    )
    cancel.click(on_cancel, [selected], [status], api_name="cancel_finetune", concurrency_id="finetune")
    timer.tick(
        on_tick,
        [state, selected],
        [state, table, selected, *details, model, *extra],
        api_name="finetune_runs",
        concurrency_id="finetune-status",
        concurrency_limit=None,
    )
