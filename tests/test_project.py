"""The project's own promises: CI runs the README's test command; the CLI answers --help."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(markdown: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", markdown, flags=re.S)]


def test_ci_runs_the_readme_test_command():
    blocks = _bash_blocks((ROOT / "README.md").read_text())
    assert len(blocks) >= 2, "README must open with two quick-start commands"
    test_command = blocks[1]
    ci_lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines, f".ci/run does not run the README test command {test_command!r}"


def test_cli_help_lists_commands():
    out = subprocess.run(
        [sys.executable, "-c", "from audiogen.cli import main; main()", "--help"],
        capture_output=True, text=True, check=True,
    ).stdout
    for command in ("demo", "data"):
        assert command in out
