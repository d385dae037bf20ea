"""The adversarial (decoder-only) phase of the mel VAE: the debug recipe trains a few CPU steps."""

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from audiogen.cli import app
from audiogen.config import load_recipe
from audiogen.training.tasks import build_task

ROOT = Path(__file__).resolve().parents[3]
GAN_RECIPE = ROOT / "recipes" / "debug" / "autoencoder_gan.yaml"
SAMPLE_RATE = 16000


def _tone(freq: float, seconds: float) -> torch.Tensor:
    t = torch.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    wave = sum(0.5**k * torch.sin(2 * math.pi * freq * (k + 1) * t) for k in range(3))
    return (0.3 * wave * (0.5 + 0.5 * torch.sin(2 * math.pi * 2 * t).abs()))[None].float()


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory) -> tuple[Path, Path]:
    from audiogen.audio.io import save_audio

    root = tmp_path_factory.mktemp("gan")
    audio = root / "audio"
    audio.mkdir()
    for i, freq in enumerate([110, 165, 220, 330, 440, 550, 660, 880]):
        save_audio(audio / f"tone_{i}.wav", _tone(freq, 0.8 + 0.1 * i), SAMPLE_RATE)
    # the starting VAE: a fresh model of the recipe's size (the recipe's default is a debug run's output)
    torch.manual_seed(1)
    task = build_task("autoencoder", {k: v for k, v in load_recipe(GAN_RECIPE).items() if k != "adversarial"})
    init = root / "init"
    task.build_models()["autoencoder"].save_pretrained(init)
    run = root / "run"
    result = CliRunner().invoke(
        app,
        ["train", "autoencoder", str(GAN_RECIPE), f"data.audio_dir={audio}", "data.valid_fraction=0.25",
         f"init.autoencoder={init}", "--out", str(run)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return init, run


def test_losses_are_finite_and_the_adversarial_terms_switch_on(gan_run):
    _, run = gan_run
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    train = [x for x in lines if "train/adv_disc" in x]
    assert len(train) == 6  # 12 steps, logged every 2
    for row in train:
        for name in ("mel_l1", "adv_gen", "feature_matching", "adv_disc", "adv_weight"):
            assert math.isfinite(row[f"train/{name}"]), (name, row)
    # disc_start_step 2, adv_start_step 6: both off first, then the discriminator alone, then both
    assert train[0]["train/adv_disc"] == 0 and train[0]["train/adv_gen"] == 0
    assert train[1]["train/adv_disc"] > 0 and train[1]["train/adv_gen"] == 0
    assert train[-1]["train/adv_disc"] > 0 and train[-1]["train/adv_gen"] > 0
    assert train[-1]["train/adv_weight"] > 0


def test_decoder_only_training_keeps_the_encoder_bit_identical(gan_run):
    init, run = gan_run
    before = load_file(init / "model.safetensors")
    checkpoint = run / "checkpoints" / "checkpoint-00000012"
    for folder in ("models/autoencoder", "ema/autoencoder"):
        after = load_file(checkpoint / folder / "model.safetensors")
        encoder = [k for k in before if k.startswith("encoder.")]
        decoder = [k for k in before if k.startswith("decoder.")]
        assert encoder and decoder
        for k in encoder:
            assert torch.equal(before[k], after[k]), (folder, k)
        assert any(not torch.equal(before[k], after[k]) for k in decoder), folder
    saved = json.loads((checkpoint / "models/autoencoder/config.json").read_text())
    initial = json.loads((init / "config.json").read_text())
    assert saved["config"]["latent_scale"] == initial["config"]["latent_scale"]
    assert (checkpoint / "models/discriminator/model.safetensors").is_file()


def test_the_gan_recipe_and_finetune_share_one_adversarial_setting():
    from audiogen.training.tasks.autoencoder import (
        ADVERSARIAL_BETAS,
        ADVERSARIAL_LOSS_WEIGHTS,
        CPU_ADVERSARIAL,
    )

    recipe = load_recipe(ROOT / "recipes" / "autoencoder_gan.yaml")
    assert recipe["adversarial"] == CPU_ADVERSARIAL
    assert {k: recipe["loss_weights"][k] for k in ADVERSARIAL_LOSS_WEIGHTS} == ADVERSARIAL_LOSS_WEIGHTS
    assert tuple(recipe["train"]["betas"]) == ADVERSARIAL_BETAS
