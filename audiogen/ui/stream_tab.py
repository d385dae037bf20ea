"""The web app's Stream tab: music from the latent sequence model, played while it is generated.

A Gradio streaming audio output (``gr.Audio(streaming=True)``) receives the waveform chunks of
:meth:`AudioGenPipeline.stream <audiogen.pipelines.audiogen.AudioGenPipeline.stream>` as they come.
The stream runs as a model job (one at a time, like the other tabs); Stop cancels it. Errors (an
unknown style in the schedule, times out of order, no sequence model) are shown as
``gr.Error("error: ...")`` naming the field.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

#: Longest stream the tab plays, in seconds (the CLI has --forever).
MAX_SECONDS = 600.0


def build_stream_tab(host: Any, model: gr.Dropdown, styles: list[str]) -> None:
    """Add the Stream tab to the ``gr.Blocks`` being built (``model``: the page's model dropdown)."""
    sequences: dict[str, Any] = {}

    with gr.Tab("Stream", elem_id="tab-stream"):
        gr.Markdown(
            "Endless music from the latent sequence model, heard while it is generated "
            "(`audiogen stream`). A schedule such as `organ@0,strings@30` moves between styles."
        )
        with gr.Row():
            style = gr.Textbox(
                styles[0] if styles else "",
                label="style or schedule (style@seconds, ...)",
                elem_id="stream-style",
            )
            seconds = gr.Number(30.0, label="seconds", elem_id="stream-seconds")
            seed = gr.Number(0, precision=0, label="seed", elem_id="stream-seed")
        sequence = gr.Textbox(
            "",
            label="sequence model (run, checkpoint or model folder; empty: the model's sequence/)",
            elem_id="stream-sequence",
        )
        with gr.Row():
            run = gr.Button("Stream", variant="primary", elem_id="stream-run")
            stop = gr.Button("Stop", elem_id="stream-stop")
        audio = gr.Audio(streaming=True, autoplay=True, format="wav", label="stream", elem_id="stream-audio")

    def on_stream(m: str, style_text: str, length: float, seed_value: float, source: str) -> Any:
        import shutil

        from audiogen.audio.probe import AudioLoadError
        from audiogen.audio.wav_stream import pcm16
        from audiogen.pipelines.stream import load_sequence_model
        from audiogen.ui.host import UIError

        if shutil.which("ffmpeg") is None:  # Gradio encodes streamed audio with it
            raise gr.Error(
                "error: streaming audio in the web app needs FFmpeg (apt-get install ffmpeg; tools/setup.sh "
                "installs it)",
                print_exception=False,
            )
        if length is None or not 0 < float(length) <= MAX_SECONDS:
            raise gr.Error(
                f"error: seconds must be in (0, {MAX_SECONDS:g}], got {length}", print_exception=False
            )
        with host.job():
            try:
                pipe = host.load(m)
                key = source.strip() or str(host.pipeline_path)
                if key not in sequences:
                    sequences[key] = load_sequence_model(key, pipe.device)
                chunks = pipe.stream(
                    style=style_text.strip() or None,
                    seconds=float(length),
                    seed=int(seed_value or 0),
                    sequence=sequences[key],
                )
            except UIError as e:
                raise gr.Error(f"error: {e}", print_exception=False) from e
            except (ValueError, FileNotFoundError, AudioLoadError) as e:
                field = "sequence model" if isinstance(e, FileNotFoundError) else "style"
                raise gr.Error(f"error: {field}: {e}", print_exception=False) from e
            import numpy as np

            for chunk in chunks:
                yield pipe.sample_rate, np.frombuffer(pcm16(chunk), dtype=np.int16)

    event = run.click(
        on_stream,
        [model, style, seconds, seed, sequence],
        audio,
        api_name="stream",
        concurrency_id="model",
        concurrency_limit=1,
    )
    stop.click(None, None, None, cancels=[event], api_name="cancel_stream")


__all__ = ["MAX_SECONDS", "build_stream_tab"]
