"""Input checks the commands run before loading a model: the input's length from its header."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

import audiogen.audio.io as audio_io
from audiogen.cli import app
from audiogen.pipelines.checks import MAX_SECONDS


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
        (["encode", "{audio}", "--out", "{tmp}/z.safetensors", "--checkpoint", "{tmp}/no-model"], 2),
        (["reconstruct", "{audio}", "--out", "{tmp}/r.wav", "--vocoder", "{tmp}/no-model"], 2),
    ],
)
def test_long_input_is_refused_from_its_header_before_the_model_loads(long_file, tmp_path, command, code):
    args = [a.format(audio=long_file, tmp=tmp_path) for a in command]
    result = _invoke(*args)
    limit = f"{MAX_SECONDS + 1:.1f} s is longer than the 600 s limit"
    _assert_clean_error(result, code, str(long_file), limit)


# ---------------------------------------------------------------------------------------------
# numeric flags: a one-line error with the accepted range, before a model is loaded


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from tests.pipelines.test_audiogen import write_tiny_pipeline

    return write_tiny_pipeline(tmp_path_factory.mktemp("pipeline") / "tiny")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--cfg-scale", "nan"], "--cfg-scale must be a finite number in [0, 50], got nan"),
        (["--cfg-scale", "inf"], "--cfg-scale must be a finite number in [0, 50], got inf"),
        (["--cfg-scale", "1e308", "--style", "piano"], "--cfg-scale must be a finite number in [0, 50]"),
        (["--seed", str(2**64)], "--seed must be in [0, 2**64 - 1"),
        (["--seed", str(2**64 - 1), "--num", "2"], "--seed + --num - 1"),
        (["--num", str(10**9)], "--num must be >= 1 and at most 100000"),
        (["--batch-size", str(10**6)], "--batch-size must be >= 1 and at most 256"),
    ],
)
def test_generate_numeric_flags_fail_before_loading(tmp_path, args, fragment):
    out = tmp_path / "gen"
    result = _invoke(
        "generate", "--checkpoint", tmp_path / "no-model", "--device", "cpu", "--out", out, *args
    )
    _assert_clean_error(result, 2, fragment)
    assert not out.exists()


def test_generate_seconds_below_one_latent_frame(checkpoint, tmp_path):
    result = _invoke("generate", "--seconds", "1e-6", "--checkpoint", checkpoint, "--out", tmp_path / "g")
    _assert_clean_error(result, 2, "--seconds must be at least one latent frame", "256 samples at 16000 Hz")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--bars", "1", "--bpm", "1e9"], "--bpm must be a positive number in [1, 1000], got 1000000000.0"),
        (["--bars", "1", "--bpm", "1e-300"], "--bpm must be a positive number in [1, 1000]"),
        (["--bars", "1e9", "--bpm", "120"], "--bars must be a positive number in (0, 1000]"),
        (["--bars", "1", "--bpm", "120", "--beats-per-bar", "1e-300"], "--beats-per-bar must be"),
        (["--bars", "1", "--bpm", "120", "--cfg-scale", "nan"], "--cfg-scale must be a finite number"),
        (["--bars", "1", "--bpm", "120", "--seed", str(2**64)], "--seed must be in [0, 2**64 - 1"),
    ],
)
def test_loop_numeric_flags_fail_before_loading(tmp_path, args, fragment):
    result = _invoke("loop", *args, "--checkpoint", tmp_path / "no-model", "--out", tmp_path / "l.wav")
    _assert_clean_error(result, 2, fragment)


def test_loop_too_few_bars_is_an_error_not_a_traceback(checkpoint, tmp_path):
    result = _invoke(
        "loop", "--bars", "1e-300", "--bpm", "120", "--checkpoint", checkpoint, "--out", tmp_path / "l.wav"
    )
    _assert_clean_error(result, 2, "shortest loop")


# ---------------------------------------------------------------------------------------------
# output locations: checked before the model loads; write errors are one line, status 1


def test_generate_output_location_checked_before_loading(tmp_path):
    common = ["--checkpoint", tmp_path / "no-model", "--device", "cpu"]
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    result = _invoke("generate", "--out", a_file, *common)
    _assert_clean_error(result, 2, f"--out {a_file} is an existing file")
    result = _invoke("generate", "--out", a_file / "sub", *common)
    _assert_clean_error(result, 2, f"{a_file} is a file, not a folder")
    folder = tmp_path / "gen"
    (folder / "any_seed000001.wav").mkdir(parents=True)
    result = _invoke("generate", "--out", folder, "--num", 2, "--overwrite", *common)
    _assert_clean_error(result, 2, "any_seed000001.wav is a folder")
    loop_dir = tmp_path / "loop.wav"
    loop_dir.mkdir()
    result = _invoke("loop", "--bars", 1, "--bpm", 120, "--out", loop_dir, "--overwrite", *common)
    _assert_clean_error(result, 2, f"--out {loop_dir} is a folder")


def test_generate_does_not_build_every_output_path(tmp_path):
    import tracemalloc

    tracemalloc.start()
    try:
        result = _invoke(
            "generate", "--num", 100_000, "--out", tmp_path / "g", "--checkpoint", tmp_path / "none"
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    _assert_clean_error(result, 2, "no such pipeline folder")
    assert peak < 8 * 2**20, f"checking 100000 outputs allocated {peak / 2**20:.1f} MiB"


def test_generate_write_error_is_one_line(checkpoint, tmp_path, monkeypatch):
    def disk_full(path, *args, **kwargs):
        raise OSError(f"{path}: cannot write the file (No space left on device)")

    monkeypatch.setattr(audio_io, "save_audio", disk_full)
    result = _invoke(
        "generate", "--seconds", 0.2, "--steps", 1, "--checkpoint", checkpoint, "--out", tmp_path / "g"
    )
    _assert_clean_error(result, 1, "No space left on device")
