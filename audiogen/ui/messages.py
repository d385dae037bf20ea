"""Error messages in the page's words: the jobs raise the command line's one-line messages (which name
flags such as ``--seconds``); the page shows them with the names of its own fields ("Seconds")."""

from __future__ import annotations

import re

#: Flag -> field label, common to the generating tabs.
SAMPLING_FIELDS = {
    "--style": "Style",
    "--negative-style": "Negative style",
    "--seed": "Seed",
    "--steps": "Steps",
    "--cfg-scale": "CFG scale",
    "--sampler": "Sampler",
    "--format": "Download format",
    "--checkpoint": "Model",
}
#: Per tab: the flags of its own fields.
TAB_FIELDS = {
    "generate": {"--seconds": "Seconds", "--num": "Number of clips"},
    "loop": {"--bars": "Bars", "--bpm": "BPM", "--beats-per-bar": "Beats per bar", "--repeat": "Repeat"},
    "variation": {"--strength": "Strength", "AUDIO": "Audio to vary"},
    "edit": {
        "--seconds": "Seconds after",
        "--before": "Seconds before",
        "--start": "Span start",
        "--end": "Span end",
        "AUDIO": "Audio to edit",
    },
    "finetune": {
        "--out": "Run folder",
        "--steps": "Steps",
        "--stages": "Stages",
        "--style": "Style name",
        "--lora": "LoRA rank",
    },
    "lora": {"--lora": "Adapter folder"},
}

_FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z-]*|AUDIO)(?: S\b)?")


def in_page_words(message: str, tab: str) -> str:
    """``message`` with the flags of ``tab`` (and the sampling flags) replaced by their field labels; an
    ``error: `` prefix is dropped. Flags the page has no field for are left as they are."""
    fields = {**SAMPLING_FIELDS, **TAB_FIELDS.get(tab, {})}
    message = message.removeprefix("error: ")
    return _FLAG.sub(lambda m: fields.get(m.group(1), m.group(0)), message)


def error_markdown(message: str, tab: str) -> str:
    """The status line shown next to a form for a refused value or a failed job."""
    return f"**Error:** {in_page_words(message, tab)}"
