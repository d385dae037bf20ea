"""The options the generating commands share, defined once, and the checks and loading they share.

``generate``, ``loop``, ``variation`` (:mod:`audiogen.cli.generate`), ``extend`` and ``inpaint``
(:mod:`audiogen.cli.edit`) take the model (``--checkpoint --lora --device``) and ``--overwrite``
from here, and the sampling settings through :func:`sampling_options`: each command declares one
``sampling`` parameter, and the decorator gives it an option per
:class:`~audiogen.pipelines.sampling.SamplingConfig` field in :data:`SAMPLING_OPTIONS` (``--seed
--steps --cfg-scale --style --sampler``) and hands the command their values as one
``SamplingConfig``. A new sampling setting is a field of the dataclass, the pipeline step that uses
it and one entry here.

Bad values raise :class:`~audiogen.errors.InputError` (the command line prints ``error: ...`` and
exits with status 2, :class:`audiogen.cli.exit.ErrorReportingGroup`); a model folder that does not load
raises :class:`~audiogen.errors.RunError` (status 1). Help texts say what a value does, its unit and
default, and carry no measurements.
"""

from __future__ import annotations

import functools
import inspect
import json
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand

from audiogen import hub
from audiogen.errors import InputError, RunError

#: The samplers ``--sampler`` takes (the table is :data:`audiogen.samplers.factory.SAMPLERS`).
SAMPLER_NAMES = "dpm++ (DPM-Solver++ 2M), ddim or euler (a rectified-flow model: dpm++ or euler)"


#: metavar of an option that names none, by annotation (typer would show ``<path>``, ``<int range>``)
PLAIN_METAVARS = {Path: "PATH", int: "N", float: "X", str: "TEXT"}


class PlainUsage(TyperCommand):
    """A command whose help names arguments and option values plainly: ``AUDIO``, not typer's
    ``{AUDIO}``; ``--out PATH``, not ``--out <path>``."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        for param in params:
            if param.param_type_name != "option" or param.metavar is not None or param.is_flag:
                continue
            annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
            annotation = (typing.get_args(annotation) or [annotation])[0]  # list[str] -> str
            if annotation in PLAIN_METAVARS:
                param.metavar = PLAIN_METAVARS[annotation]
        return params



def bundled_styles() -> list[str]:
    """The bundled model's style names, read from its ``model_index.json`` (no torch); ``[]`` if absent."""
    try:
        index = json.loads((hub.DEFAULT_PIPELINE / hub.MODEL_INDEX_NAME).read_text())
    except (OSError, ValueError):
        return []
    return [str(s) for s in index.get("styles") or []]


def styles_phrase() -> str:
    """`` (the bundled model's: a, b, ...)`` for a help text, or ``""`` without a bundled model."""
    styles = bundled_styles()
    return f" (the bundled model's: {', '.join(styles)})" if styles else ""


CHECKPOINT = typer.Option(
    None,
    "--checkpoint",
    metavar="DIR",
    help="Model folder to use (written by AudioGenPipeline.save_pretrained: model_index.json and a "
    "folder per stage); default: the bundled model.",
)
DEVICE = typer.Option(
    "auto", "--device", metavar="DEVICE", help="Where to run: auto (a CUDA GPU if there is one), cpu or cuda."
)
SEED = typer.Option(
    0, "--seed", metavar="N", help="Random seed (0 or more): the same seed and settings give the same audio."
)
SEEDS = typer.Option(
    0,
    "--seed",
    metavar="N",
    help="Random seed of the first clip (0 or more); clip i of --num gets seed + i. The same seed and "
    "settings give the same audio.",
)
STEPS = typer.Option(
    None,
    "--steps",
    metavar="N",
    help="Denoising steps, 1 to 1000: more steps take longer; default: the model's own setting "
    "(saved with it).",
)
CFG_SCALE = typer.Option(
    None,
    "--cfg-scale",
    metavar="SCALE",
    help="How strongly the audio follows --style (classifier-free guidance), 0 to 50: 1 = plain "
    "conditioning, higher = closer to the style; default: the model's own setting (saved with it).",
)
STYLE = typer.Option(
    None,
    "--style",
    metavar="NAME",
    help=f"Style of the audio, one of the model's style names{styles_phrase()}; default: none "
    "(unconditional).",
)
NEGATIVE_STYLE = typer.Option(
    None,
    "--negative-style",
    metavar="NAME",
    help="A style to steer away from (needs a --style other than it, and a --cfg-scale other than 1): "
    "guidance pushes from this style towards --style instead of from no style; default: none.",
)
SAMPLER = typer.Option("dpm++", "--sampler", metavar="NAME", help=f"Sampling method: {SAMPLER_NAMES}.")
OVERWRITE = typer.Option(False, "--overwrite", help="Replace output files that exist (otherwise: an error).")
OUT_FILE = typer.Option(..., "--out", metavar="FILE", help="Audio file to write (.wav or .flac).")
LORA = typer.Option(
    None,
    "--lora",
    metavar="DIR[:STRENGTH]",
    help="A LoRA adapter made by audiogen finetune --lora (its run folder, RUN/lora or the adapter "
    "folder), at STRENGTH (default 1, 0 = off); repeat to stack several.",
)


#: SamplingConfig field → (its type on the command line, its option): the one definition of each
#: sampling flag (``progress`` is not a flag: commands always show progress).
SAMPLING_OPTIONS: dict[str, tuple[Any, Any]] = {
    "seed": (int, SEED),
    "steps": (int | None, STEPS),
    "cfg_scale": (float | None, CFG_SCALE),
    "style": (str | None, STYLE),
    "sampler": (str, SAMPLER),
    "negative_style": (str | None, NEGATIVE_STYLE),
}


def option_group(
    name: str,
    table: dict[str, tuple[Any, Any]],
    build: Callable[[dict[str, Any]], Any] = dict,
    **overrides: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command the options of ``table`` (parameter name → (type, typer option)) in place of
    its parameter ``name``, which receives ``build(their values)``.

    ``overrides``: parameter → another option for this command (e.g. ``seed=SEEDS``).
    """
    table = {key: (kind, overrides.get(key, option)) for key, (kind, option) in table.items()}

    def wrap(command: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(command)
        params = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(p.name, p.annotation))
            for p in inspect.signature(command).parameters.values()
        ]
        at = [p.name for p in params].index(name)
        added = [
            inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
            for key, (kind, option) in table.items()
        ]
        params = params[:at] + added + params[at + 1 :]

        @functools.wraps(command)
        def run(**kwargs: Any) -> Any:
            values = {key: kwargs.pop(key) for key in table}
            return command(**{name: build(values)}, **kwargs)

        del run.__wrapped__  # typer reads the signature below, not the command's
        run.__signature__ = inspect.Signature(params, return_annotation=None)
        run.__annotations__ = {p.name: p.annotation for p in params}
        return run

    return wrap


def _sampling_config(values: dict[str, Any]) -> Any:
    from audiogen.pipelines.sampling import SamplingConfig

    return SamplingConfig(**values).checked()


def sampling_options(
    only: tuple[str, ...] | None = None, **overrides: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command the sampling options of :data:`SAMPLING_OPTIONS` (those named in ``only``, or
    all) in place of its ``sampling`` parameter; the command is called with
    ``sampling=SamplingConfig(...)`` (range-checked, see
    :meth:`~audiogen.pipelines.sampling.SamplingConfig.checked`). ``overrides`` as
    :func:`option_group`.
    """
    table = SAMPLING_OPTIONS if only is None else {key: SAMPLING_OPTIONS[key] for key in only}
    return option_group("sampling", table, _sampling_config, **overrides)


def resolve_device(device: str) -> str:
    """``--device``: ``"auto"`` → ``"cuda"`` if available, else ``"cpu"``.

    Raises:
        InputError: an unknown device, or ``cuda`` without CUDA.
    """
    import torch

    if device not in ("auto", "cpu", "cuda"):
        raise InputError(f"--device must be auto, cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for but CUDA is not available (use --device cpu or auto)")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load_pipeline(
    checkpoint: Path | None, device: str, sampling: Any = None, loras: list[str] | None = None
) -> Any:
    """Load the pipeline and its ``--lora`` adapters; check ``sampling`` (a
    :class:`~audiogen.pipelines.sampling.SamplingConfig`: its styles) against the model.

    Raises:
        InputError: a missing model folder or adapter, a setting the model refuses (an unknown
            style).
        RunError: a model folder or adapter that exists but does not load.
    """
    from audiogen.models.lora import parse_lora_spec
    from audiogen.pipelines.audiogen import AudioGenPipeline

    try:
        specs = [parse_lora_spec(spec) for spec in loras or []]
    except ValueError as e:
        raise InputError(str(e)) from e
    for path, _ in specs:
        if not path.exists():
            raise InputError(f"--lora {path}: no such adapter folder")
    if checkpoint is None:
        checkpoint = hub.DEFAULT_PIPELINE
        if not (checkpoint / hub.MODEL_INDEX_NAME).is_file():
            raise InputError(
                f"no model: the bundled default model is not installed ({checkpoint} has no "
                f"{hub.MODEL_INDEX_NAME}); pass --checkpoint DIR, a pipeline folder written by "
                "AudioGenPipeline.save_pretrained"
            )
    try:
        pipeline = AudioGenPipeline.from_pretrained(checkpoint, device=device)
    except FileNotFoundError as e:
        raise InputError(str(e)) from e
    except ValueError as e:
        raise RunError(f"cannot load the pipeline in {checkpoint}: {e}") from e
    for path, strength in specs:
        try:
            pipeline.load_lora(path, strength=strength)
        except FileNotFoundError as e:
            raise InputError(str(e)) from e
        except ValueError as e:  # LoraError: corrupt, or made for another base
            raise RunError(str(e)) from e
    if sampling is not None:
        try:
            pipeline.check_inputs(sampling)
        except ValueError as e:
            raise InputError(str(e)) from e
    return pipeline


def check_out_file(out: Path, overwrite: bool) -> None:
    """Check a one-file command's ``--out`` (:func:`audiogen.pipelines.checks.check_out_file`); from
    then on Ctrl-C says that nothing was written (:func:`audiogen.cli.exit.on_interrupt`).

    Raises:
        InputError: ``out`` exists without ``overwrite``, is a folder, or cannot be written.
    """
    from audiogen.cli.exit import on_interrupt
    from audiogen.pipelines.checks import check_out_file as check_file

    check_file(out, overwrite)
    on_interrupt(f"nothing was written ({out} is written only once complete); run the same command again")


def save(path: Path, waveform: Any, sample_rate: int) -> None:
    """Write one clip; a write that fails raises :class:`~audiogen.errors.RunError` (status 1)."""
    from audiogen.audio.io import save_audio

    try:
        save_audio(path, waveform, sample_rate)
    except (OSError, ValueError) as e:
        raise RunError(str(e)) from e


__all__ = [
    "CFG_SCALE",
    "CHECKPOINT",
    "DEVICE",
    "LORA",
    "NEGATIVE_STYLE",
    "OUT_FILE",
    "OVERWRITE",
    "PlainUsage",
    "SAMPLER",
    "SEED",
    "SEEDS",
    "STEPS",
    "STYLE",
    "bundled_styles",
    "check_out_file",
    "option_group",
    "styles_phrase",
    "load_pipeline",
    "resolve_device",
    "SAMPLING_OPTIONS",
    "sampling_options",
    "save",
]
