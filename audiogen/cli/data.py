"""``audiogen data ...``: scan folders of audio into manifests, build the default corpus."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)
