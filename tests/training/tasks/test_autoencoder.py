"""End to end: the debug autoencoder recipe on a synthetic audio folder, through the CLI.

One fp32 run (module fixture) is shared by the checks on its outputs, the exact-resume check and
the encode/decode commands; bf16 and a two-process ``accelerate launch`` run separately.
"""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from audiogen.cli import app

ROOT = Path(__file__).resolve().parents[3]
DEBUG_RECIPE = ROOT / "recipes" / "debug" / "autoencoder.yaml"
SAMPLE_RATE = 16000


def _tone(freq: float, seconds: float, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    wave = sum(0.5**k * torch.sin(2 * math.pi * freq * (k + 1) * t) for k in range(4))
    envelope = 0.5 + 0.5 * torch.sin(2 * math.pi * 3 * t).abs()
    return (0.25 * wave * envelope)[None].float()


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory) -> Path:
    from audiogen.audio.io import save_audio

    folder = tmp_path_factory.mktemp("audio")
    for i, freq in enumerate([110, 147, 196, 262, 330, 392, 440, 523, 659, 784, 880, 988]):
        save_audio(folder / f"tone_{i:02d}.wav", _tone(freq, 1.0 + 0.1 * i), SAMPLE_RATE)
    return folder


def _args(audio_dir: Path, *extra: str) -> list[str]:
    return [f"data.audio_dir={audio_dir}", "data.valid_fraction=0.25", *extra]


def _invoke(*args: str):
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result


def _train_losses(run_dir: Path) -> list[float]:
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [x["train/total"] for x in lines if "train/total" in x]


def _falls(losses: list[float], k: int = 4) -> bool:
    return sum(losses[-k:]) / k < 0.8 * sum(losses[:k]) / k


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, audio_dir) -> Path:
    run_dir = tmp_path_factory.mktemp("run") / "debug"
    result = _invoke("train", "autoencoder", DEBUG_RECIPE, *_args(audio_dir), "--out", run_dir)
    assert result.exit_code == 0, result.output
    return run_dir


def test_debug_recipe_trains_and_writes_everything(trained_run):
    losses = _train_losses(trained_run)
    assert len(losses) == 20  # 40 steps, logged every 2
    assert _falls(losses), losses
    checkpoints = sorted(p.name for p in (trained_run / "checkpoints").iterdir())
    assert checkpoints == ["checkpoint-00000020", "checkpoint-00000040"]
    last = trained_run / "checkpoints" / "checkpoint-00000040"
    for sub in (
        "COMPLETE",
        "trainer_state.json",
        "rng.safetensors",
        "optimizers/main.safetensors",
        "models/autoencoder/model.safetensors",
        "ema/autoencoder/config.json",
    ):
        assert (last / sub).is_file(), sub
    samples = trained_run / "samples" / "step-00000040"
    assert {p.suffix for p in samples.iterdir()} == {".wav", ".png"}
    assert list((trained_run / "logs").rglob("events.out.tfevents.*"))  # TensorBoard
    assert any("val/mel_l1_db" in line for line in (trained_run / "metrics.jsonl").read_text().splitlines())

    from audiogen.models.autoencoder import MelVAE

    vae = MelVAE.from_pretrained(last / "ema" / "autoencoder")
    assert vae.config.latent_scale != 1.0  # measured on the training data
    assert vae.config.mel.n_mels == 32 and vae.latent_dim == 4


def test_resume_is_exact_and_skips_a_checkpoint_cut_off_mid_write(trained_run, audio_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    reference = trained_run / "checkpoints" / "checkpoint-00000040"
    # the final checkpoint "was cut off": no COMPLETE marker, truncated weights
    cut = run / "checkpoints" / "checkpoint-00000040"
    (cut / "COMPLETE").unlink()
    weights = cut / "models" / "autoencoder" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 41, "train/to')  # the run was killed while logging

    result = _invoke("train", "autoencoder", DEBUG_RECIPE, *_args(audio_dir), "--out", run, "--resume")
    assert result.exit_code == 0, result.output
    assert "resumed from" in result.output and "checkpoint-00000020" in result.output
    # what the dead run logged after step 20 is replaced by the resumed run's records, not repeated
    assert "dropped 12 records logged after step 20" in result.output
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    reference_log = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == [r["step"] for r in reference_log]
    for a, b in zip(logged, reference_log, strict=True):
        assert a.keys() == b.keys()
        for key in a.keys() & {"train/total", "val/mel_l1_db"}:  # an exact resume logs the same losses
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-7), (a["step"], key)

    resumed = run / "checkpoints" / "checkpoint-00000040"
    assert (resumed / "COMPLETE").is_file()
    for rel in (
        "models/autoencoder/model.safetensors",
        "ema/autoencoder/model.safetensors",
        "optimizers/main.safetensors",
    ):
        a, b = load_file(reference / rel), load_file(resumed / rel)
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), f"{rel}: {key} differs after resume"


def test_bf16_run_trains(audio_dir, tmp_path):
    run = tmp_path / "bf16"
    args = _args(
        audio_dir,
        "train.mixed_precision=bf16",
        "train.log_with=null",
        "train.validate_every=0",
        "train.num_samples=0",
    )
    result = _invoke("train", "autoencoder", DEBUG_RECIPE, *args, "--out", run)
    assert result.exit_code == 0, result.output
    losses = _train_losses(run)
    assert _falls(losses), losses
    assert all(math.isfinite(x) for x in losses)


def test_mel_cache_source(audio_dir, tmp_path):
    args = _args(
        audio_dir,
        "data.source=mel_cache",
        f"data.mel_cache={tmp_path / 'cache'}",
        "train.max_steps=4",
        "train.log_with=null",
        "train.num_samples=0",
    )
    result = _invoke("train", "autoencoder", DEBUG_RECIPE, *args, "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    caches = list((tmp_path / "cache").iterdir())
    assert len(caches) == 1 and (caches[0] / "index.json").is_file()
    assert all(math.isfinite(x) for x in _train_losses(tmp_path / "run"))
    wrong = _args(audio_dir, "data.source=mel_cache", "data.mel_cache=null")
    result = _invoke("train", "autoencoder", DEBUG_RECIPE, *wrong, "--out", tmp_path / "run2")
    assert result.exit_code == 1 and "mel_cache" in result.output


def test_two_process_run_writes_one_checkpoint(audio_dir, tmp_path):
    run = tmp_path / "ddp"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "audiogen.cli",
        "train",
        "autoencoder",
        str(DEBUG_RECIPE),
        *_args(
            audio_dir,
            "train.max_steps=6",
            "train.checkpoint_every=6",
            "train.validate_every=0",
            "train.log_every=3",
            "train.num_samples=1",
            "train.log_with=null",
        ),
        "--out",
        str(run),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["checkpoint-00000006"]
    state = json.loads((run / "checkpoints" / "checkpoint-00000006" / "trainer_state.json").read_text())
    assert state["num_processes"] == 2
    rng = load_file(run / "checkpoints" / "checkpoint-00000006" / "rng.safetensors")
    assert any(k.startswith("s.rank1.") for k in rng)  # every process's RNG state is kept
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [3, 6, 6]  # written once (main process only): two logs and the final validation


def test_encode_decode_round_trip(trained_run, tmp_path):
    from audiogen.audio.io import load_audio, save_audio
    from audiogen.cli.codec import load_latent_file

    clip = _tone(300.0, 0.73)
    save_audio(tmp_path / "in.wav", clip, SAMPLE_RATE)
    result = _invoke(
        "encode", tmp_path / "in.wav", "--out", tmp_path / "z.safetensors", "--checkpoint", trained_run
    )
    assert result.exit_code == 0, result.output
    latent = load_latent_file(tmp_path / "z.safetensors")
    frames = clip.shape[-1] // 128 + 1  # center=True framing, hop 128
    assert latent.latent.shape == (4, math.ceil(frames / 4))
    assert latent.meta["sample_rate"] == SAMPLE_RATE and latent.meta["frames"] == frames
    assert latent.meta["mel"]["n_mels"] == 32 and latent.meta["latent_scale"] != 1.0

    result = _invoke(
        "decode",
        tmp_path / "z.safetensors",
        "--out",
        tmp_path / "out.wav",
        "--checkpoint",
        trained_run / "checkpoints" / "checkpoint-00000040",
        "--n-iter",
        "4",
    )
    assert result.exit_code == 0, result.output
    out = load_audio(tmp_path / "out.wav")
    assert out.sample_rate == SAMPLE_RATE and out.waveform.shape[-1] == clip.shape[-1]
    assert out.waveform.abs().max() > 1e-3

    # an --out the writer cannot handle fails before any work, with the file named, not a traceback
    result = _invoke(
        "decode", tmp_path / "z.safetensors", "--out", tmp_path / "out", "--checkpoint", trained_run
    )
    assert result.exit_code == 2 and f"{tmp_path / 'out'}: unsupported suffix ''" in result.output


def test_cli_reports_recipe_errors(audio_dir, tmp_path):
    result = _invoke(
        "train", "autoencoder", DEBUG_RECIPE, *_args(audio_dir, "model.channelz=8"), "--out", tmp_path / "bad"
    )
    assert result.exit_code == 1
    assert "channelz" in result.output
    bad_latent = tmp_path / "bad.safetensors"
    bad_latent.write_bytes(b"not a safetensors file")
    result = _invoke("decode", bad_latent, "--out", tmp_path / "x.wav", "--checkpoint", tmp_path)
    assert result.exit_code == 2 and "error" in result.output


def test_decoder_finetune_keeps_the_encoder_and_latent_scale(trained_run, audio_dir, tmp_path):
    """``init`` + ``freeze: {autoencoder: [encoder]}``: only the decoder trains, so latents are unchanged."""
    base = trained_run / "checkpoints" / "checkpoint-00000040" / "ema" / "autoencoder"
    run = tmp_path / "decoder"
    args = _args(
        audio_dir,
        f"init.autoencoder={base}",
        "freeze.autoencoder=[encoder]",
        "data.latent_scale_batches=0",
        "train.log_with=null",
        "train.num_samples=0",
    )
    result = _invoke("train", "autoencoder", DEBUG_RECIPE, *args, "--out", run)
    assert result.exit_code == 0, result.output
    assert "frozen (not trained): autoencoder.encoder" in result.output

    from audiogen.models.autoencoder import MelVAE

    before = MelVAE.from_pretrained(base)
    last = run / "checkpoints" / "checkpoint-00000040"
    for folder in ("models/autoencoder", "ema/autoencoder"):
        after = load_file(last / folder / "model.safetensors")
        for key, value in before.state_dict().items():
            if key.startswith("encoder."):
                assert torch.equal(after[key], value), f"{folder}: {key} changed"
        changed = [
            k
            for k, v in before.state_dict().items()
            if k.startswith("decoder.") and not torch.equal(after[k], v)
        ]
        assert changed, f"{folder}: the decoder did not train"
    tuned = MelVAE.from_pretrained(last / "ema" / "autoencoder")
    assert tuned.config.latent_scale == before.config.latent_scale
    mel = torch.randn(2, tuned.n_mels, 37) - 5
    assert torch.equal(tuned.encode(mel, sample=False), before.encode(mel, sample=False))


def test_freeze_errors_name_the_problem(audio_dir, tmp_path):
    from audiogen.training.tasks import build_task

    recipe = {"freeze": {"autoencoder": ["encodr"]}, "data": {"audio_dir": str(audio_dir)}}
    task = build_task("autoencoder", recipe)
    with pytest.raises(ValueError, match="'encodr' is not a sub-module of autoencoder"):
        task.freeze_modules(task.build_models())
    task = build_task("autoencoder", {**recipe, "freeze": {"vocoder": ["encoder"]}})
    with pytest.raises(ValueError, match="not a model of stage"):
        task.freeze_modules(task.build_models())
    task = build_task("autoencoder", {**recipe, "freeze": {"autoencoder": "encoder"}})
    with pytest.raises(ValueError, match="must be a list"):
        task.freeze_modules(task.build_models())
