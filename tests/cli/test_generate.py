"""``audiogen generate``, ``audiogen loop`` and ``audiogen variation`` with a tiny saved pipeline."""

import math

import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from audiogen import hub
from audiogen.cli import app
from tests.pipelines.test_audiogen import MEL, write_tiny_pipeline


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_tiny_pipeline(tmp_path_factory.mktemp("pipeline") / "tiny")


def _assert_clean_error(result, code, *fragments):
    """Non-zero exit with a message and no traceback."""
    assert result.exit_code == code, result.output
    assert "error:" in result.output and "Traceback" not in result.output, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    for fragment in fragments:
        assert fragment in result.output, result.output


def test_generate_writes_one_file_per_seed_and_refuses_to_overwrite(checkpoint, tmp_path):
    out = tmp_path / "gen"
    common = ["--seconds", 0.3, "--steps", 2, "--checkpoint", checkpoint, "--device", "cpu", "--out", out]
    result = _invoke("generate", "--num", 3, "--seed", 41, "--style", "flute", "--batch-size", 2, *common)
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["flute_seed000041.wav", "flute_seed000042.wav", "flute_seed000043.wav"]
    for name in names:
        info = sf.info(str(out / name))
        assert info.frames == round(0.3 * MEL.sample_rate) and info.samplerate == MEL.sample_rate
    first = sf.read(str(out / names[1]))[0]

    # the same seed alone gives the same clip (per-item seeds); existing files are not replaced
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    result = _invoke("generate", "--num", 1, "--seed", 42, "--style", "flute", *common)
    _assert_clean_error(result, 2, "exist", "flute_seed000042.wav", "--overwrite")
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    result = _invoke("generate", "--num", 1, "--seed", 42, "--style", "flute", "--overwrite", *common)
    assert result.exit_code == 0, result.output
    again = sf.read(str(out / "flute_seed000042.wav"))[0]
    assert (again == first).all()  # batch of 2 vs batch of 1: each clip is computed alone

    # unconditional, FLAC, spectrogram images beside the audio
    result = _invoke("generate", "--num", 2, "--format", "flac", "--plot", "--sampler", "ddim", *common)
    assert result.exit_code == 0, result.output
    for seed in (0, 1):
        assert sf.info(str(out / f"any_seed{seed:06d}.flac")).frames == 4800
        png = out / f"any_seed{seed:06d}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--seconds", 0], ["--seconds must be in (0, 600]"]),
        (["--seconds", -2], ["--seconds must be in (0, 600]"]),
        (["--seconds", 601], ["--seconds must be in (0, 600]"]),
        (["--num", 0], ["--num must be >= 1"]),
        (["--style", "banjo"], ["unknown style 'banjo'", "piano, flute"]),
        (["--format", "mp4"], ["--format must be one of wav, flac"]),
        (["--sampler", "plms"], ["--sampler must be one of"]),
        (["--steps", 0], ["--steps must be in"]),
    ],
)
def test_generate_rejects_bad_arguments(checkpoint, tmp_path, args, fragments):
    out = tmp_path / "gen"
    result = _invoke("generate", "--checkpoint", checkpoint, "--device", "cpu", "--out", out, *args)
    _assert_clean_error(result, 2, *fragments)
    assert not out.exists()


def test_missing_checkpoints_and_unavailable_cuda(checkpoint, tmp_path, monkeypatch):
    result = _invoke(
        "generate", "--checkpoint", tmp_path / "nowhere", "--out", tmp_path / "o", "--device", "cpu"
    )
    _assert_clean_error(result, 2, f"{tmp_path / 'nowhere'}: no such pipeline folder")

    monkeypatch.setattr(hub, "DEFAULT_PIPELINE", tmp_path / "no-default")
    result = _invoke("generate", "--out", tmp_path / "o", "--device", "cpu")
    _assert_clean_error(result, 2, "bundled default model is not installed", "--checkpoint")
    result = _invoke("loop", "--bars", 1, "--bpm", 120, "--out", tmp_path / "l.wav", "--device", "cpu")
    _assert_clean_error(result, 2, "--checkpoint")

    # the bundled default is used when it exists
    monkeypatch.setattr(hub, "DEFAULT_PIPELINE", checkpoint)
    result = _invoke("generate", "--seconds", 0.2, "--steps", 1, "--out", tmp_path / "o", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o" / "any_seed000000.wav").is_file()

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = _invoke("generate", "--checkpoint", checkpoint, "--out", tmp_path / "c", "--device", "cuda")
    _assert_clean_error(result, 2, "CUDA is not available")


def test_loop_writes_the_exact_length_and_prints_it(checkpoint, tmp_path):
    out = tmp_path / "loop.wav"
    common = ["--checkpoint", checkpoint, "--device", "cpu", "--steps", 2]
    result = _invoke("loop", "--bars", 2, "--bpm", 120, "--out", out, *common)
    assert result.exit_code == 0, result.output
    assert sf.info(str(out)).frames == 64000  # 2 bars of 4/4 at 120 bpm = 4 s at 16 kHz
    assert "64000 samples = 4.000000 s" in result.output and "pitch ratio" in result.output

    expected = round(3 * 3 * 60 / 97 * MEL.sample_rate)
    result = _invoke(
        "loop", "--bars", 3, "--bpm", 97, "--beats-per-bar", 3, "--repeat", 2, "--out", out, *common
    )
    _assert_clean_error(result, 2, "exists", "--overwrite")
    result = _invoke(
        "loop",
        "--bars",
        3,
        "--bpm",
        97,
        "--beats-per-bar",
        3,
        "--repeat",
        2,
        "--out",
        out,
        "--overwrite",
        *common,
    )
    assert result.exit_code == 0, result.output
    audio, _ = sf.read(str(out))
    assert audio.shape == (2 * expected,) and (audio[:expected] == audio[expected:]).all()
    assert (
        f"{expected} samples" in result.output and f"2 x {expected} = {2 * expected} samples" in result.output
    )

    for args, fragment in [
        (["--bars", 0, "--bpm", 120], "--bars must be a positive number"),
        (["--bars", 2, "--bpm", -5], "--bpm must be a positive number"),
        (["--bars", 400, "--bpm", 60], "the limit is 600 s"),
        (["--bars", 1, "--bpm", 120, "--repeat", 0], "--repeat must be >= 1"),
        (["--bars", 1, "--bpm", 120, "--style", "banjo"], "unknown style 'banjo'"),
        (["--bars", 0.01, "--bpm", 240], "shortest loop"),
        (["--bars", 1, "--bpm", 120, "--fit", "crossfade"], "--fit must be mel or resample"),
    ]:
        result = _invoke("loop", *args, "--out", tmp_path / "bad.wav", *common)
        _assert_clean_error(result, 2, fragment)
    assert not (tmp_path / "bad.wav").exists()


def test_variation_keeps_the_input_length(checkpoint, tmp_path):
    from audiogen.audio.io import save_audio

    n = 9001
    tone = 0.3 * torch.sin(2 * math.pi * 330 * torch.arange(n) / MEL.sample_rate)
    source = save_audio(tmp_path / "in.wav", tone[None], MEL.sample_rate)
    out = tmp_path / "var.flac"
    common = ["--checkpoint", checkpoint, "--device", "cpu", "--steps", 4]
    result = _invoke("variation", source, "--strength", 0.5, "--out", out, "--style", "piano", *common)
    assert result.exit_code == 0, result.output
    info = sf.info(str(out))
    assert info.frames == n and info.samplerate == MEL.sample_rate

    stereo = save_audio(tmp_path / "st.wav", torch.stack([tone, -tone])[:, :8000], 22050)  # 0.3628 s
    result = _invoke("variation", stereo, "--strength", 1.0, "--out", tmp_path / "v2.wav", *common)
    assert result.exit_code == 0, result.output
    assert sf.info(str(tmp_path / "v2.wav")).frames == math.ceil(8000 * 16000 / 22050)

    for args, fragment in [
        ([source, "--strength", 1.5], "--strength must be in [0, 1]"),
        ([tmp_path / "missing.wav", "--strength", 0.5], "no such file"),
        ([source, "--strength", 0.5, "--style", "banjo"], "unknown style"),
    ]:
        result = _invoke("variation", *args, "--out", tmp_path / "bad.wav", *common)
        _assert_clean_error(result, 2, fragment)
    result = _invoke("variation", source, "--out", out, *common)
    _assert_clean_error(result, 2, "exists")
