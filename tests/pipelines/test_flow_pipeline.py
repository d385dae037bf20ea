"""A rectified-flow denoiser in the pipeline: generate, loop, variation, extend / inpaint, its folder,
and the command line's refusal of DDIM, on tiny random-weight stages."""

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from audiogen.cli import app
from audiogen.pipelines.audiogen import AudioGenPipeline
from audiogen.samplers import FlowMatchSchedule
from audiogen.samplers.factory import noise_scheduler
from tests.pipelines.test_audiogen import MEL, make_tiny_pipeline

FLOW = {"prediction_type": "flow_prediction", "flow_shift": 2.0}


@pytest.fixture(scope="module")
def pipe() -> AudioGenPipeline:
    return make_tiny_pipeline(**FLOW)


def _clip(batch=1, samples=8000, seed=0):
    g = torch.Generator().manual_seed(seed)
    tone = 0.3 * torch.sin(2 * math.pi * 330 * torch.arange(samples) / MEL.sample_rate)
    return tone + 0.05 * torch.randn(batch, 1, samples, generator=g)


def _finite(waveforms: torch.Tensor) -> bool:
    return bool(waveforms.isfinite().all()) and float(waveforms.abs().max()) > 0


@pytest.mark.parametrize("sampler", ["dpm++", "euler"])
def test_a_flow_pipeline_generates_loops_and_varies_with_its_samplers(pipe, sampler):
    assert isinstance(pipe.scheduler, FlowMatchSchedule)
    kwargs = dict(steps=4, seed=3, sampler=sampler, progress=False)
    r = pipe(0.4, num=2, style="flute", **kwargs)
    assert r.waveforms.shape == (2, 1, 6400) and _finite(r.waveforms)
    assert torch.equal(r.waveforms, pipe(0.4, num=2, style="flute", **kwargs).waveforms)
    loop = pipe.loop(0.5, **kwargs)
    assert loop.waveforms.shape == (1, 1, 8000) and _finite(loop.waveforms)
    x = _clip()
    kept = pipe.variation(x[0], MEL.sample_rate, strength=0.0, **kwargs)
    varied = pipe.variation(x[0], MEL.sample_rate, strength=0.6, **kwargs)
    assert varied.waveforms.shape == kept.waveforms.shape == (1, 1, 8000) and _finite(varied.waveforms)
    assert not torch.allclose(varied.latents, kept.latents, atol=1e-3)


@pytest.mark.parametrize("sampler", ["dpm++", "euler"])
def test_flow_extend_and_inpaint_keep_the_input_latent(pipe, sampler):
    from audiogen.audio.features import LogMelSpectrogram

    x = _clip(samples=12000)
    with torch.no_grad():
        z = pipe.autoencoder.encode(LogMelSpectrogram(MEL)(x[:, 0]).mel)
    r = pipe.inpaint(x, MEL.sample_rate, 0.2, 0.45, steps=3, sampler=sampler, progress=False, crossfade=0.05)
    assert r.waveforms.shape == x.shape and _finite(r.waveforms)
    keep = (r.mask == 1).nonzero().flatten()
    assert len(keep) > 5 and torch.equal(r.latents[..., keep], z[..., keep])
    assert torch.equal(r.waveforms[..., :2400], x[..., :2400])
    e = pipe.extend(x, MEL.sample_rate, 0.5, steps=3, sampler=sampler, progress=False, harmonize=2)
    assert e.waveforms.shape == (1, 1, 12000 + 8000) and _finite(e.waveforms)


def test_ddim_is_refused_with_one_line(pipe, tmp_path):
    with pytest.raises(ValueError, match="the ddim sampler cannot run a rectified-flow model") as info:
        pipe(0.4, steps=3, sampler="ddim", progress=False)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="cannot run a rectified-flow model"):
        pipe.variation(_clip()[0], MEL.sample_rate, strength=0.5, steps=3, sampler="ddim", progress=False)
    folder = pipe.save_pretrained(tmp_path / "flow")
    common = ["--checkpoint", folder, "--device", "cpu", "--steps", 2, "--seconds", 0.3]
    result = CliRunner().invoke(
        app, [str(a) for a in ["generate", *common, "--sampler", "ddim", "--out", tmp_path]]
    )
    assert result.exit_code == 2, result.output
    assert "cannot run a rectified-flow model" in result.output and "use dpm++ or euler" in result.output
    assert not list(tmp_path.glob("*.wav"))
    result = CliRunner().invoke(
        app, [str(a) for a in ["generate", *common, "--sampler", "euler", "--out", tmp_path]]
    )
    assert result.exit_code == 0, result.output
    assert len(list(tmp_path.glob("*.wav"))) == 1


def test_a_flow_pipeline_folder_round_trips(pipe, tmp_path):
    folder = pipe.save_pretrained(tmp_path / "flow", model_card="# tiny flow model\n")
    stored = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    assert stored["_class_name"] == "FlowMatchEulerDiscreteScheduler" and stored["shift"] == 2.0
    assert stored["prediction_type"] == "flow_prediction"
    denoiser = json.loads((folder / "denoiser" / "config.json").read_text())["config"]
    assert denoiser["prediction_type"] == "flow_prediction" and denoiser["flow_shift"] == 2.0
    index = json.loads((folder / "model_index.json").read_text())
    assert index["stages"]["scheduler"]["class"] == "FlowMatchEulerDiscreteScheduler"
    loaded = AudioGenPipeline.from_pretrained(folder)
    assert isinstance(loaded.scheduler, FlowMatchSchedule)
    assert loaded.denoiser.config == pipe.denoiser.config
    for sampler in ("dpm++", "euler"):
        kwargs = dict(seed=5, steps=3, sampler=sampler, progress=False)
        assert torch.equal(pipe(0.3, **kwargs).waveforms, loaded(0.3, **kwargs).waveforms)


def test_a_flow_schedule_with_another_denoiser_is_refused(pipe):
    ddpm = make_tiny_pipeline()
    with pytest.raises(ValueError, match="scheduler prediction_type='flow_prediction'"):
        AudioGenPipeline(MEL, ddpm.autoencoder, ddpm.denoiser, pipe.scheduler, ddpm.vocoder)
    with pytest.raises(ValueError, match="scheduler prediction_type='v_prediction'"):
        AudioGenPipeline(MEL, pipe.autoencoder, pipe.denoiser, ddpm.scheduler, pipe.vocoder)
    # a FlowMatchEulerDiscreteScheduler config as diffusers writes it (no prediction_type key)
    plain = FlowMatchSchedule({k: v for k, v in pipe.scheduler.config.items() if k != "prediction_type"})
    assert plain.config.prediction_type == "flow_prediction"
    bare = type("Bare", (), {"config": {"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 1.0}})()
    with pytest.raises(ValueError, match="rectified-flow schedule"):
        AudioGenPipeline(MEL, ddpm.autoencoder, ddpm.denoiser, bare, ddpm.vocoder)
    assert noise_scheduler(pipe.denoiser.config).config == pipe.scheduler.config
