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


def _decimal_numbers(text: str) -> set[str]:
    """Numbers with a decimal point (``3.35``, ``0.990``), as written; thousands separators dropped."""
    return {m.replace(",", "") for m in re.findall(r"(?<![\w.])\d[\d,]*\.\d+(?![\w.])", text)}


def test_decimal_numbers_finds_measurements():
    found = _decimal_numbers("FD 3.35 (seed 1: 3.23), 1,234.5 MiB, torch 2.11.0, 4 steps, v1.2x")
    assert found == {"3.35", "3.23", "1234.5"}


def test_readme_and_model_card_share_no_decimal_number():
    """A measurement of the bundled model lives in its model card; README links to it."""
    readme = _decimal_numbers((ROOT / "README.md").read_text())
    card = _decimal_numbers((ROOT / "audiogen" / "assets" / "default" / "MODEL_CARD.md").read_text())
    assert not readme & card, f"numbers in both README.md and the model card: {sorted(readme & card)}"
