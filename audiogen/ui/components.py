"""Gradio building blocks shared by the tabs of :mod:`audiogen.ui.app`: the result panel (with the
status line that keeps an error on screen next to the form), the sampling controls, and :func:`run_job`
(a job in a worker thread, cancellable)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
from dataclasses import dataclass
from typing import Any

import gradio as gr

from audiogen.samplers.factory import SAMPLERS
from audiogen.ui import jobs
from audiogen.ui.host import CancelToken, UIError
from audiogen.ui.messages import error_markdown
from audiogen.ui.results import UIResult


def no_share(component: type, buttons: tuple[str, ...] = ("download",)) -> dict[str, Any]:
    """Keyword arguments leaving out a share button (gradio 6: ``buttons``, 5: ``show_share_button``)."""
    params = inspect.signature(component.__init__).parameters
    if "buttons" in params:
        return {"buttons": list(buttons)}
    return {"show_share_button": False} if "show_share_button" in params else {}


async def run_job(fn: Any, *args: Any) -> Any:
    """Run ``fn(*args, token=...)`` in a worker thread and return what it returns (its
    :class:`UIError` propagates, for the caller to show next to its form).

    If this request is cancelled while ``fn`` runs, its token is cancelled and the worker thread is
    awaited (it stops at the denoiser's next step) before the cancellation goes on, so the queue's
    worker is free for the next request only once the model is.
    """
    token = CancelToken()
    ctx = contextvars.copy_context()  # gr.Progress(track_tqdm=True) finds its request through it
    future = asyncio.get_running_loop().run_in_executor(
        None, ctx.run, functools.partial(fn, *args, token=token)
    )
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        token.cancel()
        with contextlib.suppress(BaseException):
            await future
        raise


async def run_tab(panel: ResultPanel, tab: str, fn: Any, *args: Any) -> list[Any]:
    """:func:`run_job`, its result shown in ``panel``, or its error on ``panel``'s status line in the
    page's words (:func:`~audiogen.ui.messages.in_page_words`); the other outputs keep their values."""
    try:
        result = await run_job(fn, *args)
    except UIError as e:
        return panel.error(str(e), tab)
    return panel.values(result)


@dataclass
class ResultPanel:
    """The components every result fills: status line, players, downloads, spectrogram, seeds, CLI
    command. The status line sits right under the tab's buttons and keeps an error until the next run."""

    status: gr.Markdown
    audios: list[gr.Audio]
    files: gr.File
    image: gr.Image
    seeds: gr.Textbox
    summary: gr.Markdown
    command: gr.Code

    @classmethod
    def build(cls, name: str, clips: int = 1) -> ResultPanel:
        status = gr.Markdown(elem_id=f"{name}-status")
        audios = [
            gr.Audio(
                label=f"clip {i + 1}" if clips > 1 else "result",
                type="filepath",
                interactive=False,
                visible=i == 0,
                elem_id=f"{name}-audio-{i}",
                **no_share(gr.Audio),
            )
            for i in range(clips)
        ]
        with gr.Row():
            files = gr.File(
                label="download", file_count="multiple", interactive=False, elem_id=f"{name}-files"
            )
            seeds = gr.Textbox(label="seed(s)", interactive=False, elem_id=f"{name}-seeds")
        image = gr.Image(
            label="log-mel spectrogram",
            type="filepath",
            interactive=False,
            elem_id=f"{name}-spectrogram",
            **no_share(gr.Image, ("download", "fullscreen")),
        )
        summary = gr.Markdown(elem_id=f"{name}-summary")
        command = gr.Code(
            label="reproduce with the CLI", language="shell", interactive=False, elem_id=f"{name}-command"
        )
        return cls(status, audios, files, image, seeds, summary, command)

    @property
    def outputs(self) -> list[Any]:
        """The status line first, then the result's components."""
        return [self.status, *self.audios, self.files, self.image, self.seeds, self.summary, self.command]

    def error(self, message: str, tab: str) -> list[Any]:
        """Outputs showing ``message`` on the status line, the last result left as it is."""
        return [error_markdown(message, tab), *(gr.skip() for _ in self.outputs[1:])]

    def clear(self, button: gr.Button) -> None:
        """Empty the status line as soon as ``button`` is clicked (before the queued job runs)."""
        button.click(lambda: "", None, [self.status], queue=False, show_progress="hidden")

    def values(self, result: UIResult) -> list[Any]:
        players = [
            gr.Audio(value=str(result.audio[i]), visible=True)
            if i < len(result.audio)
            else gr.Audio(value=None, visible=False)
            for i in range(len(self.audios))
        ]
        return [
            "",
            *players,
            [str(p) for p in result.audio],
            str(result.spectrogram),
            ", ".join(str(k) for k in result.seeds),
            result.summary,
            result.command,
        ]


@dataclass
class SamplingControls:
    style: gr.Dropdown
    seed: gr.Number
    steps: gr.Number
    cfg: gr.Slider
    sampler: gr.Dropdown
    negative: gr.Dropdown

    @classmethod
    def build(
        cls, name: str, styles: list[str], cfg_scale: float, steps: int = 25, auto: bool = False
    ) -> SamplingControls:
        """The controls of tab ``name``; ``auto=True`` adds the style ``auto`` (the edit commands'
        default: the style the classifier hears in the input) and selects it."""
        with gr.Row():
            style = gr.Dropdown(
                style_choices(styles, auto),
                value="auto" if auto else (styles[0] if styles else ""),
                label="Style",
                info=("auto: the style heard in the input; " if auto else "") + "none: unconditional",
                allow_custom_value=False,  # the model's styles only (updated with the model and adapters)
                elem_id=f"{name}-style",
            )
            negative = gr.Dropdown(
                negative_choices(styles),
                value="",
                label="Negative style",
                info="steer away from this style (with a style and CFG scale > 1)",
                allow_custom_value=False,
                elem_id=f"{name}-negative-style",
            )
            seed = gr.Number(0, label="Seed", precision=0, elem_id=f"{name}-seed")
            steps_field = gr.Number(steps, label="Steps", precision=0, elem_id=f"{name}-steps")
            cfg = gr.Slider(1.0, 10.0, value=cfg_scale, step=0.1, label="CFG scale", elem_id=f"{name}-cfg")
            sampler = gr.Dropdown(
                list(SAMPLERS),
                value="dpm++",
                label="Sampler",
                allow_custom_value=False,
                elem_id=f"{name}-sampler",
            )
        return cls(style, seed, steps_field, cfg, sampler, negative)

    @property
    def inputs(self) -> list[Any]:
        """The handlers' arguments, in this order (the tab's own fields follow them)."""
        return [self.style, self.seed, self.steps, self.cfg, self.sampler, self.negative]


def style_choices(styles: list[str], auto: bool = False) -> list[tuple[str, str]]:
    """The style dropdown's choices: ``(label, value)``, the empty value labelled as unconditional."""
    return [*([("auto", "auto")] if auto else []), ("(none: unconditional)", ""), *((s, s) for s in styles)]


def negative_choices(styles: list[str]) -> list[tuple[str, str]]:
    """The negative style dropdown's choices: ``(label, value)``, the empty value labelled as none."""
    return [("(none)", ""), *((s, s) for s in styles)]


def style_boxes(controls: list[SamplingControls]) -> list[gr.Dropdown]:
    """Every tab's style and negative style dropdowns (in pairs): what :func:`style_updates` updates."""
    return [box for c in controls for box in (c.style, c.negative)]


def style_updates(controls: list[SamplingControls], styles: list[str], values: list[str]) -> list[Any]:
    """New style and negative style choices for every tab (``values``: the current values of
    :func:`style_boxes`, updated in that order), each keeping its value when the new choices have it;
    otherwise the style goes back to its default and the negative style to none."""
    out = []
    for c, (value, negative) in zip(controls, zip(values[::2], values[1::2], strict=True), strict=True):
        auto = c.style.elem_id == "edit-style"
        choices = style_choices(styles, auto)
        keep = value in [v for _, v in choices]
        default = "auto" if auto else (styles[0] if styles else "")
        out.append(gr.Dropdown(choices=choices, value=value if keep else default))
        negative = negative if negative in styles else ""
        out.append(gr.Dropdown(choices=negative_choices(styles), value=negative))
    return out


def sampling(
    fmt: str, style: str, seed: float, steps: float, cfg: float, sampler: str, negative: str | None
) -> jobs.Sampling:
    """The page's values as :class:`~audiogen.ui.jobs.Sampling` (checked by the job; an emptied number box
    stays ``None`` for the job to name)."""
    return jobs.Sampling(
        style or None,
        int(seed) if seed is not None else None,
        int(steps) if steps is not None else None,
        cfg,
        sampler,
        fmt or "wav",
        negative or None,
    )
