"""``audiogen ui``: the local web app (Gradio; ``pip install audiogen[ui]``).

gradio is imported inside the command, so ``audiogen --help`` stays fast and the core install works
without it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import typer

from audiogen.errors import InputError, RunError


def ui(
    checkpoint: Path = typer.Option(
        None,
        "--checkpoint",
        help="Pipeline folder to start with; default: the bundled model in audiogen/assets/default.",
    ),
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        help="Interface to serve on. Anything but a loopback address exposes the app (and the server's "
        "folders through Fine-tune) to the network: a warning is printed.",
    ),
    port: int = typer.Option(7860, "--port", help="TCP port."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA if available), cpu or cuda."),
    runs_dir: Path = typer.Option(
        Path("runs"),
        "--runs-dir",
        help="Where Fine-tune writes runs; finished runs there are offered as models.",
    ),
    out: Path = typer.Option(
        None, "--out", help="Folder for the results (audio, spectrograms); default: a new temporary folder."
    ),
) -> None:
    """Serve the web app: Generate, Loop, Variation, Extend / Inpaint, Fine-tune tabs on one loaded model."""
    if not 1 <= port <= 65535:
        raise InputError(f"--port must be in [1, 65535], got {port}")
    if device not in ("auto", "cpu", "cuda"):
        raise InputError(f"--device must be auto, cpu or cuda, got {device!r}")
    from audiogen.ui.host import is_loopback

    if not is_loopback(host):
        typer.echo(
            f"warning: serving on {host}, not only this machine: anyone who can reach port {port} can "
            "generate, read the result files and start fine-tuning runs on this server's folders",
            err=True,
        )
    if checkpoint is not None and not checkpoint.is_dir():
        raise InputError(f"--checkpoint {checkpoint}: no such folder")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio  # noqa: F401
    except ImportError as e:
        raise InputError("the web app needs gradio: pip install 'audiogen[ui]'") from e
    import torch

    from audiogen.ui.app import launch
    from audiogen.ui.host import ModelHost, UIError

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for but CUDA is not available (use --device cpu or auto)")
    out_dir = out or Path(tempfile.mkdtemp(prefix="audiogen-ui-"))
    model_host = ModelHost(checkpoint, device, runs_dir, out_dir)
    try:
        model_host.pipeline  # noqa: B018 (load the start model before serving)
    except UIError as e:
        raise RunError(str(e)) from e
    typer.echo(f"audiogen ui: http://{host}:{port} (results in {out_dir})")
    launch(model_host, server_name=host, server_port=port, block=True)
