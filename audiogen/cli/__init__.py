"""The ``audiogen`` command line (typer).

Each command group lives in its own module and is attached here; heavy imports (torch, librosa)
happen inside the commands so that ``audiogen --help`` stays fast.
"""

from __future__ import annotations

import typer

from audiogen.cli import (
    codec,
    data,
    demo,
    edit,
    eval_generate,
    finetune,
    generate,
    reconstruct,
    stream,
    train,
    ui,
)
from audiogen.cli.exit import ErrorReportingGroup
from audiogen.cli.options import PlainUsage

app = typer.Typer(
    name="audiogen",
    cls=ErrorReportingGroup,  # errors of every command become `error: ...` and an exit status here
    help=(
        "Generate audio with a mel-spectrogram VAE, a latent generator and a neural vocoder; "
        "build training data from your own audio; train each stage with Accelerate."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # click's plain help layout: an option name too long for its column moves the help text to
    # the next line instead of being cut ("--autoencoder-s…" in rich's table at 80 columns);
    # tests/cli/test_help.py checks every command at 80 columns
    rich_markup_mode=None,
)
app.command("demo", cls=PlainUsage)(demo.demo)
app.add_typer(
    data.app,
    name="data",
    help="Scan audio folders into manifests; build the default corpus; pre-compute feature caches.",
)
app.add_typer(train.app, name="train", help="Train a stage (autoencoder, ...) from a YAML recipe.")
app.command("encode", cls=PlainUsage)(codec.encode)
app.command("decode", cls=PlainUsage)(codec.decode)
app.command("reconstruct", cls=PlainUsage)(reconstruct.reconstruct)
app.command("generate", cls=PlainUsage)(generate.generate)
app.command("loop", cls=PlainUsage)(generate.loop)
app.command("variation", cls=PlainUsage)(generate.variation)
app.command("extend", cls=PlainUsage)(edit.extend)
app.command("inpaint", cls=PlainUsage)(edit.inpaint)
app.command("finetune", cls=PlainUsage)(finetune.finetune)
app.command("stream", cls=PlainUsage)(stream.stream)
app.command("ui", cls=PlainUsage)(ui.ui)
reconstruct.eval_app.command("generate", cls=PlainUsage)(eval_generate.generate)
app.add_typer(
    reconstruct.eval_app,
    name="eval",
    help=(
        "Evaluate models on held-out audio from a manifest. reconstruct: how well the vocoder and the "
        "VAE + vocoder rebuild real clips (mel L1 in dB, multi-resolution STFT distance, beside "
        "Griffin-Lim). generate: Frechet distance of generated clips to real ones, beside the floor "
        "of the VAE + vocoder's own reconstructions."
    ),
)


def main() -> None:
    """Console-script entry point (ends the process without interpreter teardown after a command
    that allows it: :mod:`audiogen.cli.exit`)."""
    from audiogen.cli.exit import leave, reset

    reset()
    try:
        app()
    except SystemExit as e:
        leave(e)
