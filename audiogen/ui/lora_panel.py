"""The page's **LoRA adapters** section: load an adapter into this browser session, a strength slider per
adapter, unload all. The adapters live in the session's :class:`~audiogen.ui.session.SessionState`; the
shared pipeline gets them only for the length of this session's jobs (:class:`SessionHost`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from audiogen.ui.components import SamplingControls, run_job, style_boxes, style_updates
from audiogen.ui.host import CancelToken, ModelHost, UIError
from audiogen.ui.messages import error_markdown
from audiogen.ui.session import MAX_LORAS, SessionHost, SessionState


@dataclass
class LoraPanel:
    path: gr.Textbox
    load: gr.Button
    clear: gr.Button
    status: gr.Markdown
    sliders: list[gr.Slider]

    @classmethod
    def build(cls) -> LoraPanel:
        with gr.Accordion("LoRA adapters (this page only)", open=False, elem_id="lora"):
            with gr.Row():
                path = gr.Textbox(
                    label="Adapter folder (finetune --lora run, RUN/lora or the adapter)",
                    scale=4,
                    elem_id="lora-path",
                )
                load = gr.Button("load", scale=0, elem_id="lora-load")
                clear = gr.Button("unload all", scale=0, elem_id="lora-clear")
            status = gr.Markdown(elem_id="lora-status")
            sliders = [
                gr.Slider(0.0, 2.0, value=1.0, step=0.05, visible=False, elem_id=f"lora-{i}")
                for i in range(MAX_LORAS)
            ]
        return cls(path, load, clear, status, sliders)

    def slider_values(self, state: SessionState) -> list[Any]:
        """One visible slider per adapter of the session (label and strength), the others hidden."""
        loras = list(state.loras.items())
        return [
            gr.Slider(value=loras[i][1].strength, label=f"LoRA {loras[i][0]}", visible=True)
            if i < len(loras)
            else gr.Slider(visible=False)
            for i in range(len(self.sliders))
        ]

    def wire(
        self, host: ModelHost, state: gr.State, model: gr.Dropdown, controls: list[SamplingControls]
    ) -> None:
        """Connect the buttons and sliders (``controls``: every tab's sampling controls, for the styles)."""
        boxes = style_boxes(controls)
        outputs = [state, self.status, *boxes, *self.sliders]

        def load(s: SessionState, m: str, path: str, *values: Any, token: CancelToken) -> list[Any]:
            session = SessionHost(host, s)
            before = dict(s.loras)
            with host.job(token):
                name = session.add_lora(m, path)
                styles = list(session.load(m).styles)
            again = name in before
            message = (
                f"**{name}** is loaded already (strength {s.loras[name].strength:g}); its slider sets it."
                if again
                else f"Loaded **{name}** at strength 1 for this page; other pages do not use it."
            )
            return [s, message, *style_updates(controls, styles, list(values)), *self.slider_values(s)]

        def clear(s: SessionState, m: str, *values: Any, token: CancelToken) -> list[Any]:
            session = SessionHost(host, s)
            session.clear_loras()
            with host.job(token):
                styles = list(session.load(m).styles)
            return [s, "", *style_updates(controls, styles, list(values)), *self.slider_values(s)]

        async def on_load(s, m, path, *values):
            try:
                return await run_job(load, s, m, path, *values)
            except UIError as e:
                return [s, error_markdown(str(e), "lora"), *(gr.skip() for _ in outputs[2:])]

        async def on_clear(s, m, *values):
            return await run_job(clear, s, m, *values)

        queue = dict(concurrency_id="model", concurrency_limit=1)
        self.load.click(on_load, [state, model, self.path, *boxes], outputs, api_name="lora_load", **queue)
        self.clear.click(on_clear, [state, model, *boxes], outputs, api_name="lora_unload_all", **queue)
        for i, slider in enumerate(self.sliders):

            def on_strength(s: SessionState, value: float, i: int = i) -> list[Any]:
                try:
                    SessionHost(host, s).set_strength(i, value)
                except UIError as e:
                    return [s, error_markdown(str(e), "lora")]
                return [s, ""]

            slider.release(
                on_strength, [state, slider], [state, self.status], api_name=f"lora_strength_{i}", queue=False
            )
