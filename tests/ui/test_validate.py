"""The web app's raising input checks say exactly what the CLI's checks print for the same value."""

from __future__ import annotations

import math

import pytest
import typer

from audiogen import checks
from audiogen.ui import validate


def _cli_message(capsys, check, *args) -> str:
    with pytest.raises(typer.Exit):
        check(*args)
    return capsys.readouterr().err.strip().removeprefix("error: ")


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("check_number", ("--cfg-scale", math.nan, 0.0, 50.0)),
        ("check_number", ("--cfg-scale", 51.0, 0.0, 50.0)),
        ("check_number", ("--seconds", 0.0, 0.0, 600.0, True)),
        ("check_seed", (-1,)),
        ("check_seed", (2**64 - 2, 3)),
    ],
)
def test_same_message_as_the_cli(capsys, name, args):
    expected = _cli_message(capsys, getattr(checks, name), *args)
    with pytest.raises(ValueError) as caught:
        getattr(validate, name)(*args)
    assert str(caught.value) == expected and expected


def test_input_audio(capsys, tmp_path):
    import numpy as np
    import soundfile as sf

    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    expected = _cli_message(capsys, checks.check_input_audio, bad)
    with pytest.raises(ValueError) as caught:
        validate.check_input_audio(bad)
    assert str(caught.value) == expected and "notes.wav" in expected
    good = tmp_path / "tone.wav"
    sf.write(good, np.zeros(1600), 16000)
    assert validate.check_input_audio(good).sample_rate == 16000
    with pytest.raises(ValueError, match="longer than the 0.05 s limit"):
        validate.check_input_audio(good, 0.05)


def test_accepted_values_pass():
    assert validate.check_number("--cfg-scale", 3.0, 0.0, 50.0) == 3.0
    validate.check_seed(0, 4)
