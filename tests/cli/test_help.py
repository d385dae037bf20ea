"""Every command's --help is readable at 80 columns: full option names, no line wider than 80."""

from __future__ import annotations

import re

import pytest
import typer.main
from typer.core import TyperGroup
from typer.testing import CliRunner

from audiogen.cli import app

WIDTH = 80


def _commands() -> list[tuple[list[str], list[str]]]:
    """``(argv path, option names)`` for the root, every command and every subcommand."""
    root = typer.main.get_command(app)
    found: list[tuple[list[str], list[str]]] = []

    def walk(command, path, ctx) -> None:
        names = [
            opt
            for param in command.get_params(ctx)
            if not getattr(param, "hidden", False)
            for opt in (*param.opts, *param.secondary_opts)
            if opt.startswith("-")
        ]
        found.append((path, names))
        if isinstance(command, TyperGroup):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                walk(sub, [*path, name], type(ctx)(sub, parent=ctx, info_name=name))

    walk(root, [], type(root).context_class(root, info_name="audiogen"))
    return found


COMMANDS = _commands()


def test_every_command_group_is_listed():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"generate", "finetune", "data build-default", "train vocoder", "eval generate"} <= names


@pytest.mark.parametrize(("path", "names"), COMMANDS, ids=[" ".join(p) or "audiogen" for p, _ in COMMANDS])
def test_help_at_80_columns_shows_full_option_names(path, names):
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(WIDTH)}, terminal_width=WIDTH)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    too_wide = [line for line in lines if len(line) > WIDTH]
    assert not too_wide, f"lines over {WIDTH} columns: {too_wide}"
    assert "…" not in result.output
    tokens = set(re.findall(r"-{1,2}[A-Za-z0-9][\w-]*", result.output))
    assert "--help" in names
    missing = [name for name in names if name not in tokens]
    assert not missing, f"option names not shown in full: {missing}\n{result.output}"


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "audiogen")
def test_usage_and_options_show_plain_metavars(path):
    """No typer-internal placeholders such as ``{audio}`` or ``<list[str]>`` in the usage line or an
    option's value (the Arguments list may name an argument's type: ``AUDIO <path>``)."""
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"}, terminal_width=200)
    assert result.exit_code == 0, result.output
    lines = [x for x in result.output.splitlines() if x.startswith("Usage:") or x.lstrip().startswith("-")]
    placeholders = re.findall(r"\{[A-Za-z_]+\}|<[a-z_\[\] ]+>", "\n".join(lines))
    placeholders = [p for p in placeholders if p != "{seed}"]  # eval generate --json's own token
    assert not placeholders, f"{' '.join(path)} --help shows {placeholders}:\n{result.output}"
