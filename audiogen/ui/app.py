"""The Gradio page of ``audiogen ui``: tabs that mirror the CLI (Generate, Loop, Variation, Extend /
Inpaint, Fine-tune), each calling :mod:`audiogen.ui.jobs` on one :class:`~audiogen.ui.host.ModelHost`.

Every model job is queued behind one worker (``concurrency_id="model"``); it runs in a thread while its
async handler waits, so cancelling the request (the tab's Cancel button, a closed page, an API client's
cancel) cancels the job's token and the denoiser stops at its next step before the worker is released.

Each page has its own :class:`~audiogen.ui.session.SessionState` (a ``gr.State``): its LoRA adapters are
applied for its own jobs only. Errors stay on the tab's status line, next to its form, in the page's
words (:mod:`audiogen.ui.messages`). Fine-tunes run in the background (:mod:`audiogen.ui.finetune_tab`).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from audiogen.ui import edit_job, jobs
from audiogen.ui.components import (
    ResultPanel,
    SamplingControls,
    run_job,
    run_tab,
    sampling,
    style_boxes,
    style_updates,
)
from audiogen.ui.finetune_tab import build_finetune_tab
from audiogen.ui.host import CancelToken, ModelHost, UIError
from audiogen.ui.lora_panel import LoraPanel
from audiogen.ui.messages import error_markdown
from audiogen.ui.session import SessionHost, SessionState
from audiogen.ui.stream_tab import build_stream_tab


def build_app(host: ModelHost) -> gr.Blocks:
    """The page for ``host`` (loads its start model to read the styles and default CFG scale)."""
    from audiogen.pipelines.audiogen import AudioGenPipeline

    pipe = host.pipeline
    styles, cfg_scale, steps = list(pipe.styles), float(pipe.cfg_scale), int(pipe.steps)
    has_edit = hasattr(AudioGenPipeline, "extend") and hasattr(AudioGenPipeline, "inpaint")
    has_lora = hasattr(AudioGenPipeline, "load_lora")
    model_queue = dict(concurrency_id="model", concurrency_limit=1)

    with gr.Blocks(title="audiogen") as app:
        gr.Markdown("# audiogen\nGenerate, loop, vary, edit and fine-tune with the pipeline the CLI uses.")
        state = gr.State(SessionState(seen={"models": host.models()}))  # one copy per page
        with gr.Row():
            model = gr.Dropdown(
                host.models(),
                value=str(host.default_path),
                label="Model",
                scale=4,
                allow_custom_value=True,  # runs finished after the page was built (host.load checks them)
                elem_id="model",
            )
            refresh = gr.Button("refresh models", scale=0, elem_id="refresh-models")
            fmt = gr.Radio(
                list(jobs.AUDIO_FORMATS), value="wav", label="Download format", scale=1, elem_id="format"
            )
        model_status = gr.Markdown(elem_id="model-status")
        lora = LoraPanel.build() if has_lora else None
        tab_controls: list[SamplingControls] = []

        # ------------------------------------------------------------------ Generate
        with gr.Tab("Generate", elem_id="tab-generate"):
            g = SamplingControls.build("generate", styles, cfg_scale, steps)
            with gr.Row():
                g_seconds = gr.Number(10.0, label="Seconds", elem_id="generate-seconds")
                g_num = gr.Slider(
                    1, jobs.MAX_CLIPS, value=1, step=1, label="Number of clips", elem_id="generate-num"
                )
            with gr.Row():
                g_run = gr.Button("Generate", variant="primary", elem_id="generate-run")
                g_cancel = gr.Button("Cancel", elem_id="generate-cancel")
            g_out = ResultPanel.build("generate", jobs.MAX_CLIPS)
        tab_controls.append(g)

        async def on_generate(
            st, m, f, style, seed, steps, cfg, sampler, negative, seconds, num,
            progress=gr.Progress(track_tqdm=True),
        ):  # fmt: skip
            s = sampling(f, style, seed, steps, cfg, sampler, negative)
            session = SessionHost(host, st)
            return await run_tab(g_out, "generate", jobs.generate, session, m, s, seconds, int(num or 0))

        g_out.clear(g_run)
        g_event = g_run.click(
            on_generate,
            [state, model, fmt, *g.inputs, g_seconds, g_num],
            g_out.outputs,
            api_name="generate",
            **model_queue,
        )
        g_cancel.click(None, None, None, cancels=[g_event], api_name="cancel_generate")

        # ------------------------------------------------------------------ Loop
        with gr.Tab("Loop", elem_id="tab-loop"):
            lp = SamplingControls.build("loop", styles, cfg_scale, steps)
            with gr.Row():
                l_bars = gr.Number(2, label="Bars", elem_id="loop-bars")
                l_bpm = gr.Number(120, label="BPM", elem_id="loop-bpm")
                l_beats = gr.Number(4, label="Beats per bar", elem_id="loop-beats")
                l_repeat = gr.Number(1, label="Repeat", precision=0, elem_id="loop-repeat")
            with gr.Row():
                l_run = gr.Button("Generate loop", variant="primary", elem_id="loop-run")
                l_cancel = gr.Button("Cancel", elem_id="loop-cancel")
            l_out = ResultPanel.build("loop")
        tab_controls.append(lp)

        async def on_loop(
            st, m, f, style, seed, steps, cfg, sampler, negative, bars, bpm, beats, repeat,
            progress=gr.Progress(track_tqdm=True),
        ):  # fmt: skip
            s = sampling(f, style, seed, steps, cfg, sampler, negative)
            rep = int(repeat) if repeat is not None else None
            session = SessionHost(host, st)
            return await run_tab(l_out, "loop", jobs.loop, session, m, s, bars, bpm, beats, rep)

        l_out.clear(l_run)
        l_event = l_run.click(
            on_loop,
            [state, model, fmt, *lp.inputs, l_bars, l_bpm, l_beats, l_repeat],
            l_out.outputs,
            api_name="loop",
            **model_queue,
        )
        l_cancel.click(None, None, None, cancels=[l_event], api_name="cancel_loop")

        # ------------------------------------------------------------------ Variation
        with gr.Tab("Variation", elem_id="tab-variation"):
            v = SamplingControls.build("variation", styles, cfg_scale, steps)
            with gr.Row():
                v_audio = gr.File(
                    label="Audio to vary", file_types=["audio"], type="filepath", elem_id="variation-input"
                )
                v_strength = gr.Slider(
                    0.0,
                    1.0,
                    value=0.5,
                    step=0.05,
                    label="Strength",
                    info="0 = the input's reconstruction, 1 = a new clip",
                    elem_id="variation-strength",
                )
            with gr.Row():
                v_run = gr.Button("Vary", variant="primary", elem_id="variation-run")
                v_cancel = gr.Button("Cancel", elem_id="variation-cancel")
            v_out = ResultPanel.build("variation")
        tab_controls.append(v)

        async def on_variation(
            st, m, f, style, seed, steps, cfg, sampler, negative, audio, strength,
            progress=gr.Progress(track_tqdm=True),
        ):  # fmt: skip
            s = sampling(f, style, seed, steps, cfg, sampler, negative)
            session = SessionHost(host, st)
            return await run_tab(v_out, "variation", jobs.variation, session, m, s, audio, strength)

        v_out.clear(v_run)
        v_event = v_run.click(
            on_variation,
            [state, model, fmt, *v.inputs, v_audio, v_strength],
            v_out.outputs,
            api_name="variation",
            **model_queue,
        )
        v_cancel.click(None, None, None, cancels=[v_event], api_name="cancel_variation")

        # ------------------------------------------------------------------ Extend / Inpaint
        if has_edit:
            with gr.Tab("Extend / Inpaint", elem_id="tab-edit"):
                e = SamplingControls.build("edit", styles, cfg_scale, steps, auto=True)
                with gr.Row():
                    e_audio = gr.File(
                        label="Audio to edit", file_types=["audio"], type="filepath", elem_id="edit-input"
                    )
                    e_mode = gr.Radio(
                        ["extend", "inpaint"], value="extend", label="Mode", elem_id="edit-mode"
                    )
                with gr.Row():
                    e_before = gr.Number(0.0, label="Seconds before (extend)", elem_id="edit-before")
                    e_after = gr.Number(2.0, label="Seconds after (extend)", elem_id="edit-after")
                    e_start = gr.Number(0.5, label="Span start, s (inpaint)", elem_id="edit-start")
                    e_end = gr.Number(1.0, label="Span end, s (inpaint)", elem_id="edit-end")
                with gr.Row():
                    e_run = gr.Button("Edit", variant="primary", elem_id="edit-run")
                    e_cancel = gr.Button("Cancel", elem_id="edit-cancel")
                e_out = ResultPanel.build("edit")
            tab_controls.append(e)

            async def on_edit(
                st, m, f, style, seed, steps, cfg, sampler, negative, audio, mode, before, after, start, end,
                progress=gr.Progress(track_tqdm=True),
            ):  # fmt: skip
                s = sampling(f, style, seed, steps, cfg, sampler, negative)
                a, b = (before, after) if mode == "extend" else (start, end)
                session = SessionHost(host, st)
                return await run_tab(e_out, "edit", edit_job.edit, session, m, s, audio, mode, a, b)

            e_out.clear(e_run)
            e_event = e_run.click(
                on_edit,
                [state, model, fmt, *e.inputs, e_audio, e_mode, e_before, e_after, e_start, e_end],
                e_out.outputs,
                api_name="edit",
                **model_queue,
            )
            e_cancel.click(None, None, None, cancels=[e_event], api_name="cancel_edit")

        build_stream_tab(host, model, styles)  # audiogen/ui/stream_tab.py

        # ------------------------------------------------------------------ Fine-tune
        build_finetune_tab(host, state, model, lora.path if lora is not None else None)

        # ------------------------------------------------------------------ model choice and LoRA
        boxes = style_boxes(tab_controls)  # each tab's style and negative style
        sliders = list(lora.sliders) if lora is not None else []

        def select_model(st: SessionState, m: str, *values: Any, token: CancelToken) -> list[Any]:
            session = SessionHost(host, st)
            session.clear_loras()  # adapters belong to the model they were loaded onto
            with host.job(token):
                p = session.load(m)
            new = style_updates(tab_controls, list(p.styles), list(values))
            return [st, "", *new, *(lora.slider_values(st) if lora is not None else [])]

        async def on_model(st, m, *values):
            try:
                return await run_job(select_model, st, m, *values)
            except UIError as e:
                return [st, error_markdown(str(e), "generate"), *(gr.skip() for _ in boxes + sliders)]

        model.change(
            on_model,
            [state, model, *boxes],
            [state, model_status, *boxes, *sliders],
            api_name="select_model",
            **model_queue,
        )
        refresh.click(lambda: gr.Dropdown(choices=host.models()), None, [model], queue=False)
        if lora is not None:
            lora.wire(host, state, model, tab_controls)
    return app


def launch(
    host: ModelHost,
    server_name: str = "127.0.0.1",
    server_port: int = 7860,
    block: bool = True,
) -> gr.Blocks:
    """Build the page and serve it on ``server_name:server_port`` (never a share link).

    Args:
        host: the model host.
        server_name: interface to bind; anything but a loopback address prints a warning.
        server_port: TCP port.
        block: serve until interrupted; ``False`` returns at once (the server runs in a thread; stop it
            with ``app.close()``).

    Returns:
        The ``gr.Blocks`` app.
    """
    app = build_app(host)
    app.queue(default_concurrency_limit=1)
    host.out_dir.mkdir(parents=True, exist_ok=True)
    app.launch(
        server_name=server_name,
        server_port=server_port,
        share=False,
        prevent_thread_lock=not block,
        max_file_size=jobs.MAX_UPLOAD_BYTES,
        allowed_paths=[str(host.out_dir), str(host.runs_dir)],
        show_error=True,
        quiet=not block,
    )
    return app
