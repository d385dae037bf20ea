"""The vocoder GAN stage: the debug recipe end to end through the CLI (loss falls, exact resume,
exportable model folders), and the phase contract of :class:`VocoderTask` in isolation.

Everything runs with one torch thread: the models are tiny, and two OpenMP threads on a loaded
2-core machine cost far more in synchronisation than they gain.
"""

import contextlib
import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from audiogen.cli import app
from audiogen.config import load_recipe

ROOT = Path(__file__).resolve().parents[3]
DEBUG_RECIPE = ROOT / "recipes" / "debug" / "vocoder.yaml"
SAMPLE_RATE = 16000
STEPS, HALF, DISC_START = 24, 12, 6


@contextlib.contextmanager
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _tone(freq: float, seconds: float) -> torch.Tensor:
    t = torch.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    wave = sum(0.5**k * torch.sin(2 * math.pi * freq * (k + 1) * t) for k in range(4))
    envelope = 0.5 + 0.5 * torch.sin(2 * math.pi * 3 * t).abs()
    return (0.25 * wave * envelope)[None].float()


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory) -> Path:
    from audiogen.audio.io import save_audio

    folder = tmp_path_factory.mktemp("audio")
    for i, freq in enumerate([110, 147, 196, 262, 330, 392, 440, 523]):
        save_audio(folder / f"tone_{i:02d}.wav", _tone(freq, 1.0 + 0.1 * i), SAMPLE_RATE)
    return folder


def _overrides(audio_dir: Path) -> list[str]:
    return [
        f"data.audio_dir={audio_dir}",
        "data.valid_fraction=0.25",
        f"train.max_steps={STEPS}",
        f"train.checkpoint_every={HALF}",
        f"train.validate_every={HALF}",
        f"model.disc_start_step={DISC_START}",
    ]


def _train(*args) -> object:
    with one_thread():
        return CliRunner().invoke(app, ["train", "vocoder", *map(str, args)], catch_exceptions=False)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, audio_dir) -> Path:
    run_dir = tmp_path_factory.mktemp("run") / "debug"
    result = _train(DEBUG_RECIPE, *_overrides(audio_dir), "--out", run_dir)
    assert result.exit_code == 0, result.output
    return run_dir


def _metrics(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_debug_recipe_trains_with_a_warmup_and_writes_model_folders(trained_run):
    train = [m for m in _metrics(trained_run) if "train/mel_l1" in m]
    assert [m["step"] for m in train] == list(range(2, STEPS + 1, 2))
    mel = [m["train/mel_l1"] for m in train]
    assert sum(mel[-3:]) / 3 < 0.85 * sum(mel[:3]) / 3, mel  # the reconstruction loss falls
    for m in train:  # adversarial terms are off during the warm-up, on afterwards
        warm = m["step"] <= DISC_START
        for name in ("train/adv_disc", "train/adv_gen", "train/feature_matching"):
            assert (m[name] == 0.0) == warm, (m["step"], name, m[name])
    val = [m for m in _metrics(trained_run) if "val/mel_l1_db" in m]
    assert [m["step"] for m in val] == [HALF, STEPS]
    assert all(math.isfinite(m["val/mel_l1_db"]) and m["val/mrstft"] > 0 for m in val)

    last = trained_run / "checkpoints" / f"checkpoint-{STEPS:08d}"
    for sub in (
        "COMPLETE",
        "models/vocoder/model.safetensors",
        "models/discriminator/config.json",
        "ema/vocoder/config.json",
        "optimizers/discriminator.safetensors",
        "optimizers/generator.safetensors",
    ):
        assert (last / sub).is_file(), sub
    samples = trained_run / "samples" / f"step-{STEPS:08d}"
    assert sorted(p.name for p in samples.iterdir()) == [
        "sample_00.png",
        "sample_00.wav",
        "sample_00_input.wav",
    ]

    from audiogen.hub import find_model_folder
    from audiogen.models.vocoder import Vocoder, VocosVocoder

    assert find_model_folder(trained_run, "vocoder") == last / "ema" / "vocoder"
    vocoder = Vocoder.from_pretrained(find_model_folder(trained_run, "vocoder"))
    assert isinstance(vocoder, VocosVocoder) and vocoder.sample_rate == SAMPLE_RATE
    with torch.no_grad():
        assert vocoder(torch.randn(2, 32, 7) - 5).shape == (2, 1, 7 * 128)
    ema, raw = (
        load_file(last / "ema/vocoder/model.safetensors"),
        load_file(last / "models/vocoder/model.safetensors"),
    )
    assert any(not torch.equal(ema[k], raw[k]) for k in raw)  # the export holds the EMA weights


def test_resume_continues_exactly(trained_run, audio_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    shutil.rmtree(run / "checkpoints" / f"checkpoint-{STEPS:08d}")
    result = _train(DEBUG_RECIPE, *_overrides(audio_dir), "--out", run, "--resume")
    assert result.exit_code == 0, result.output
    assert "resumed from" in result.output and f"checkpoint-{HALF:08d}" in result.output
    reference = trained_run / "checkpoints" / f"checkpoint-{STEPS:08d}"
    resumed = run / "checkpoints" / f"checkpoint-{STEPS:08d}"
    for rel in (
        "models/vocoder/model.safetensors",
        "models/discriminator/model.safetensors",
        "ema/vocoder/model.safetensors",
        "optimizers/generator.safetensors",
    ):
        a, b = load_file(reference / rel), load_file(resumed / rel)
        assert a.keys() == b.keys()
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=f"{rel}:{k}")


# ------------------------------------------------------------------------------------------------
# the task alone


def _task(audio_dir: Path, *overrides: str):
    from audiogen.training.tasks.vocoder import VocoderTask
    from audiogen.training.trainer import TrainConfig

    recipe = load_recipe(DEBUG_RECIPE, [f"data.audio_dir={audio_dir}", *overrides])
    task = VocoderTask(recipe)
    models = task.build_models()
    optimizers = task.build_optimizers(models, TrainConfig(**recipe["train"]))
    task.setup(None, models)
    return task, models, optimizers


def _batch() -> dict:
    t = torch.arange(4096) / SAMPLE_RATE
    return {"waveform": torch.stack([0.3 * torch.sin(2 * math.pi * f * t)[None] for f in (220, 330)])}


def _grads(model: torch.nn.Module) -> list:
    return [p.grad for p in model.parameters()]


def test_each_phase_writes_gradients_only_into_its_own_model(audio_dir):
    task, models, _ = _task(audio_dir, "model.disc_start_step=0")
    calls = []
    models["vocoder"].register_forward_hook(lambda *_: calls.append(1))
    batch = _batch()
    with one_thread():
        losses = task.step(batch, "discriminator")
        assert set(losses) == {"adv_disc"}
        losses["adv_disc"].backward()
        assert all(g is None for g in _grads(models["vocoder"]))
        assert all(g is not None for g in _grads(models["discriminator"]))
        for m in models.values():
            m.zero_grad(set_to_none=True)

        losses = task.step(batch, "generator")
        assert set(losses) == {"mel_l1", "mrstft", "adv_gen", "feature_matching"}
        sum(losses.values()).backward()
    assert all(g is None for g in _grads(models["discriminator"]))
    assert all(p.requires_grad for p in models["discriminator"].parameters())  # restored after the call
    vocoder_grads = _grads(models["vocoder"])
    assert all(g is not None for g in vocoder_grads)
    assert sum(float(g.abs().sum()) for g in vocoder_grads) > 0
    assert len(calls) == 1  # the generator phase reused the discriminator phase's output


def test_warmup_turns_the_adversarial_terms_off_and_counts_optimizer_steps(audio_dir):
    task, models, optimizers = _task(audio_dir, "model.disc_start_step=1")
    batch = _batch()
    with one_thread():
        assert task.optimizer_steps() == 0 and not task.adversarial_active()
        d = task.step(batch, "discriminator")
        assert float(d["adv_disc"].detach()) == 0.0
        d["adv_disc"].backward()
        assert all(float(g.abs().sum()) == 0.0 for g in _grads(models["discriminator"]))
        g = task.step(batch, "generator")
        assert float(g["adv_gen"]) == 0.0 and float(g["feature_matching"]) == 0.0
        assert float(g["mel_l1"].detach()) > 0
        (45 * g["mel_l1"] + g["mrstft"]).backward()
        optimizers["generator"].step()
        assert task.optimizer_steps() == 1 and task.adversarial_active()
        d = task.step(batch, "discriminator")
    assert float(d["adv_disc"].detach()) > 0


def test_validation_reports_metrics_and_samples(audio_dir):
    task, models, _ = _task(audio_dir)
    with one_thread(), torch.no_grad():
        out = task.validate(_batch(), num_samples=1)
    assert set(out.metrics) == {"mel_l1_db", "mrstft"}
    assert float(out.metrics["mel_l1_db"]) > 0
    (sample,) = out.samples
    assert sample.audio.shape == (1, 4096) and sample.extra_audio["input"].shape == (1, 4096)
    assert [m.shape for m in sample.mels] == [(32, 33), (32, 33)]


def test_recipe_errors_name_the_problem(audio_dir, tmp_path):
    from audiogen.hub import find_model_folder
    from audiogen.training.tasks.vocoder import VocoderTask

    base = [f"data.audio_dir={audio_dir}"]
    with pytest.raises(ValueError, match="multiple of mel.hop_length"):
        VocoderTask(load_recipe(DEBUG_RECIPE, [*base, "data.segment_samples=4000"]))
    with pytest.raises(ValueError, match="discriminator needs"):
        VocoderTask(load_recipe(DEBUG_RECIPE, [*base, "data.segment_samples=128"]))
    with pytest.raises(ValueError, match="unknown key"):
        VocoderTask(load_recipe(DEBUG_RECIPE, [*base, "model.vocoder.depth=3"]))
    with pytest.raises(FileNotFoundError, match="no vocoder here"):
        find_model_folder(tmp_path, "vocoder")


def _save_tiny_vae(folder: Path, **mel_overrides) -> Path:
    from audiogen.config import MelConfig
    from audiogen.models.autoencoder import AutoencoderConfig, MelVAE

    mel = MelConfig(**{"sample_rate": 16000, "n_fft": 512, "hop_length": 128, "n_mels": 32, **mel_overrides})
    torch.manual_seed(0)
    MelVAE(AutoencoderConfig(mel=mel, latent_dim=4, channels=16, blocks_per_stage=1)).save_pretrained(folder)
    return folder


def test_decoded_input_gives_the_vae_reconstruction_to_the_chosen_fraction_of_rows(audio_dir, tmp_path):
    from audiogen.training.tasks.vocoder import DB_PER_NEPER

    vae = _save_tiny_vae(tmp_path / "vae")
    batch = _batch()
    with one_thread(), torch.no_grad():
        for fraction, expect_decoded in ((1.0, True), (0.0, False)):
            overrides = [f"model.decoded_input.autoencoder={vae}", f"model.decoded_input.fraction={fraction}"]
            task, _, _ = _task(audio_dir, *overrides)
            wav, mel = task.segments(batch, train=True)
            true_mel = task.frontend(wav[:, 0]).mel[..., : mel.shape[-1]]
            decoded = task.decoded_mel(true_mel)
            assert decoded.shape == true_mel.shape == mel.shape
            assert float((decoded - true_mel).abs().mean()) > 0.1  # an untrained VAE changes the mel
            torch.testing.assert_close(mel, decoded if expect_decoded else true_mel)
        wav, mel = task.segments(batch, train=False)  # validation input is always the true mel
        out = task.validate(batch, num_samples=0)
        vocoded = task.models["vocoder"](task.decoded_mel(mel))
        expected = (task.frontend(vocoded[:, 0]).mel - task.frontend(wav[:, 0]).mel).abs().mean()
    assert set(out.metrics) == {"mel_l1_db", "mrstft", "decoded_mel_l1_db", "decoded_mrstft"}
    expected = expected * DB_PER_NEPER
    torch.testing.assert_close(out.metrics["decoded_mel_l1_db"], expected)
    assert task.export_config()["decoded_input"] == {"autoencoder": str(vae), "fraction": 0.0}


def test_decoded_input_errors_name_the_problem(audio_dir, tmp_path):
    from audiogen.training.tasks.vocoder import VocoderTask

    base = [f"data.audio_dir={audio_dir}"]
    with pytest.raises(ValueError, match="fraction must be in"):
        VocoderTask(load_recipe(DEBUG_RECIPE, [*base, "model.decoded_input.autoencoder=x",
                                               "model.decoded_input.fraction=1.5"]))  # fmt: skip
    other = _save_tiny_vae(tmp_path / "vae22k", sample_rate=22050)
    with pytest.raises(ValueError, match=f"{other}.*front end"):
        _task(audio_dir, f"model.decoded_input.autoencoder={other}")
    with pytest.raises(FileNotFoundError, match="no such autoencoder"):
        _task(audio_dir, f"model.decoded_input.autoencoder={tmp_path / 'missing'}")
    task, _, _ = _task(audio_dir)
    with pytest.raises(RuntimeError, match="decoded_input"):
        task.decoded_mel(torch.zeros(1, 32, 8))
