"""Reconstruction metrics and the held-out reconstruction benchmark (tiny untrained models)."""

import math
from pathlib import Path

import pytest
import torch

from audiogen.config import MelConfig
from audiogen.evaluation.reconstruction import (
    DB_PER_NEPER,
    METHODS,
    evaluate_reconstruction,
    mel_l1_db,
    mrstft_distance,
)

MEL = MelConfig(sample_rate=16000, n_fft=512, hop_length=128, n_mels=32)


def test_mel_l1_db_is_zero_for_identical_mels_and_the_shift_in_db_otherwise():
    mel = torch.randn(2, 32, 50) - 4
    assert mel_l1_db(mel, mel.clone()) == 0.0
    for shift_db in (6.0, -1.5):
        shifted = mel + shift_db / DB_PER_NEPER  # natural log of amplitude × 10^(shift/20)
        assert mel_l1_db(shifted, mel) == pytest.approx(abs(shift_db), rel=1e-5)
    # the same in terms of amplitudes: doubling every amplitude is +6.02 dB
    assert mel_l1_db(mel + math.log(2.0), mel) == pytest.approx(20 * math.log10(2.0), rel=1e-5)
    # a mixed difference: half the frames off by 10 dB -> mean 5 dB
    half = mel.clone()
    half[..., :25] += 10 / DB_PER_NEPER
    assert mel_l1_db(half, mel) == pytest.approx(5.0, rel=1e-5)


def test_mel_l1_db_frames_and_shape_errors():
    a = torch.zeros(32, 40)
    b = torch.zeros(32, 45)
    b[:, 40:] = 5.0  # differs only past frame 40
    assert mel_l1_db(a, b, frames=40) == 0.0
    assert mel_l1_db(a, b[:, :40] + 1.0, frames=20) == pytest.approx(DB_PER_NEPER)
    with pytest.raises(ValueError, match="shapes differ"):
        mel_l1_db(a, b)
    with pytest.raises(ValueError, match="frames=50"):
        mel_l1_db(a, b, frames=50)
    with pytest.raises(ValueError, match="expected two"):
        mel_l1_db(a[0], b[0])


def test_mrstft_distance_is_zero_for_identical_audio_and_known_for_a_gain():
    g = torch.Generator().manual_seed(0)
    noise = 0.1 * torch.randn(1, 16000, generator=g)
    assert mrstft_distance(noise, noise.clone()) < 1e-5
    # x = y / 2: spectral convergence 0.5, log-magnitude L1 ln 2 at every resolution
    assert mrstft_distance(noise / 2, noise) == pytest.approx(0.5 + math.log(2.0), abs=0.01)
    other = 0.1 * torch.randn(1, 16000, generator=g)
    assert mrstft_distance(other, noise) > 0.5
    with pytest.raises(ValueError, match="shapes differ"):
        mrstft_distance(noise, noise[:, :8000])
    with pytest.raises(ValueError, match="more than 1024 samples"):
        mrstft_distance(noise[:, :1000], noise[:, :1000])


# ------------------------------------------------------------------------------------------------
# benchmark


def _tone(freq: float, seconds: float, sample_rate: int) -> torch.Tensor:
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    return (0.3 * torch.sin(2 * math.pi * freq * t) * (0.6 + 0.4 * torch.sin(2 * math.pi * 2 * t)))[None]


def write_tiny_models(folder: Path, mel: MelConfig = MEL) -> Path:
    """A pipeline-style folder with an untrained tiny ``vocoder/`` and ``autoencoder/``."""
    from audiogen.models.autoencoder import AutoencoderConfig, MelVAE
    from audiogen.models.vocoder import VocoderConfig, VocosVocoder

    torch.manual_seed(0)
    VocosVocoder(VocoderConfig(mel=mel, dim=16, intermediate_dim=32, num_layers=1)).save_pretrained(
        folder / "vocoder"
    )
    MelVAE(AutoencoderConfig(mel=mel, latent_dim=4, channels=16, blocks_per_stage=1)).save_pretrained(
        folder / "autoencoder"
    )
    return folder


def write_tiny_manifest(folder: Path, sample_rate: int = 22050) -> Path:
    """Five tones (at a rate other than the models') and a silent file; 4 in ``test``."""
    from audiogen.audio.io import save_audio
    from audiogen.data.manifest import write_manifest
    from audiogen.data.scan import scan_folder

    audio = folder / "audio"
    for i, freq in enumerate([220, 330, 440, 550, 660]):
        save_audio(audio / f"tone_{i}.wav", _tone(freq, 0.6 + 0.1 * i, sample_rate), sample_rate)
    entries = list(scan_folder(audio, valid_fraction=0.0, progress=False).entries)
    for i, e in enumerate(entries):
        e.split = "test" if i < 4 else "train"
    return write_manifest(folder / "manifest.jsonl", entries)


def test_evaluate_reconstruction_scores_three_methods(tmp_path):
    models = write_tiny_models(tmp_path / "models")
    manifest = write_tiny_manifest(tmp_path)
    png = tmp_path / "spec.png"
    report = evaluate_reconstruction(
        manifest,
        vocoder_dir=models / "vocoder",
        autoencoder_dir=models,  # a pipeline folder resolves to its autoencoder/
        max_clips=3,
        seconds=0.5,
        n_iter=8,
        device="cpu",
        png_path=png,
        progress=False,
    )
    assert [s.method for s in report.scores] == list(METHODS)
    assert report.clips == 3 and report.skipped == 0 and len(report.per_clip) == 3
    assert report.sample_rate == 16000 and png.stat().st_size > 0
    for s in report.scores:
        assert s.clips == 3 and math.isfinite(s.mel_l1_db) and s.mrstft > 0
        clip_mean = sum(r[f"{s.method}/mel_l1_db"] for r in report.per_clip) / 3
        assert s.mel_l1_db == pytest.approx(clip_mean)
    # Griffin-Lim inverts the true mel; an untrained vocoder makes near-silence
    assert report.score("griffin_lim").mel_l1_db < report.score("vocoder").mel_l1_db
    assert "Griffin-Lim on the true mel" in report.table()
    assert report.to_dict()["scores"][2]["method"] == "vae_vocoder"
    # fine structure of every set, averaged over the clips
    assert list(report.sharpness) == ["true", *METHODS, "vae_mel"]
    for key, values in report.sharpness.items():
        clip_mean = sum(r[f"{key}/freq_gradient_db"] for r in report.per_clip) / 3
        assert values["freq_gradient_db"] == pytest.approx(clip_mean)
        assert 0 < values["spectral_flatness"] <= 1
    assert "fine structure" in report.table() and "VAE decoded mel" in report.table()


def test_evaluate_reconstruction_skips_silence_and_leaves_out_missing_models(tmp_path):
    from audiogen.audio.io import save_audio
    from audiogen.data.manifest import read_manifest, write_manifest

    manifest = write_tiny_manifest(tmp_path)
    entries = read_manifest(manifest)
    silent = tmp_path / "silent.wav"
    save_audio(silent, torch.zeros(1, 22050), 22050)
    entries[1].path = str(silent)
    write_manifest(manifest, entries)
    report = evaluate_reconstruction(manifest, mel_config=MEL, n_iter=4, device="cpu", progress=False)
    assert [s.method for s in report.scores] == ["griffin_lim"]
    assert report.clips == 3 and report.skipped == 1


def test_evaluate_reconstruction_errors(tmp_path):
    models = write_tiny_models(tmp_path / "models")
    other = write_tiny_models(
        tmp_path / "other", MelConfig(sample_rate=16000, n_fft=512, hop_length=128, n_mels=40)
    )
    manifest = write_tiny_manifest(tmp_path)
    with pytest.raises(ValueError, match="mel settings"):
        evaluate_reconstruction(manifest, vocoder_dir=models, autoencoder_dir=other, progress=False)
    with pytest.raises(ValueError, match="no files in split 'valid'"):
        evaluate_reconstruction(manifest, split="valid", vocoder_dir=models, progress=False)
    with pytest.raises(FileNotFoundError, match="missing: no such vocoder folder"):
        evaluate_reconstruction(manifest, vocoder_dir=tmp_path / "missing", progress=False)
