"""Error messages in the page's words: flags become the field labels of the tab they concern."""

from __future__ import annotations

import pytest

from audiogen.ui.messages import error_markdown, in_page_words


@pytest.mark.parametrize(
    ("message", "tab", "shown"),
    [
        ("--seconds must be in (0, 600], got 0", "generate", "Seconds must be in (0, 600], got 0"),
        ("--seconds must be a non-negative number of seconds, got -1", "edit", "Seconds after must be"),
        (
            "give --seconds S (new audio after the input) and/or --before S (before it)",
            "edit",
            "give Seconds after (new audio after the input) and/or Seconds before (before it)",
        ),
        ("error: --steps must be >= 1, got 0", "finetune", "Steps must be >= 1, got 0"),
        ("--cfg-scale must be a finite number in [0, 50], got nan", "loop", "CFG scale must be"),
        ("AUDIO: no file uploaded", "variation", "Audio to vary: no file uploaded"),
        ("--lora /x: no such LoRA adapter folder", "lora", "Adapter folder /x: no such"),
        ("--beats-per-bar must be", "loop", "Beats per bar must be"),
    ],
)
def test_flags_become_field_names(message, tab, shown):
    text = in_page_words(message, tab)
    assert text.startswith(shown)
    assert "--" not in text


def test_unknown_flags_and_plain_words_stay():
    assert in_page_words("--frobnicate is odd; a--b stays", "generate") == "--frobnicate is odd; a--b stays"
    assert error_markdown("--num must be in [1, 4], got 9", "generate") == (
        "**Error:** Number of clips must be in [1, 4], got 9"
    )
