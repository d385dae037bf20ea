"""The vocoder stage with ``model.vocoder.type: gl_refine``: the debug recipe end to end through the
CLI (GAN phase included), the exported model folder is a :class:`GLRefineVocoder` that beats its
untrained self (= fast Griffin-Lim) on the training tones, and recipe errors for the type."""

import json
import math
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from audiogen.cli import app
from audiogen.config import MelConfig, load_recipe
from audiogen.models.discriminators import MelL1Loss
from audiogen.models.vocoder import GLRefineVocoder, Vocoder
from audiogen.training.tasks.vocoder import VocoderTask
from tests.training.tasks.test_vocoder import one_thread

ROOT = Path(__file__).resolve().parents[3]
DEBUG_RECIPE = ROOT / "recipes" / "debug" / "vocoder_gl.yaml"
SAMPLE_RATE = 16000


def _tone(freq: float, seconds: float) -> torch.Tensor:
    t = torch.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    wave = sum(0.5**k * torch.sin(2 * math.pi * freq * (k + 1) * t) for k in range(4))
    return (0.25 * wave)[None].float()


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory) -> Path:
    from audiogen.audio.io import save_audio

    folder = tmp_path_factory.mktemp("audio")
    for i in range(4):  # the same stationary tone: Griffin-Lim makes the same errors everywhere
        save_audio(folder / f"tone_{i:02d}.wav", _tone(220.0, 2.0), SAMPLE_RATE)
    return folder


def test_debug_gl_recipe_trains_and_exports_a_better_than_griffin_lim_vocoder(audio_dir, tmp_path):
    run_dir = tmp_path / "run"
    args = [
        "train", "vocoder", str(DEBUG_RECIPE), f"data.audio_dir={audio_dir}", "data.valid_fraction=0.3",
        "train.max_steps=30", "train.checkpoint_every=30", "train.validate_every=30",
        "--out", str(run_dir),
    ]
    with one_thread():
        result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    gen = [r for r in rows if "train/mel_l1" in r]
    assert gen[-1]["step"] == 30
    first, last = [r["train/mel_l1"] for r in gen[:2]], [r["train/mel_l1"] for r in gen[-4:]]
    assert sum(last) / len(last) < 0.9 * sum(first) / len(first), [r["train/mel_l1"] for r in gen]
    assert all(r["train/adv_gen"] == 0.0 for r in gen if r["step"] <= 10)  # warm-up, then the GAN
    assert any(r["train/adv_gen"] != 0.0 for r in gen if r["step"] > 10)
    folder = run_dir / "checkpoints" / "checkpoint-00000030" / "ema" / "vocoder"
    config = json.loads((folder / "config.json").read_text())
    assert config["class"] == "GLRefineVocoder" and config["config"]["gl_iters"] == 8
    trained = Vocoder.from_pretrained(folder)
    assert isinstance(trained, GLRefineVocoder)
    fresh = GLRefineVocoder(trained.config).eval()  # zero head: exactly fast Griffin-Lim

    mel_config: MelConfig = trained.mel_config
    loss = MelL1Loss(mel_config)
    wave = _tone(220.0, 0.512)[:, None]  # (1, 1, 8192)
    hop = mel_config.hop_length
    with torch.no_grad():
        mel = loss.log_mel(wave)[..., : wave.shape[-1] // hop]
        errors = {name: float(loss(model(mel), wave)) for name, model in (("gl", fresh), ("ours", trained))}
    assert errors["ours"] < 0.93 * errors["gl"], errors


def test_recipe_type_selects_the_class_and_errors_name_the_problem(audio_dir):
    overrides = [f"data.audio_dir={audio_dir}"]
    task = VocoderTask(load_recipe(DEBUG_RECIPE, overrides))
    assert task.vocoder_type == "gl_refine"
    assert isinstance(task.build_models()["vocoder"], GLRefineVocoder)
    assert task.export_config()["vocoder"]["type"] == "gl_refine"
    with pytest.raises(ValueError, match="unknown vocoder 'griffin'"):
        VocoderTask(load_recipe(DEBUG_RECIPE, [*overrides, "model.vocoder.type=griffin"]))
    with pytest.raises(ValueError, match="GLRefineConfig: unknown key"):
        VocoderTask(load_recipe(DEBUG_RECIPE, [*overrides, "model.vocoder.head_n_fft=512"]))
