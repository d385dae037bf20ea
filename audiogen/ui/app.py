"""The Gradio page of ``audiogen ui``: tabs that mirror the CLI (Generate, Loop, Variation, Extend /
Inpaint, Fine-tune), each calling :mod:`audiogen.ui.jobs` on one :class:`~audiogen.ui.host.ModelHost`.

Every model job is queued behind one worker (``concurrency_id="model"``); it runs in a thread while its
async handler waits, so cancelling the request (the tab's Cancel button, a closed page, an API client's
cancel) cancels the job's token and the denoiser stops at its next step before the worker is released.
Errors are shown as ``gr.Error("error: ...")``, the line the CLI prints.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import gradio as gr

from audiogen.ui import edit_job, jobs
from audiogen.ui.components import ResultPanel, SamplingControls, no_share, run_job, sampling
from audiogen.ui.finetune_job import FinetuneJob, lora_supported
from audiogen.ui.host import CancelToken, LoadedLora, ModelHost, UIError
from audiogen.ui.stream_tab import build_stream_tab

MAX_LORAS = 4


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
        with gr.Row():
            model = gr.Dropdown(
                host.models(),
                value=str(host.default_path),
                label="model",
                scale=4,
                allow_custom_value=True,  # runs finished after the page was built (host.load checks them)
                elem_id="model",
            )
            refresh = gr.Button("refresh models", scale=0, elem_id="refresh-models")
            fmt = gr.Radio(
                list(jobs.AUDIO_FORMATS), value="wav", label="download format", scale=1, elem_id="format"
            )
        lora_path = lora_sliders = None
        if has_lora:
            with gr.Accordion("LoRA adapters", open=False, elem_id="lora"):
                with gr.Row():
                    lora_path = gr.Textbox(
                        label="adapter folder (finetune --lora run, RUN/lora or the adapter)",
                        scale=4,
                        elem_id="lora-path",
                    )
                    lora_load = gr.Button("load", scale=0, elem_id="lora-load")
                    lora_clear = gr.Button("unload all", scale=0, elem_id="lora-clear")
                lora_sliders = [
                    gr.Slider(0.0, 2.0, value=1.0, step=0.05, visible=False, elem_id=f"lora-{i}")
                    for i in range(MAX_LORAS)
                ]
        tab_controls: list[SamplingControls] = []

        # ------------------------------------------------------------------ Generate
        with gr.Tab("Generate", elem_id="tab-generate"):
            g = SamplingControls.build("generate", styles, cfg_scale, steps)
            with gr.Row():
                g_seconds = gr.Number(10.0, label="seconds", elem_id="generate-seconds")
                g_num = gr.Slider(
                    1, jobs.MAX_CLIPS, value=1, step=1, label="number of clips", elem_id="generate-num"
                )
            with gr.Row():
                g_run = gr.Button("Generate", variant="primary", elem_id="generate-run")
                g_cancel = gr.Button("Cancel", elem_id="generate-cancel")
            g_out = ResultPanel.build("generate", jobs.MAX_CLIPS)
        tab_controls.append(g)

        async def on_generate(
            m, f, style, seed, steps, cfg, sampler, seconds, num, progress=gr.Progress(track_tqdm=True)
        ):
            s = sampling(f, style, seed, steps, cfg, sampler)
            return g_out.values(await run_job(jobs.generate, host, m, s, seconds, int(num)))

        g_event = g_run.click(
            on_generate,
            [model, fmt, *g.inputs, g_seconds, g_num],
            g_out.outputs,
            api_name="generate",
            **model_queue,
        )
        g_cancel.click(None, None, None, cancels=[g_event], api_name="cancel_generate")

        # ------------------------------------------------------------------ Loop
        with gr.Tab("Loop", elem_id="tab-loop"):
            lp = SamplingControls.build("loop", styles, cfg_scale, steps)
            with gr.Row():
                l_bars = gr.Number(2, label="bars", elem_id="loop-bars")
                l_bpm = gr.Number(120, label="BPM", elem_id="loop-bpm")
                l_beats = gr.Number(4, label="beats per bar", elem_id="loop-beats")
                l_repeat = gr.Number(1, label="repeat", precision=0, elem_id="loop-repeat")
            with gr.Row():
                l_run = gr.Button("Generate loop", variant="primary", elem_id="loop-run")
                l_cancel = gr.Button("Cancel", elem_id="loop-cancel")
            l_out = ResultPanel.build("loop")
        tab_controls.append(lp)

        async def on_loop(
            m,
            f,
            style,
            seed,
            steps,
            cfg,
            sampler,
            bars,
            bpm,
            beats,
            repeat,
            progress=gr.Progress(track_tqdm=True),
        ):
            s = sampling(f, style, seed, steps, cfg, sampler)
            rep = int(repeat) if repeat is not None else None
            return l_out.values(await run_job(jobs.loop, host, m, s, bars, bpm, beats, rep))

        l_event = l_run.click(
            on_loop,
            [model, fmt, *lp.inputs, l_bars, l_bpm, l_beats, l_repeat],
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
                    label="audio to vary", file_types=["audio"], type="filepath", elem_id="variation-input"
                )
                v_strength = gr.Slider(
                    0.0,
                    1.0,
                    value=0.5,
                    step=0.05,
                    label="strength",
                    info="0 = the input's reconstruction, 1 = a new clip",
                    elem_id="variation-strength",
                )
            with gr.Row():
                v_run = gr.Button("Vary", variant="primary", elem_id="variation-run")
                v_cancel = gr.Button("Cancel", elem_id="variation-cancel")
            v_out = ResultPanel.build("variation")
        tab_controls.append(v)

        async def on_variation(
            m, f, style, seed, steps, cfg, sampler, audio, strength, progress=gr.Progress(track_tqdm=True)
        ):
            s = sampling(f, style, seed, steps, cfg, sampler)
            return v_out.values(await run_job(jobs.variation, host, m, s, audio, strength))

        v_event = v_run.click(
            on_variation,
            [model, fmt, *v.inputs, v_audio, v_strength],
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
                        label="audio to edit", file_types=["audio"], type="filepath", elem_id="edit-input"
                    )
                    e_mode = gr.Radio(
                        ["extend", "inpaint"], value="extend", label="mode", elem_id="edit-mode"
                    )
                with gr.Row():
                    e_before = gr.Number(0.0, label="extend: seconds before", elem_id="edit-before")
                    e_after = gr.Number(2.0, label="extend: seconds after", elem_id="edit-after")
                    e_start = gr.Number(0.5, label="inpaint: span start (s)", elem_id="edit-start")
                    e_end = gr.Number(1.0, label="inpaint: span end (s)", elem_id="edit-end")
                with gr.Row():
                    e_run = gr.Button("Edit", variant="primary", elem_id="edit-run")
                    e_cancel = gr.Button("Cancel", elem_id="edit-cancel")
                e_out = ResultPanel.build("edit")
            tab_controls.append(e)

            async def on_edit(
                m,
                f,
                style,
                seed,
                steps,
                cfg,
                sampler,
                audio,
                mode,
                before,
                after,
                start,
                end,
                progress=gr.Progress(track_tqdm=True),
            ):
                s = sampling(f, style, seed, steps, cfg, sampler)
                a, b = (before, after) if mode == "extend" else (start, end)
                return e_out.values(await run_job(edit_job.edit, host, m, s, audio, mode, a, b))

            e_event = e_run.click(
                on_edit,
                [model, fmt, *e.inputs, e_audio, e_mode, e_before, e_after, e_start, e_end],
                e_out.outputs,
                api_name="edit",
                **model_queue,
            )
            e_cancel.click(None, None, None, cancels=[e_event], api_name="cancel_edit")

        build_stream_tab(host, model, styles)  # audiogen/ui/stream_tab.py

        # ------------------------------------------------------------------ Fine-tune
        with gr.Tab("Fine-tune", elem_id="tab-finetune"):
            gr.Markdown(
                "Runs `audiogen finetune` on a folder of this server; the result appears in **model** above "
                "when it finishes. A cancelled run resumes when started again with the same settings."
            )
            with gr.Row():
                f_source = gr.Textbox(label="audio folder on the server", elem_id="finetune-source")
                f_out = gr.Textbox(
                    str(host.runs_dir / "my-sounds"), label="run folder", elem_id="finetune-out"
                )
                f_style = gr.Textbox(
                    label="style name (default: the folder's name)", elem_id="finetune-style"
                )
            with gr.Row():
                f_steps = gr.Number(500, label="steps", precision=0, elem_id="finetune-steps")
                f_stages = gr.Radio(
                    ["generator", "generator+vocoder", "all"],
                    value="generator",
                    label="stages",
                    elem_id="finetune-stages",
                )
                f_lora = gr.Number(
                    0,
                    label="LoRA rank (0: fine-tune the stages)",
                    precision=0,
                    visible=lora_supported(),
                    elem_id="finetune-lora",
                )
            with gr.Row():
                f_run = gr.Button("Fine-tune", variant="primary", elem_id="finetune-run")
                f_cancel = gr.Button("Cancel", elem_id="finetune-cancel")
            f_status = gr.Markdown(elem_id="finetune-status")
            with gr.Row():
                f_gallery = gr.Gallery(
                    label="sample spectrograms",
                    columns=2,
                    elem_id="finetune-gallery",
                    **no_share(gr.Gallery, ("download", "fullscreen")),
                )
                with gr.Column():
                    f_sample = gr.Audio(
                        label="newest sample",
                        type="filepath",
                        interactive=False,
                        elem_id="finetune-audio",
                        **no_share(gr.Audio),
                    )
                    f_files = gr.File(
                        label="sample clips",
                        file_count="multiple",
                        interactive=False,
                        elem_id="finetune-files",
                    )
            f_log = gr.Textbox(label="log", lines=6, max_lines=12, interactive=False, elem_id="finetune-log")
            f_command = gr.Code(
                label="the same run from the CLI",
                language="shell",
                interactive=False,
                elem_id="finetune-command",
            )

        async def on_finetune(source, out, style, steps, stages, lora_rank, progress=gr.Progress()):
            try:
                job = FinetuneJob(
                    source, out, int(steps or 0), stages, style or None, lora_rank=int(lora_rank or 0)
                )
            except UIError as err:
                raise gr.Error(f"error: {err}", print_exception=False) from err
            job.start()
            try:
                while True:
                    st = job.status()
                    done = ", ".join(f"{k} {st.steps[k]}/{st.totals[k]}" for k in st.steps)
                    progress(st.fraction, desc=f"fine-tuning: {done}")
                    wavs = [str(p) for p in st.samples if p.suffix == ".wav"]
                    pngs = [str(p) for p in st.samples if p.suffix == ".png"]
                    state = "running" if st.returncode is None else f"finished (exit {st.returncode})"
                    yield (
                        f"**{state}**: {done} steps",
                        st.log,
                        pngs,
                        wavs[0] if wavs else None,
                        wavs or None,
                        job.command,
                        gr.Dropdown(),
                        *([gr.Textbox()] if lora_path is not None else []),
                    )
                    if st.returncode is not None:
                        break
                    await asyncio.sleep(1.0)
            finally:
                await asyncio.to_thread(job.cancel)  # no-op once it has ended
            if st.returncode != 0:
                raise gr.Error(f"error: {st.error}", print_exception=False)
            if job.lora:  # an adapter, not a pipeline folder: offered under LoRA adapters
                message = f"**done**: {done} steps; load the adapter {job.out} under *LoRA adapters*"
                selected, adapter = gr.Dropdown(), [str(job.out)]
            else:
                message = f"**done**: {done} steps; the fine-tuned model is selected above"
                host.add_model(job.out)
                selected = gr.Dropdown(choices=host.models(), value=str(job.out))
                adapter = [gr.Textbox()] if lora_path is not None else []
            yield (
                message,
                st.log,
                pngs,
                wavs[0] if wavs else None,
                wavs or None,
                job.command,
                selected,
                *adapter,
            )

        f_event = f_run.click(
            on_finetune,
            [f_source, f_out, f_style, f_steps, f_stages, f_lora],
            [f_status, f_log, f_gallery, f_sample, f_files, f_command, model]
            + ([lora_path] if lora_path is not None else []),
            api_name="finetune",
            concurrency_id="finetune",
            concurrency_limit=1,
        )
        f_cancel.click(None, None, None, cancels=[f_event], api_name="cancel_finetune")

        # ------------------------------------------------------------------ model choice and LoRA
        style_boxes = [c.style for c in tab_controls]
        lora_outputs = list(lora_sliders or [])

        def lora_values() -> list[Any]:
            names = list(host.loras)
            return [
                gr.Slider(value=host.loras[names[i]].strength, label=f"LoRA {names[i]}", visible=True)
                if i < len(names)
                else gr.Slider(visible=False)
                for i in range(len(lora_outputs))
            ]

        def select_model(m: str, token: CancelToken) -> list[Any]:
            with host.job(token):
                p = host.load(m)
            new_styles = ["", *p.styles]
            return [gr.Dropdown(choices=new_styles) for _ in style_boxes] + lora_values()

        async def on_model(m):
            return await run_job(select_model, m)

        model.change(on_model, [model], style_boxes + lora_outputs, **model_queue)
        refresh.click(lambda: gr.Dropdown(choices=host.models()), None, [model], queue=False)

        if has_lora and lora_path is not None and lora_sliders is not None:

            def load_lora(m: str, path: str, token: CancelToken) -> list[Any]:
                if not path:
                    raise UIError("--lora: give an adapter folder")
                with host.job(token):
                    p = host.load(m)
                    if len(host.loras) >= MAX_LORAS:
                        raise UIError(f"--lora: at most {MAX_LORAS} adapters in the app")
                    try:
                        name = p.load_lora(path, strength=1.0)
                    except FileNotFoundError as err:
                        raise UIError(f"--lora {path}: no such adapter folder") from err
                    except (ValueError, RuntimeError) as err:
                        raise UIError(str(err)) from err
                    host.loras[name] = LoadedLora(Path(path).resolve(), 1.0)
                return [gr.Dropdown(choices=["", *p.styles]) for _ in style_boxes] + lora_values()

            def clear_loras(m: str, token: CancelToken) -> list[Any]:
                with host.job(token):
                    p = host.load(m)
                    for name in list(host.loras):
                        p.unload_lora(name)
                        del host.loras[name]
                return [gr.Dropdown(choices=["", *p.styles]) for _ in style_boxes] + lora_values()

            async def on_lora_load(m, path):
                return await run_job(load_lora, m, path)

            async def on_lora_clear(m):
                return await run_job(clear_loras, m)

            lora_load.click(
                on_lora_load,
                [model, lora_path],
                style_boxes + lora_outputs,
                api_name="lora_load",
                **model_queue,
            )
            lora_clear.click(
                on_lora_clear, [model], style_boxes + lora_outputs, api_name="lora_unload_all", **model_queue
            )
            for i, slider in enumerate(lora_sliders):

                def set_strength(value: float, token: CancelToken, i: int = i) -> None:
                    with host.job(token):
                        names = list(host.loras)
                        if i < len(names):
                            host.pipeline.set_lora_strength(names[i], float(value))
                            host.loras[names[i]].strength = float(value)

                async def on_strength(value, set_strength=set_strength):
                    await run_job(set_strength, value)

                slider.release(on_strength, [slider], None, api_name=f"lora_strength_{i}", **model_queue)
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
