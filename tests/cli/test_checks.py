"""Input checks the commands run before loading a model: the input's length from its header."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

import audiogen.audio.io as audio_io
from audiogen.cli import app
from audiogen.cli.checks import MAX_SECONDS


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _assert_clean_error(result, code, *fragments):
    assert result.exit_code == code, result.output
    assert "error:" in result.output and "Traceback" not in result.output, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    for fragment in fragments:
        assert fragment in result.output, result.output


@pytest.fixture
def long_file(tmp_path, monkeypatch):
    """A mono 4 kHz WAV one second longer than the limit; decoding it fails the test."""
    path = tmp_path / "long.wav"
    sf.write(str(path), np.zeros((int(4000 * (MAX_SECONDS + 1)), 1), np.float32), 4000, subtype="PCM_16")

    def no_decoding(*args, **kwargs):
        raise AssertionError("the file was decoded; its header alone says it is too long")

    monkeypatch.setattr(audio_io, "_decode_frames", no_decoding)
    return path


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (["variation", "{audio}", "--out", "{tmp}/v.wav", "--checkpoint", "{tmp}/no-model"], 2),
        (["encode", "{audio}", "--out", "{tmp}/z.safetensors", "--checkpoint", "{tmp}/no-model"], 1),
        (["reconstruct", "{audio}", "--out", "{tmp}/r.wav", "--vocoder", "{tmp}/no-model"], 1),
    ],
)
def test_long_input_is_refused_from_its_header_before_the_model_loads(long_file, tmp_path, command, code):
    args = [a.format(audio=long_file, tmp=tmp_path) for a in command]
    result = _invoke(*args)
    limit = f"{MAX_SECONDS + 1:.1f} s is longer than the 600 s limit"
    _assert_clean_error(result, code, str(long_file), limit)
