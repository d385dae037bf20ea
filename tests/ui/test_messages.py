"""Error messages in the page's words: flags become the field labels of the tab they concern."""

from __future__ import annotations

import math

import pytest

from audiogen.pipelines.sampling import MAX_SEED
from audiogen.ui.host import UIError
from audiogen.ui.jobs import Sampling, check_sampling, check_upload
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


@pytest.mark.parametrize(
    ("sampling", "shown"),
    [
        ({"cfg_scale": math.nan}, "CFG scale must be a finite number in [0, 50], got nan"),
        ({"cfg_scale": 51.0}, "CFG scale must be a finite number in [0, 50], got 51.0"),
        ({"seed": -1}, f"Seed must be in [0, 2**64 - 1 = {MAX_SEED}], got -1"),
    ],
)
def test_shared_checks_shown_in_page_words(sampling, shown):
    """The form runs the command line's own checks (audiogen.pipelines.checks); the page shows their
    messages with its field names."""
    with pytest.raises(UIError) as caught:
        check_sampling(Sampling(**sampling))
    assert error_markdown(str(caught.value), "generate") == f"**Error:** {shown}"


def test_upload_check_names_the_file(tmp_path):
    import numpy as np
    import soundfile as sf

    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    with pytest.raises(UIError, match="notes.wav"):
        check_upload(bad)
    good = tmp_path / "tone.wav"
    sf.write(good, np.zeros(1600), 16000)
    assert check_upload(good).sample_rate == 16000
