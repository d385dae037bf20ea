"""``audiogen eval generate`` end to end: a tiny random pipeline, tiny classifiers, a synthetic manifest."""

import json
import math
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from audiogen.cli import app
from audiogen.config import MelConfig
from audiogen.evaluation.generation import ROWS
from tests.models.test_classifier import style_clip, train_debug_classifier

MEL = MelConfig(sample_rate=16000, n_fft=512, hop_length=128, n_mels=32)
STYLES = ("noise", "tones")


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def write_tiny_pipeline(folder: Path, with_classifier: bool = False) -> Path:
    """An untrained pipeline folder (VAE, conditional denoiser, scheduler, vocoder) at 16 kHz."""
    from audiogen.models.autoencoder import AutoencoderConfig, MelVAE
    from audiogen.models.classifier import ClassifierConfig, StyleClassifier
    from audiogen.models.denoiser import DiffusionConfig, LatentDenoiser
    from audiogen.models.vocoder import VocoderConfig, VocosVocoder
    from audiogen.pipelines.audiogen import AudioGenPipeline
    from audiogen.samplers.factory import noise_scheduler

    torch.manual_seed(0)
    vae = MelVAE(AutoencoderConfig(mel=MEL, latent_dim=4, channels=16, blocks_per_stage=1))
    den = LatentDenoiser(
        DiffusionConfig(
            latent_dim=4,
            channels=16,
            channel_mults=(1, 2),
            blocks_per_level=1,
            attention_layers=0,
            num_classes=len(STYLES),
            class_labels=STYLES,
        )
    )
    voc = VocosVocoder(VocoderConfig(mel=MEL, dim=16, intermediate_dim=32, num_layers=1))
    AudioGenPipeline(MEL, vae, den, noise_scheduler(den.config), voc).save_pretrained(folder)
    if with_classifier:
        StyleClassifier(
            ClassifierConfig(mel=MEL, labels=STYLES, channels=(4, 8), embed_dim=8)
        ).save_pretrained(folder / "classifier")
    return folder


def write_style_manifest(folder: Path, test_per_style: int = 6, seconds: float = 1.0) -> Path:
    """``test_per_style`` held-out files per style at 22.05 kHz (the loaders resample) + 2 train files."""
    from audiogen.audio.io import save_audio
    from audiogen.data.manifest import write_manifest
    from audiogen.data.scan import scan_folder

    g = torch.Generator().manual_seed(7)
    for style in STYLES:
        for i in range(test_per_style + 1):
            save_audio(folder / "audio" / style / f"{i:02d}.wav", style_clip(style, seconds, 22050, g), 22050)
    entries = list(
        scan_folder(folder / "audio", valid_fraction=0.0, label_by="parent", progress=False).entries
    )
    for e in entries:
        e.split = "train" if e.path.endswith("00.wav") else "test"
    return write_manifest(folder / "manifest.jsonl", entries)


def _fd(output: str, description: str) -> float:
    (row,) = [line for line in output.splitlines() if line.startswith(description)]
    clips, fd, _acc = row[len(description) :].split()
    assert int(clips) >= 2
    return float(fd)


def test_eval_generate_prints_the_rows_and_writes_json_and_spectrograms(tmp_path):
    pipe = write_tiny_pipeline(tmp_path / "pipe", with_classifier=True)  # default embedder: pipe/classifier
    manifest = write_style_manifest(tmp_path)
    report, plots = tmp_path / "out" / "fd.json", tmp_path / "plots"
    result = _invoke("eval", "generate", manifest, "--checkpoint", pipe, "--num", 6, "--seconds", 0.5,
                     "--steps", 2, "--cfg-scale", 2.0, "--seed", 3, "--json", report, "--plot-dir", plots,
                     "--device", "cpu")  # fmt: skip
    assert result.exit_code == 0, result.output
    for description in ROWS.values():  # generated, floor, real other half, ceiling
        value = _fd(result.output, description)
        assert math.isfinite(value) and value >= 0
    assert "no more clips than embedding dimensions" in result.output  # 6 generated clips, 8 dims

    data = json.loads(report.read_text())
    assert [r["name"] for r in data["rows"]] == ["generated", "reconstructed", "real_other_half", "noise"]
    assert data["styles"] == ["noise", "tones"] * 3 and data["steps"] == 2 and data["cfg_scale"] == 2.0
    assert data["embedder"].startswith("StyleClassifier") and data["embed_dim"] == 8
    # 6 held-out files per style -> 3 + 3 per half; each 1 s file gives 2 crops of 0.5 s
    assert data["reference_files"] == 6 and data["reference_clips"] == 12
    rows = {r["name"]: r for r in data["rows"]}
    assert rows["generated"]["clips"] == 6 and rows["noise"]["clips"] == 6
    assert rows["real_other_half"]["clips"] == rows["reconstructed"]["clips"] == 12
    assert rows["noise"]["style_accuracy"] is None and 0 <= rows["generated"]["style_accuracy"] <= 1
    assert sorted(p.name for p in plots.glob("*.png")) == ["generated_00_noise.png", "generated_01_tones.png"]


def test_no_floor_leaves_out_the_reconstructions_and_keeps_the_other_rows(tmp_path, monkeypatch):
    import audiogen.evaluation.generation as generation

    def no_reconstruction(*args, **kwargs):
        raise AssertionError("--no-floor must not reconstruct half B")

    monkeypatch.setattr(generation, "reconstruct_clips", no_reconstruction)
    pipe = write_tiny_pipeline(tmp_path / "pipe", with_classifier=True)
    manifest = write_style_manifest(tmp_path)
    report = tmp_path / "fd.json"
    result = _invoke("eval", "generate", manifest, "--checkpoint", pipe, "--num", 6, "--seconds", 0.5,
                     "--steps", 2, "--seed", 3, "--json", report, "--device", "cpu",
                     "--no-floor")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert ROWS["reconstructed"] not in result.output
    rows = json.loads(report.read_text())["rows"]
    assert [r["name"] for r in rows] == ["generated", "real_other_half", "noise"]
    assert all(math.isfinite(r["frechet_distance"]) for r in rows)


def test_trained_classifier_puts_noise_further_than_real_audio(tmp_path):
    from audiogen.evaluation.generation import evaluate_generation

    run = train_debug_classifier(tmp_path / "clf")
    pipe = write_tiny_pipeline(tmp_path / "pipe")
    manifest = write_style_manifest(tmp_path / "data", test_per_style=8)
    report = evaluate_generation(
        manifest, pipe, embedder=run, num=16, seconds=0.5, steps=2, device="cpu", progress=False
    )
    real, noise = report.row("real_other_half"), report.row("noise")
    assert noise.frechet_distance > 3 * real.frechet_distance, report.table()
    assert report.reference_style_accuracy > 0.8 and real.style_accuracy > 0.8
    assert report.rows[0].name == "generated" and math.isfinite(report.rows[0].frechet_distance)
    assert report.cfg_scale == 3.0  # no cfg_scale given: the pipeline folder's default is recorded


def test_missing_checkpoint_and_embedder_exit_with_clear_messages(tmp_path, monkeypatch):
    from audiogen import hub

    monkeypatch.setattr(hub, "DEFAULT_PIPELINE", tmp_path / "no-default")
    manifest = write_style_manifest(tmp_path, test_per_style=2, seconds=0.6)

    result = _invoke("eval", "generate", manifest, "--num", 2)
    assert result.exit_code == 2 and "--checkpoint" in result.output
    assert str(tmp_path / "no-default" / "model_index.json") in result.output

    result = _invoke("eval", "generate", manifest, "--checkpoint", tmp_path / "nowhere")
    assert result.exit_code == 2 and "no such pipeline folder" in result.output

    pipe = write_tiny_pipeline(tmp_path / "pipe")  # no classifier/ inside, no bundled default
    result = _invoke("eval", "generate", manifest, "--checkpoint", pipe, "--device", "cpu")
    assert result.exit_code == 2 and "no embedder given" in result.output and "--embedder" in result.output

    result = _invoke("eval", "generate", manifest, "--checkpoint", pipe, "--embedder", tmp_path / "clf")
    assert result.exit_code == 2 and "no such embedder folder" in result.output

    result = _invoke("eval", "generate", manifest, "--checkpoint", pipe, "--split", "valid")
    assert result.exit_code == 2 and "split 'valid' has 0 file(s)" in result.output


def test_eval_generate_measures_a_lora_adapters_style(tmp_path):
    from audiogen.pipelines.audiogen import AudioGenPipeline
    from tests.models.test_lora import make_adapter

    pipe = write_tiny_pipeline(tmp_path / "pipe", with_classifier=True)
    make_adapter(AudioGenPipeline.from_pretrained(pipe), tmp_path / "adapter", "hiss", seed=1)
    manifest = write_style_manifest(tmp_path)
    report = tmp_path / "fd.json"
    args = ("eval", "generate", manifest, "--checkpoint", pipe, "--num", 4, "--seconds", 0.5, "--steps", 2,
            "--device", "cpu", "--style", "hiss", "--json", report)  # fmt: skip
    result = _invoke(*args, "--lora", f"{tmp_path / 'adapter'}:0.5")
    assert result.exit_code == 0, result.output
    assert json.loads(report.read_text())["styles"] == ["hiss"] * 4
    result = _invoke(*args)  # without the adapter the style does not exist
    assert result.exit_code == 2 and "hiss" in result.output


def test_several_seeds_give_each_seeds_own_report_at_one_floors_price(tmp_path, monkeypatch):
    """``--seed 3 --seed 5``: one report per seed, each equal to that seed's single run; the held-out
    crops and the floor are computed once."""
    import audiogen.evaluation.generation as generation

    pipe = write_tiny_pipeline(tmp_path / "pipe", with_classifier=True)
    manifest = write_style_manifest(tmp_path)
    args = ["eval", "generate", manifest, "--checkpoint", pipe, "--num", 6, "--seconds", 0.5, "--steps", 2,
            "--device", "cpu"]  # fmt: skip
    single = {}
    for seed in (3, 5):
        result = _invoke(*args, "--seed", seed, "--json", tmp_path / f"one_{seed}.json")
        assert result.exit_code == 0, result.output
        single[seed] = json.loads((tmp_path / f"one_{seed}.json").read_text())

    calls = []
    real = generation.reconstruct_clips
    monkeypatch.setattr(generation, "reconstruct_clips", lambda *a, **k: calls.append(1) or real(*a, **k))
    result = _invoke(*args, "--seed", 3, "--seed", 5, "--json", tmp_path / "many" / "fd_seed{seed}.json")
    assert result.exit_code == 0, result.output
    assert len(calls) == 1 and "seed 3" in result.output and "seed 5" in result.output
    for seed in (3, 5):
        many = json.loads((tmp_path / "many" / f"fd_seed{seed}.json").read_text())
        assert many["seed"] == seed
        assert [r["name"] for r in many["rows"]] == [r["name"] for r in single[seed]["rows"]]
        for a, b in zip(many["rows"], single[seed]["rows"], strict=True):
            assert a["frechet_distance"] == pytest.approx(b["frechet_distance"], rel=1e-5), a["name"]
    gen = [single[s]["rows"][0]["frechet_distance"] for s in (3, 5)]
    assert gen[0] != gen[1]  # the seeds do make different clips

    bad = _invoke(*args, "--seed", 3, "--seed", 5, "--json", tmp_path / "fd.json")
    assert bad.exit_code == 2 and "needs {seed}" in bad.output
    bad = _invoke(*args, "--seed", 3, "--seed", 3)
    assert bad.exit_code == 2 and "each seed once" in bad.output
