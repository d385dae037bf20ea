"""End to end: the debug diffusion recipe through the CLI and the shared trainer, on the latents of
a tiny autoencoder (built and saved here) of a synthetic, labelled audio corpus."""

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from audiogen.cli import app

ROOT = Path(__file__).resolve().parents[3]
DEBUG_RECIPE = ROOT / "recipes" / "debug" / "diffusion.yaml"
SAMPLE_RATE = 16000
LABELS = ["high", "low"]


def _tone(freq: float, seconds: float) -> torch.Tensor:
    t = torch.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    wave = sum(0.5**k * torch.sin(2 * math.pi * freq * (k + 1) * t) for k in range(3))
    envelope = 0.5 + 0.5 * torch.sin(2 * math.pi * 2 * t).abs()
    return (0.3 * wave * envelope)[None].float()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Two styles (sub-folders ``low`` / ``high``) of harmonic tones and a manifest with splits."""
    from audiogen.audio.io import save_audio
    from audiogen.data.manifest import write_manifest
    from audiogen.data.scan import scan_folder

    root = tmp_path_factory.mktemp("corpus")
    for label, base in (("low", 110.0), ("high", 880.0)):
        (root / label).mkdir()
        for i in range(5):
            save_audio(
                root / label / f"{label}_{i}.wav", _tone(base * (1 + 0.12 * i), 1.2 + 0.2 * i), SAMPLE_RATE
            )
    entries = scan_folder(root, label_by="parent", group_by="none", progress=False).entries
    entries = [
        dataclasses.replace(e, split="valid" if e.path.endswith("_4.wav") else "train") for e in entries
    ]
    write_manifest(root / "manifest.jsonl", entries)
    return root / "manifest.jsonl"


@pytest.fixture(scope="module")
def autoencoder(tmp_path_factory, corpus) -> Path:
    """A tiny (untrained) mel VAE with its latent scale measured on the corpus, saved as a model folder."""
    from audiogen.audio.features import LogMelSpectrogram
    from audiogen.audio.io import load_audio
    from audiogen.config import MelConfig
    from audiogen.data.manifest import read_manifest
    from audiogen.models.autoencoder import AutoencoderConfig, MelVAE

    torch.manual_seed(0)
    mel_config = MelConfig(sample_rate=SAMPLE_RATE, n_fft=512, hop_length=128, n_mels=32)
    vae = MelVAE(
        AutoencoderConfig(mel=mel_config, latent_dim=4, time_downsample=4, channels=16, blocks_per_stage=1)
    )
    frontend = LogMelSpectrogram(mel_config)
    with torch.no_grad():
        latents = [vae.encode(frontend(load_audio(e.path).waveform).mel) for e in read_manifest(corpus)]
    vae.set_latent_scale(1.0 / torch.cat(latents, dim=-1).std().item())
    return vae.save_pretrained(tmp_path_factory.mktemp("vae") / "autoencoder")


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def _args(corpus: Path, autoencoder: Path, cache: Path, *extra: str) -> list[str]:
    return [
        "data.audio_dir=null",
        f"data.manifest={corpus}",
        f"data.autoencoder={autoencoder}",
        f"data.latent_cache={cache}",
        *extra,
    ]


def _train_losses(run_dir: Path) -> list[float]:
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [x["train/diffusion_mse"] for x in lines if "train/diffusion_mse" in x]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, corpus, autoencoder) -> Path:
    base = tmp_path_factory.mktemp("run")
    result = _invoke(
        "train", "diffusion", DEBUG_RECIPE, *_args(corpus, autoencoder, base / "cache"), "--out", base / "run"
    )
    assert result.exit_code == 0, result.output
    return base / "run"


def test_debug_recipe_trains_on_cached_latents(trained_run):
    from audiogen.models.denoiser import LatentDenoiser

    losses = _train_losses(trained_run)
    assert len(losses) == 12  # 60 steps, logged every 5
    assert all(math.isfinite(x) for x in losses)
    assert sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3, losses  # the loss falls
    metrics = (trained_run / "metrics.jsonl").read_text()
    assert "val/diffusion_mse" in metrics

    caches = list((trained_run.parent / "cache").iterdir())
    assert len(caches) == 1 and caches[0].name.startswith("latent-")
    index = json.loads((caches[0] / "index.json").read_text())
    assert index["labels"] == LABELS and index["feature_shape"] == [4]
    assert index["settings"]["labels"] == LABELS and len(index["settings"]["weights_sha256"]) == 64

    last = trained_run / "checkpoints" / "checkpoint-00000060"
    assert (last / "COMPLETE").is_file()
    denoiser = LatentDenoiser.from_pretrained(last / "ema" / "denoiser")
    assert denoiser.config.latent_dim == 4 and denoiser.config.num_classes == 2
    assert denoiser.config.class_labels == tuple(LABELS)
    state = json.loads((last / "trainer_state.json").read_text())
    assert (
        state["task"] == "diffusion"
        and state["task_config"]["scheduler"]["prediction_type"] == "v_prediction"
    )

    samples = trained_run / "samples" / "step-00000060"
    names = sorted(p.name for p in samples.iterdir())
    assert "sample_00_high.wav" in names and "sample_01_low.wav" in names
    assert "sample_00_high_reference.wav" in names and "sample_00_high.png" in names


def test_cache_is_reused_and_waveform_source_trains(trained_run, corpus, autoencoder, tmp_path):
    cache = trained_run.parent / "cache"
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*")}
    extra = ["train.max_steps=4", "train.log_every=2", "train.num_samples=0", "train.log_with=null"]
    result = _invoke(
        "train",
        "diffusion",
        DEBUG_RECIPE,
        *_args(corpus, autoencoder, cache, *extra),
        "--out",
        tmp_path / "a",
    )
    assert result.exit_code == 0, result.output
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*")} == before  # nothing recomputed

    waveform = _args(corpus, autoencoder, cache, "data.source=waveform", *extra)
    result = _invoke("train", "diffusion", DEBUG_RECIPE, *waveform, "--out", tmp_path / "b")
    assert result.exit_code == 0, result.output
    losses = _train_losses(tmp_path / "b")
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)


def test_recipe_errors_are_reported(corpus, autoencoder, tmp_path):
    cache = tmp_path / "cache"
    result = _invoke(
        "train",
        "diffusion",
        DEBUG_RECIPE,
        *_args(corpus, tmp_path / "missing", cache),
        "--out",
        tmp_path / "r1",
    )
    assert result.exit_code == 1 and "no such autoencoder folder" in result.output
    result = _invoke(
        "train",
        "diffusion",
        DEBUG_RECIPE,
        *_args(corpus, autoencoder, cache, "model.latent_dim=8"),
        "--out",
        tmp_path / "r2",
    )
    assert result.exit_code == 1 and "model.latent_dim=8" in result.output
    result = _invoke(
        "train",
        "diffusion",
        DEBUG_RECIPE,
        *_args(corpus, autoencoder, cache, "mel.n_mels=64"),
        "--out",
        tmp_path / "r3",
    )
    assert result.exit_code == 1 and "differs from the autoencoder" in result.output


def test_unconditional_training_step(corpus, autoencoder, tmp_path):
    from audiogen.training.tasks.diffusion import DiffusionTask

    recipe = {
        "model": {"channels": 8, "channel_mults": [1, 2], "blocks_per_level": 1, "attention_heads": 2},
        "data": {
            "autoencoder": str(autoencoder),
            "manifest": str(corpus),
            "latent_cache": str(tmp_path / "cache"),
            "conditional": False,
            "segment_seconds": 0.4,
        },
    }
    task = DiffusionTask(recipe)
    assert task.model_config.num_classes == 0 and task.labels == []
    data = task.build_datasets()
    item = data.train[0]
    assert item["latent"].shape == (4, task.latent_frames(0.4)) and item["latent"].shape[-1] % 2 == 0
    models = task.build_models()
    task.models = models
    batch = {
        "latent": torch.stack([data.train[i]["latent"] for i in range(3)]),
        "label": torch.tensor([0, 1, -1]),
    }
    losses = task.step(batch, "main")
    assert set(losses) == {"diffusion_mse", "latent_mean", "latent_std"}
    assert losses["diffusion_mse"].ndim == 0 and losses["diffusion_mse"].requires_grad
    losses["diffusion_mse"].backward()
    assert models["denoiser"].out_conv.conv.weight.grad.abs().sum() > 0


def test_flow_training_step_targets_the_flow_velocity(corpus, autoencoder, tmp_path, monkeypatch):
    from audiogen.samplers import FlowMatchSchedule
    from audiogen.training.tasks import diffusion
    from audiogen.training.tasks.diffusion import DiffusionTask

    data = {
        "autoencoder": str(autoencoder),
        "manifest": str(corpus),
        "latent_cache": str(tmp_path / "cache"),
        "segment_seconds": 0.4,
        "sampler": "euler",
        "sample_steps": 2,
        "griffin_lim_iters": 2,
        "label_dropout": 0.0,  # no random draw before the noise and the times
    }
    model = {"channels": 8, "channel_mults": [1, 2], "blocks_per_level": 1, "attention_heads": 2}
    flow_model = {**model, "prediction_type": "flow_prediction", "flow_time_sampling": "uniform"}
    with pytest.raises(ValueError, match="data.sampler: the ddim sampler cannot run a rectified-flow model"):
        DiffusionTask({"model": flow_model, "data": {**data, "sampler": "ddim"}})
    task = DiffusionTask({"model": flow_model, "data": data})
    assert isinstance(task.scheduler, FlowMatchSchedule)
    exported = task.export_config()
    assert exported["scheduler"]["_class_name"] == "FlowMatchEulerDiscreteScheduler"
    assert exported["model"]["prediction_type"] == "flow_prediction"
    assert exported["model"]["flow_time_sampling"] == "uniform"

    datasets = task.build_datasets()
    task.models = task.build_models()
    z0 = torch.stack([datasets.train[i]["latent"] for i in range(3)])
    seen = {}

    def denoiser(noisy, t, labels):  # records what the network is given; predicts zero velocity
        seen.update(noisy=noisy, t=t)
        return torch.zeros_like(noisy)

    monkeypatch.setitem(task.models, "denoiser", denoiser)
    torch.manual_seed(0)
    loss = task.step({"latent": z0, "label": torch.tensor([0, 1, -1])}, "main")["diffusion_mse"]
    torch.manual_seed(0)
    noise = torch.randn_like(z0)
    t = diffusion.training_timesteps(task.model_config, 3, "cpu") / 1000
    assert seen["t"].dtype == torch.float32 and torch.allclose(seen["t"], t * 1000)
    torch.testing.assert_close(seen["noisy"], (1 - t[:, None, None]) * z0 + t[:, None, None] * noise)
    torch.testing.assert_close(loss, ((noise - z0) ** 2).mean())  # zero prediction: MSE of the target


def test_crop_lengths_share_a_latent_cache_unless_one_pads_a_file(tmp_path, corpus, autoencoder):
    """Padding to the crop length changes no file at most as long as the shortest one (1.2 s here), so
    a denoiser's short crops and a sequence model's longer ones read one cache; a crop length that
    pads a file gets its own."""

    def build(seconds: float) -> None:
        result = _invoke(
            "data", "cache", "diffusion", DEBUG_RECIPE,
            *_args(corpus, autoencoder, tmp_path / "cache", f"data.segment_seconds={seconds}"),
        )  # fmt: skip
        assert result.exit_code == 0, result.output

    build(0.5)
    build(1.0)
    assert len(list((tmp_path / "cache").iterdir())) == 1
    build(1.5)  # longer than the shortest files: those are padded with silence before encoding
    caches = sorted((tmp_path / "cache").iterdir())
    pads = sorted(json.loads((c / "index.json").read_text())["settings"]["pad_to_samples"] for c in caches)
    assert pads == [0, round(1.5 * SAMPLE_RATE)]
