"""The ``audiogen`` command line (typer).

Each command group lives in its own module and is attached here; heavy imports (torch, librosa)
happen inside the commands so that ``audiogen --help`` stays fast.
"""

from __future__ import annotations

import typer

from audiogen.cli import data, demo

app = typer.Typer(
    name="audiogen",
    help=(
        "Generate audio with a mel-spectrogram VAE, a latent generator and a neural vocoder; "
        "build training data from your own audio; train each stage with Accelerate."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("demo")(demo.demo)
app.add_typer(data.app, name="data", help="Scan audio folders into manifests; build the default corpus.")


def main() -> None:
    """Console-script entry point."""
    app()
