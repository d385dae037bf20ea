"""``audiogen finetune`` on real recorded sounds (Debian's sound-theme-freedesktop) with a tiny base pipeline.

The base is a tiny random-weight pipeline (tests/test_pipeline.py) saved to disk; the collection is a
folder of freedesktop OGGs plus copies converted to other formats, sample rates and channel counts,
and one broken file. Covers: a bare folder with no metadata, bad files reported without stopping,
the pipeline folder that ``generate --checkpoint`` uses, the new style beside the base styles,
resume, refusing a run folder of other settings, every stage, and a two-process run.
"""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from audiogen.cli import app
from audiogen.models.denoiser import DiffusionConfig, LatentDenoiser
from audiogen.pipelines.audiogen import AudioGenPipeline
from audiogen.training.tasks.diffusion import DiffusionTask
from tests.pipelines.test_audiogen import write_tiny_pipeline

ROOT = Path(__file__).resolve().parents[1]
SOUNDS = Path("/usr/share/sounds/freedesktop/stereo")
NAMES = ("bell", "complete", "message", "service-login", "window-attention", "phone-incoming-call")

runner = CliRunner()


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Path:
    """Freedesktop OGGs (Vorbis) + a 44.1 kHz stereo WAV, an 8 kHz mono FLAC and a broken file."""
    if not SOUNDS.is_dir():
        pytest.fail(f"{SOUNDS} is missing: tools/setup.sh installs sound-theme-freedesktop")
    folder = tmp_path_factory.mktemp("sounds")
    for name in NAMES:
        shutil.copy(SOUNDS / f"{name}.oga", folder / f"{name}.oga")
    import torchaudio.functional as AF

    data, rate = sf.read(SOUNDS / "bell.oga", dtype="float32", always_2d=True)
    wav = torch.from_numpy(data.T)
    sf.write(folder / "bell_44k.wav", AF.resample(wav, rate, 44100).T.numpy(), 44100, subtype="PCM_24")
    sf.write(folder / "bell_8k_mono.flac", AF.resample(wav.mean(0), rate, 8000).numpy(), 8000)
    (folder / "broken.wav").write_text("not audio at all")
    return folder


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return write_tiny_pipeline(tmp_path_factory.mktemp("base") / "pipe", cfg_scale=2.0)


def _finetune(collection: Path, base: Path, out: Path, *extra: str):
    args = ["finetune", str(collection), "--out", str(out), "--from", str(base), "--batch-size", "2"]
    args += ["--segment-seconds", "0.5", "--cpu", "--seed", "0", *extra]
    return runner.invoke(app, args)


def _state(run_dir: Path, stage: str) -> dict:
    checkpoints = sorted((run_dir / "train" / stage / "checkpoints").iterdir())
    return json.loads((checkpoints[-1] / "trainer_state.json").read_text())


def test_generator_finetune_writes_a_pipeline_that_generates_the_new_style(collection, base, tmp_path):
    out = tmp_path / "run"
    result = _finetune(collection, base, out, "--steps", "3", "--style", "chimes", "--sample-every", "3")
    assert result.exit_code == 0, result.output
    assert "broken.wav" in result.output  # reported, not fatal
    rejected = [json.loads(line) for line in (out / "data" / "rejected.jsonl").read_text().splitlines()]
    assert [Path(r["path"]).name for r in rejected] == ["broken.wav"]
    entries = [json.loads(line) for line in (out / "data" / "manifest.jsonl").read_text().splitlines()]
    assert len(entries) == len(NAMES) + 2 and {e["label"] for e in entries} == {"chimes"}
    rates = {sf.info(SOUNDS / f"{name}.oga").samplerate for name in NAMES}
    assert {e["sample_rate"] for e in entries} == rates | {44100, 8000}
    assert {e["channels"] for e in entries} == {1, 2}

    pipe = AudioGenPipeline.from_pretrained(out)
    old = AudioGenPipeline.from_pretrained(base)
    assert pipe.styles == [*old.styles, "chimes"]
    assert old.cfg_scale == pipe.cfg_scale == 2.0  # the base's default CFG scale is kept
    assert pipe.denoiser.config.rescale_betas_zero_snr and pipe.scheduler.config.rescale_betas_zero_snr
    assert _state(out, "denoiser")["step"] == 3
    before = old.denoiser.state_dict()
    changed = [name for name, p in pipe.denoiser.state_dict().items() if not torch.equal(p, before[name])]
    assert changed, "fine-tuning did not change the denoiser"
    # untouched stages are the base's
    for name, p in pipe.vocoder.state_dict().items():
        assert torch.equal(p, old.vocoder.state_dict()[name])
    samples = list((out / "train" / "denoiser" / "samples").rglob("*chimes*.png"))
    assert samples, "no sample spectrograms of the new style were written"

    wav_dir = tmp_path / "gen"
    gen = runner.invoke(
        app,
        ["generate", "--checkpoint", str(out), "--style", "chimes", "--seconds", "1", "--num", "1",
         "--steps", "4", "--out", str(wav_dir)],
    )  # fmt: skip
    assert gen.exit_code == 0, gen.output
    wavs = list(wav_dir.glob("*.wav"))
    assert len(wavs) == 1 and sf.info(wavs[0]).frames == pipe.sample_rate


def test_rerun_resumes_and_extends_and_refuses_other_settings(collection, base, tmp_path):
    out = tmp_path / "run"
    first = _finetune(collection, base, out, "--steps", "2", "--style", "chimes")
    assert first.exit_code == 0, first.output
    weights = load_file(out / "denoiser" / "model.safetensors")
    again = _finetune(collection, base, out, "--steps", "2", "--style", "chimes")
    assert again.exit_code == 0, again.output
    assert "resumed from" in again.output and _state(out, "denoiser")["step"] == 2
    again_weights = load_file(out / "denoiser" / "model.safetensors")
    assert all(torch.equal(again_weights[k], v) for k, v in weights.items())  # nothing trained again
    longer = _finetune(collection, base, out, "--steps", "4", "--style", "chimes")
    assert longer.exit_code == 0, longer.output
    assert "step 2" in longer.output and _state(out, "denoiser")["step"] == 4
    other = _finetune(collection, base, out, "--steps", "4", "--style", "bells")
    assert other.exit_code == 2 and "other settings" in other.output


def test_all_stages_keep_the_latent_scale_and_default_style_is_the_folder_name(collection, base, tmp_path):
    out = tmp_path / "run"
    args = ("--steps", "2", "--vocoder-steps", "1", "--autoencoder-steps", "3", "--stages", "all")
    result = _finetune(collection, base, out, *args)
    assert result.exit_code == 0, result.output
    pipe = AudioGenPipeline.from_pretrained(out)
    old = AudioGenPipeline.from_pretrained(base)
    assert pipe.styles[-1] == collection.name
    assert float(pipe.autoencoder.latent_scale) == float(old.autoencoder.latent_scale)
    # the autoencoder stage trains adversarially: the discriminator's and the decoder's GAN losses are on
    rows = [json.loads(x) for x in (out / "train" / "autoencoder" / "metrics.jsonl").read_text().splitlines()]
    assert any(r.get("train/adv_disc", 0) > 0 and r.get("train/adv_gen", 0) > 0 for r in rows), rows
    for stage, steps in (("autoencoder", 3), ("denoiser", 2), ("vocoder", 1)):
        assert _state(out, stage)["step"] == steps
        new, before = getattr(pipe, stage).state_dict(), getattr(old, stage).state_dict()
        assert any(not torch.equal(v, before[k]) for k, v in new.items()), f"{stage} did not change"


def test_a_manifest_with_labels_keeps_them_as_styles(collection, base, tmp_path):
    from audiogen.data.manifest import write_manifest
    from audiogen.data.scan import scan_folder

    scan = scan_folder(collection, min_seconds=0.1, valid_fraction=0.0, group_by="none", progress=False)
    entries = [
        dataclasses.replace(e, label="low" if i % 2 else "high") for i, e in enumerate(scan.entries)
    ]
    manifest = write_manifest(tmp_path / "sounds.jsonl", entries)
    result = _finetune(manifest, base, tmp_path / "run2", "--steps", "1")
    assert result.exit_code == 0, result.output
    pipe = AudioGenPipeline.from_pretrained(tmp_path / "run2")
    assert pipe.styles[-2:] == ["high", "low"]
    assert len(pipe.styles) == len(AudioGenPipeline.from_pretrained(base).styles) + 2


def test_memory_options_reach_the_trainer(collection, base, tmp_path):
    out = tmp_path / "run"
    args = ("--steps", "1", "--gradient-checkpointing", "--grad-accum", "2", "--mixed-precision", "bf16")
    result = _finetune(collection, base, out, *args)
    assert result.exit_code == 0, result.output
    train = _state(out, "denoiser")["train_config"]
    assert train["gradient_checkpointing"] is True
    assert train["gradient_accumulation_steps"] == 2 and train["mixed_precision"] == "bf16"
    assert AudioGenPipeline.from_pretrained(out).denoiser is not None


def test_label_embedding_grows_by_name_and_keeps_the_base_predictions():
    torch.manual_seed(0)
    common = dict(latent_dim=4, channels=16, channel_mults=(1, 2), blocks_per_level=1, kernel_size=5)
    old = LatentDenoiser(DiffusionConfig(**common, num_classes=2, class_labels=("a", "b")))
    with torch.no_grad():
        for p in old.parameters():
            p.normal_(0.0, 0.1)
    saved = {"class_labels": ["a", "b"]}
    labels = ["b", "a", "new"]
    state = DiffusionTask.adapt_init_state(
        SimpleNamespace(labels=labels), "denoiser", None, old.state_dict(), saved
    )
    new = LatentDenoiser(DiffusionConfig(**common, num_classes=3, class_labels=tuple(labels)))
    new.load_state_dict(state, strict=True)
    x, t = torch.randn(2, 4, 8), torch.tensor([10, 500])
    with torch.no_grad():
        assert torch.equal(new(x, t, torch.tensor([1, 1])), old(x, t, torch.tensor([0, 0])))  # "a"
        assert torch.equal(new(x, t, torch.tensor([0, 0])), old(x, t, torch.tensor([1, 1])))  # "b"
        assert torch.equal(new(x, t, torch.tensor([2, 2])), old(x, t, None))  # new style = no style
        assert torch.equal(new(x, t, None), old(x, t, None))
    with pytest.raises(ValueError, match="unconditional"):
        DiffusionTask.adapt_init_state(SimpleNamespace(labels=labels), "denoiser", None, {}, {})


def test_missing_base_and_empty_collection_are_clear_errors(collection, base, tmp_path):
    result = _finetune(collection, tmp_path / "nowhere", tmp_path / "run", "--steps", "1")
    assert result.exit_code != 0 and "nowhere" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "broken.wav").write_text("nope")
    result = _finetune(empty, base, tmp_path / "run2", "--steps", "1")
    assert result.exit_code == 2 and "none of its 1 audio file(s) can be used" in result.output
    assert not (tmp_path / "run2").exists()


def test_two_process_accelerate_launch(collection, base, tmp_path):
    """Two CPU processes (gloo). ``accelerate launch --cpu --num_processes 2`` starts a single process in
    Accelerate 1.15 (its CPU launcher needs mpirun for more), so the processes come from the torchrun
    launcher (``--multi_gpu``) and ``finetune --cpu`` keeps them on the CPU."""
    out = tmp_path / "ddp"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "-m", "audiogen.cli", "finetune", str(collection), "--out", str(out), "--from", str(base),
        "--steps", "2", "--batch-size", "2", "--segment-seconds", "0.5", "--style", "chimes", "--cpu",
        "--stages", "all", "--vocoder-steps", "1", "--autoencoder-steps", "1",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for stage, steps in (("autoencoder", 1), ("denoiser", 2), ("vocoder", 1)):  # three trainers, one group
        state = _state(out, stage)
        assert state["step"] == steps and state["num_processes"] == 2, stage
    assert AudioGenPipeline.from_pretrained(out).styles[-1] == "chimes"


def test_lora_finetune_writes_an_adapter_that_reproduces_its_samples(collection, base, tmp_path):
    from audiogen.models.lora import ADAPTER_WEIGHTS_NAME, SIDECAR_NAME
    from audiogen.pipelines.denoise import sample_latents
    from audiogen.samplers.factory import make_sampler

    out = tmp_path / "run"
    args = ("--steps", "3", "--style", "chimes", "--sample-every", "3", "--lora", "2", "--lora-alpha", "4")
    args += ("--lr", "0.01")
    result = _finetune(collection, base, out, *args)
    assert result.exit_code == 0, result.output
    adapter = out / "lora" / "denoiser"
    names = sorted(p.name for p in adapter.iterdir())
    assert names == ["adapter_config.json", ADAPTER_WEIGHTS_NAME, SIDECAR_NAME, "style_embedding.safetensors"]
    assert (out / "lora" / "MODEL_CARD.md").is_file() and not (out / "model_index.json").exists()
    sidecar = json.loads((adapter / SIDECAR_NAME).read_text())
    assert sidecar["styles"] == ["chimes"] and sidecar["rank"] == 2 and sidecar["lora_alpha"] == 4.0
    weights = load_file(adapter / ADAPTER_WEIGHTS_NAME)
    assert any(v.abs().max() > 0 for k, v in weights.items() if "lora_B" in k), "lora_B did not train"

    pipe = AudioGenPipeline.from_pretrained(base)
    base_weights = {k: v.clone() for k, v in pipe.denoiser.state_dict().items()}
    pipe.load_lora(out)
    assert pipe.styles[-1] == "chimes"
    # strength 1 reproduces the run's validation samples (2 clips, dpm++ 25 steps, CFG 3, generator seed 0)
    wavs = sorted((out / "train" / "denoiser" / "samples" / "step-00000003").glob("sample_*_chimes.wav"))
    expected = torch.stack([torch.from_numpy(sf.read(w, dtype="float32")[0]) for w in wavs])
    frames = expected.shape[-1] // pipe.samples_per_latent_frame

    def render(label_pipe):
        z = sample_latents(
            label_pipe.denoiser, make_sampler("dpm++", label_pipe.scheduler), (2, 4, frames),
            labels=label_pipe.style_label("chimes"), cfg_scale=3.0,
            generator=torch.Generator().manual_seed(0), progress=False, num_inference_steps=25,
        )  # fmt: skip
        with torch.no_grad():
            return label_pipe.vocoder(label_pipe.autoencoder.decode(z).float())[:, 0].clamp(-1, 1)

    tolerance = 1.01 / 32768  # the samples are 16-bit WAV
    assert (render(pipe) - expected).abs().max() <= tolerance
    pipe.set_lora_strength("chimes", 0.0)
    assert (render(pipe) - expected).abs().max() > 3 * tolerance  # the adapter is what matches
    pipe.unload_lora("chimes")
    assert all(torch.equal(v, base_weights[k]) for k, v in pipe.denoiser.state_dict().items())

    again = _finetune(collection, base, out, *args)  # resumes: nothing trained again, same adapter
    assert again.exit_code == 0 and "resumed from" in again.output
    assert all(torch.equal(v, weights[k]) for k, v in load_file(adapter / ADAPTER_WEIGHTS_NAME).items())
    bad = _finetune(collection, base, tmp_path / "r2", "--steps", "1", "--lora", "2", "--stages", "all")
    assert bad.exit_code == 2 and "--stages generator" in bad.output
