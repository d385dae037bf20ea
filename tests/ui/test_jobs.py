"""The jobs' sampling settings (no page, no server): the negative style reaches the pipeline's config
and the shown command, and is refused as the command line refuses it."""

from __future__ import annotations

import pytest

from audiogen.errors import InputError
from audiogen.pipelines.sampling import SamplingConfig
from audiogen.ui.host import UIError
from audiogen.ui.jobs import Sampling, check_sampling, check_styles
from audiogen.ui.messages import in_page_words
from audiogen.ui.results import command_line


def test_negative_style_on_the_command_line_only_when_set():
    plain = Sampling("piano", 3, 8, 3.0)
    assert "--negative-style" not in plain.flags()
    assert "--negative-style" not in Sampling("piano", negative_style="").flags()
    flags = Sampling("piano", 3, 8, 3.0, negative_style="flute").flags()
    assert flags[-2:] == ["--negative-style", "flute"]
    assert command_line("generate", flags).endswith("--sampler dpm++ --negative-style flute")


def test_negative_style_in_the_pipeline_config():
    config = Sampling("piano", 3, 8, 3.0, "euler", negative_style="flute").config()
    assert config == SamplingConfig(3, 8, 3.0, "piano", "euler", progress=True, negative_style="flute")
    assert Sampling("piano", negative_style="").config().negative_style is None
    assert Sampling("piano").config().negative_style is None


def test_check_sampling_keeps_a_negative_style_and_drops_an_empty_one():
    assert check_sampling(Sampling("piano", negative_style="flute")).negative_style == "flute"
    assert check_sampling(Sampling("piano", negative_style="")).negative_style is None
    # the edit tab's auto is checked against the style heard (edit_job)
    assert check_sampling(Sampling("auto", negative_style="flute")).negative_style == "flute"


@pytest.mark.parametrize(
    ("sampling", "shown"),
    [
        (
            {"style": "piano", "negative_style": "piano"},
            "Negative style must differ from Style (both 'piano')",
        ),
        ({"style": "", "negative_style": "flute"}, "Negative style needs a Style to steer towards"),
        ({"negative_style": "flute"}, "Negative style needs a Style to steer towards"),
    ],
)
def test_check_sampling_refuses_a_negative_style_as_the_command_line(sampling, shown):
    with pytest.raises(UIError) as caught:
        check_sampling(Sampling(**sampling))
    message = str(caught.value)
    assert "\n" not in message and in_page_words(message, "generate") == shown
    with pytest.raises(InputError) as cli:  # the command line's check: the same line
        SamplingConfig(
            style=sampling.get("style") or None,
            negative_style=sampling["negative_style"],
        ).checked()
    assert str(cli.value) == message


def test_check_styles_refuses_an_unknown_negative_style_naming_the_field():
    from tests.pipelines.test_audiogen import make_tiny_pipeline

    pipe = make_tiny_pipeline()  # styles piano, flute
    check_styles(pipe, Sampling("piano", negative_style="flute"))
    check_styles(pipe, Sampling("auto", negative_style="flute"))
    with pytest.raises(UIError) as caught:
        check_styles(pipe, Sampling("piano", negative_style="banjo"))
    shown = in_page_words(str(caught.value), "generate")
    assert shown == "Negative style: unknown style 'banjo'; known styles: piano, flute"
    with pytest.raises(UIError, match="^unknown style 'banjo'"):
        check_styles(pipe, Sampling("banjo"))
