"""Gradio building blocks shared by the tabs of :mod:`audiogen.ui.app`: the result panel, the sampling
controls, and :func:`run_job` (a job in a worker thread, cancellable, its errors as ``gr.Error``)."""

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
from audiogen.ui.results import UIResult


def no_share(component: type, buttons: tuple[str, ...] = ("download",)) -> dict[str, Any]:
    """Keyword arguments leaving out a share button (gradio 6: ``buttons``, 5: ``show_share_button``)."""
    params = inspect.signature(component.__init__).parameters
    if "buttons" in params:
        return {"buttons": list(buttons)}
    return {"show_share_button": False} if "show_share_button" in params else {}


async def run_job(fn: Any, *args: Any) -> Any:
    """Run ``fn(*args, token=...)`` in a worker thread; turn :class:`UIError` into ``gr.Error``.

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
    except UIError as e:
        raise gr.Error(f"error: {e}", print_exception=False) from e


@dataclass
class ResultPanel:
    """The components every result fills: players, downloads, spectrogram, seeds, CLI command."""

    audios: list[gr.Audio]
    files: gr.File
    image: gr.Image
    seeds: gr.Textbox
    summary: gr.Markdown
    command: gr.Code

    @classmethod
    def build(cls, name: str, clips: int = 1) -> ResultPanel:
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
        return cls(audios, files, image, seeds, summary, command)

    @property
    def outputs(self) -> list[Any]:
        return [*self.audios, self.files, self.image, self.seeds, self.summary, self.command]

    def values(self, result: UIResult) -> list[Any]:
        players = [
            gr.Audio(value=str(result.audio[i]), visible=True)
            if i < len(result.audio)
            else gr.Audio(value=None, visible=False)
            for i in range(len(self.audios))
        ]
        return [
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

    @classmethod
    def build(
        cls, name: str, styles: list[str], cfg_scale: float, steps: int = 25, auto: bool = False
    ) -> SamplingControls:
        """The controls of tab ``name``; ``auto=True`` adds the style ``auto`` (the edit commands'
        default: the style the classifier hears in the input) and selects it."""
        with gr.Row():
            style = gr.Dropdown(
                ["auto", "", *styles] if auto else ["", *styles],
                value="auto" if auto else (styles[0] if styles else ""),
                label="style",
                info=("auto: the style heard in the input; " if auto else "") + "empty: unconditional",
                allow_custom_value=True,  # styles change with the model; jobs check them (CLI message)
                elem_id=f"{name}-style",
            )
            seed = gr.Number(0, label="seed", precision=0, elem_id=f"{name}-seed")
            steps_field = gr.Number(steps, label="steps", precision=0, elem_id=f"{name}-steps")
            cfg = gr.Slider(1.0, 10.0, value=cfg_scale, step=0.1, label="CFG scale", elem_id=f"{name}-cfg")
            sampler = gr.Dropdown(list(SAMPLERS), value="dpm++", label="sampler", elem_id=f"{name}-sampler")
        return cls(style, seed, steps_field, cfg, sampler)

    @property
    def inputs(self) -> list[Any]:
        return [self.style, self.seed, self.steps, self.cfg, self.sampler]


def sampling(fmt: str, style: str, seed: float, steps: float, cfg: float, sampler: str) -> jobs.Sampling:
    """The page's values as :class:`~audiogen.ui.jobs.Sampling` (checked by the job)."""
    return jobs.Sampling(
        style or None, int(seed) if seed is not None else -1, int(steps), cfg, sampler, fmt or "wav"
    )
