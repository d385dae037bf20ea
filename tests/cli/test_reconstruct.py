"""``audiogen reconstruct`` and ``audiogen eval reconstruct`` with tiny saved (untrained) models."""

import json
import math

import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from audiogen import hub
from audiogen.cli import app
from tests.evaluation.test_reconstruction import write_tiny_manifest, write_tiny_models


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def models(tmp_path):
    return write_tiny_models(tmp_path / "models")


@pytest.fixture
def stereo_clip(tmp_path):
    from audiogen.audio.io import save_audio

    t = torch.arange(int(0.75 * 22050)) / 22050
    wave = torch.stack([0.3 * torch.sin(2 * math.pi * 220 * t), 0.2 * torch.sin(2 * math.pi * 330 * t)])
    return save_audio(tmp_path / "in.wav", wave, 22050)


def test_reconstruct_writes_audio_at_the_models_rate_and_the_inputs_length(
    models, stereo_clip, tmp_path, monkeypatch
):
    out = tmp_path / "out" / "rec.wav"
    result = _invoke("reconstruct", stereo_clip, "--out", out, "--vocoder", models / "vocoder",
                     "--autoencoder", models / "autoencoder", "--device", "cpu")  # fmt: skip
    assert result.exit_code == 0, result.output
    info = sf.info(str(out))
    assert info.samplerate == 16000 and info.channels == 2
    assert info.frames == round(0.75 * 22050 * 16000 / 22050)  # 12000: the resampled input's length
    assert "VAE" in result.output

    # vocoder only, the model taken from the bundled default folder
    monkeypatch.setattr(hub, "DEFAULT_PIPELINE", models)
    result = _invoke(
        "reconstruct", stereo_clip, "--out", tmp_path / "voc.flac", "--no-vae", "--device", "cpu"
    )
    assert result.exit_code == 0, result.output
    assert sf.info(str(tmp_path / "voc.flac")).frames == 12000


def test_an_input_above_full_scale_is_reconstructed_as_if_at_minus_1_dbfs(models, tmp_path):
    """An MP3-style overshoot (peak 1.19, stored as float) goes in at -1 dBFS, as training crops do."""
    from audiogen.audio.io import save_audio

    t = torch.arange(int(0.5 * 16000)) / 16000
    wave = 1.19 * torch.sin(2 * math.pi * 220 * t)[None]
    outs = []
    for name, x in (("loud", wave), ("scaled", wave * (10 ** (-1 / 20) / 1.19))):
        clip = save_audio(tmp_path / f"{name}.wav", x, 16000, subtype="FLOAT")
        out = tmp_path / f"{name}_out.wav"
        result = _invoke("reconstruct", clip, "--out", out, "--vocoder", models / "vocoder", "--no-vae",
                         "--device", "cpu")  # fmt: skip
        assert result.exit_code == 0, result.output
        outs.append(sf.read(str(out), dtype="float32")[0])
    peak = float(abs(outs[1]).max())
    assert peak > 0
    assert float(abs(outs[0] - outs[1]).max()) <= 2 / 32768  # the same, up to 16-bit rounding


def test_missing_checkpoints_exit_with_a_clear_message(models, stereo_clip, tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "DEFAULT_PIPELINE", tmp_path / "no-default")
    out = tmp_path / "rec.wav"
    result = _invoke("reconstruct", stereo_clip, "--out", out, "--device", "cpu")
    assert result.exit_code == 2
    assert "no vocoder given" in result.output and "--vocoder" in result.output
    assert str(tmp_path / "no-default" / "vocoder") in result.output

    result = _invoke(
        "reconstruct", stereo_clip, "--out", out, "--vocoder", models / "vocoder", "--device", "cpu"
    )
    assert (
        result.exit_code == 2 and "no autoencoder given" in result.output and "--autoencoder" in result.output
    )

    result = _invoke("reconstruct", stereo_clip, "--out", out, "--vocoder", tmp_path / "nowhere", "--no-vae")
    assert result.exit_code == 2 and f"{tmp_path / 'nowhere'}: no such vocoder folder" in result.output
    assert not out.exists()


def test_bad_out_path_exits_with_a_clear_message(models, stereo_clip, tmp_path):
    # an unsupported suffix is caught before anything is loaded (the vocoder folder does not exist)
    out = tmp_path / "rec"
    result = _invoke("reconstruct", stereo_clip, "--out", out, "--vocoder", tmp_path / "nowhere", "--no-vae")
    assert result.exit_code == 2 and f"{out}: unsupported suffix ''" in result.output
    assert "no such vocoder folder" not in result.output
    # a destination that cannot be created: refused before the work, named, and no traceback
    blocked = stereo_clip / "rec.wav"  # a "folder" that is a file
    args = ["--vocoder", tmp_path / "nowhere", "--no-vae", "--device", "cpu"]
    result = _invoke("reconstruct", stereo_clip, "--out", blocked, *args)
    assert result.exit_code == 2 and str(stereo_clip) in result.output and not blocked.exists()
    assert "--out" in result.output and "no such vocoder folder" not in result.output


def test_eval_reconstruct_prints_the_three_rows_and_writes_json_and_png(models, tmp_path):
    manifest = write_tiny_manifest(tmp_path)
    report, png = tmp_path / "report.json", tmp_path / "spec.png"
    result = _invoke("eval", "reconstruct", manifest, "--vocoder", models, "--autoencoder", models,
                     "--max-clips", 2, "--seconds", 0.5, "--n-iter", 4, "--json", report, "--png", png,
                     "--device", "cpu")  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for name in ("Griffin-Lim on the true mel", "vocoder on the true mel", "VAE (mean) + vocoder"):
        row, sharp = [x for x in lines if x.startswith(name)]  # error table, then fine-structure table
        mel_db, mrstft = (float(v) for v in row[len(name) :].split())
        assert math.isfinite(mel_db) and mrstft > 0
        freq, time, flatness = (float(v) for v in sharp[len(name) :].split())
        assert freq > 0 and time > 0 and 0 < flatness <= 1
    data = json.loads(report.read_text())
    assert [s["method"] for s in data["scores"]] == ["griffin_lim", "vocoder", "vae_vocoder"]
    assert data["clips"] == 2 and data["split"] == "test" and png.stat().st_size > 0
    assert set(data["sharpness"]) == {"true", "griffin_lim", "vocoder", "vae_vocoder", "vae_mel"}

    result = _invoke("eval", "reconstruct", manifest, "--vocoder", models, "--no-vae", "--split", "valid")
    assert result.exit_code == 2 and "no files in split 'valid'" in result.output
