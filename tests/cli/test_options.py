"""The shared options (audiogen/cli/options.py): one definition each, help for a newcomer."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from audiogen.cli import app
from audiogen.cli.options import SAMPLING_OPTIONS, bundled_styles
from audiogen.pipelines.sampling import SamplingConfig

COMMANDS = ["generate", "loop", "variation", "extend", "inpaint"]


def _help(command: str) -> str:
    result = CliRunner().invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def test_every_sampling_field_but_progress_is_one_option():
    assert set(SAMPLING_OPTIONS) == set(SamplingConfig.field_names()) - {"progress"}


@pytest.mark.parametrize("command", COMMANDS)
def test_generating_commands_show_every_sampling_flag(command):
    text = _help(command)
    for flag in ("--seed", "--steps", "--cfg-scale", "--style", "--sampler", "--negative-style"):
        assert flag in text


@pytest.mark.parametrize("command", COMMANDS)
def test_help_for_a_newcomer(command):
    text = _help(command)
    usage = text.splitlines()[0]
    assert "{" not in usage and "<list[str]>" not in text
    seed_help = text[text.index("--seed") : text.index("--steps")]
    assert ("--num" in seed_help) == (command == "generate")  # only generate has --num
    assert not re.search(r"\bFD\b|real-time factor|faster than", text)
    styles = bundled_styles()
    if styles:
        assert all(style in text for style in styles)  # --style lists the bundled model's styles
