"""AudioGenPipeline with tiny random-weight stages: checks, save/load, lengths, seeds, styles, variation."""

import json
import math
from pathlib import Path

import pytest
import torch

from audiogen.config import MelConfig
from audiogen.hub import MODEL_INDEX_NAME
from audiogen.models.autoencoder import AutoencoderConfig, MelVAE
from audiogen.models.denoiser import DiffusionConfig, LatentDenoiser
from audiogen.models.vocoder import VocoderConfig, VocosVocoder
from audiogen.pipelines.audiogen import AudioGenPipeline, load_pretrained
from audiogen.pipelines.loop import loop_samples, periodic_resample
from audiogen.samplers.factory import noise_scheduler

MEL = MelConfig(sample_rate=16000, n_fft=512, hop_length=128, n_mels=32)
STYLES = ("piano", "flute")


def make_tiny_pipeline(
    mel: MelConfig = MEL,
    styles: tuple[str, ...] | None = STYLES,
    seed: int = 0,
    vocoder_mel: MelConfig | None = None,
    cfg_scale: float = 3.0,
    **denoiser_fields,
) -> AudioGenPipeline:
    """Tiny untrained stages (time_downsample 2, denoiser length_multiple 2) in a pipeline.

    ``denoiser_fields``: more :class:`DiffusionConfig` fields (e.g. ``prediction_type``).

    The denoiser's zero-initialised gates and output layer are randomised too: at initialisation it
    predicts exactly zero, which would make circular and ordinary denoising identical.
    """
    torch.manual_seed(seed)
    vae = MelVAE(
        AutoencoderConfig(
            mel=mel, latent_dim=4, time_downsample=2, channels=16, blocks_per_stage=1, kernel_size=5
        )
    )
    config = DiffusionConfig(
        latent_dim=4,
        channels=16,
        channel_mults=(1, 2),
        blocks_per_level=1,
        kernel_size=5,
        attention_layers=1,
        attention_heads=2,
        num_classes=len(styles or ()),
        class_labels=tuple(styles) if styles else None,
        **denoiser_fields,
    )
    denoiser = LatentDenoiser(config)
    with torch.no_grad():
        for p in denoiser.parameters():
            p.normal_(0.0, 0.1)
    vocoder = VocosVocoder(VocoderConfig(mel=vocoder_mel or mel, dim=16, intermediate_dim=32, num_layers=1))
    return AudioGenPipeline(mel, vae, denoiser, noise_scheduler(config), vocoder, cfg_scale=cfg_scale)


def write_tiny_pipeline(folder: Path, **kwargs) -> Path:
    """Save :func:`make_tiny_pipeline` to ``folder`` (with a model card)."""
    return make_tiny_pipeline(**kwargs).save_pretrained(folder, model_card="# tiny test model\n")


@pytest.fixture(scope="module")
def pipe() -> AudioGenPipeline:
    return make_tiny_pipeline()


# ------------------------------------------------------------------------------------------------
# construction, saving, loading


def test_save_load_round_trip_gives_identical_audio(tmp_path):
    original = make_tiny_pipeline()
    folder = original.save_pretrained(tmp_path / "pipe", model_card="# card\n")
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert files == [
        "MODEL_CARD.md",
        "autoencoder/config.json",
        "autoencoder/model.safetensors",
        "denoiser/config.json",
        "denoiser/model.safetensors",
        MODEL_INDEX_NAME,
        "scheduler/scheduler_config.json",
        "vocoder/config.json",
        "vocoder/model.safetensors",
    ]
    index = json.loads((folder / MODEL_INDEX_NAME).read_text())
    assert {k: v["subfolder"] for k, v in index["stages"].items()} == {
        "autoencoder": "autoencoder",
        "denoiser": "denoiser",
        "scheduler": "scheduler",
        "vocoder": "vocoder",
    }
    assert index["mel"] == MEL.to_dict() and index["styles"] == list(STYLES)
    assert index["latent"]["time_downsample"] == 2 and "audiogen_version" in index

    loaded = AudioGenPipeline.from_pretrained(folder, device="cpu")
    assert loaded.styles == list(STYLES) and loaded.mel_config == MEL
    kwargs = dict(seconds=0.4, num=2, seed=3, steps=3, style="flute", progress=False)
    a, b = original(**kwargs), loaded(**kwargs)
    assert a.waveforms.abs().max() > 0
    assert torch.equal(a.waveforms, b.waveforms) and torch.equal(a.latents, b.latents)


def test_float16_stages_store_half_and_load_back_as_float32(tmp_path):
    from safetensors import safe_open

    original = make_tiny_pipeline()
    folder = original.save_pretrained(tmp_path / "pipe", float16_stages=["vocoder"])
    dtypes = {}
    for stage in ("autoencoder", "vocoder"):
        with safe_open(str(folder / stage / "model.safetensors"), framework="pt") as f:
            params = {n for n, _ in getattr(original, stage).named_parameters()}
            dtypes[stage] = {f.get_tensor(k).dtype for k in f.keys() if k in params}
    assert dtypes == {"autoencoder": {torch.float32}, "vocoder": {torch.float16}}
    loaded = AudioGenPipeline.from_pretrained(folder, device="cpu")
    assert {p.dtype for p in loaded.vocoder.parameters()} == {torch.float32}
    for a, b in zip(original.vocoder.parameters(), loaded.vocoder.parameters(), strict=True):
        assert torch.equal(a.detach().half().float(), b.detach())
    with pytest.raises(ValueError, match=r"float16_stages: \['scheduler'\] are not stages with weights"):
        original.save_pretrained(tmp_path / "bad", float16_stages=["scheduler"])


def test_default_cfg_scale_is_saved_loaded_and_used(tmp_path):
    original = make_tiny_pipeline()
    original.cfg_scale = 1.5
    folder = original.save_pretrained(tmp_path / "pipe")
    index = json.loads((folder / MODEL_INDEX_NAME).read_text())
    assert index["generation"] == {"cfg_scale": 1.5, "steps": 25}
    loaded = AudioGenPipeline.from_pretrained(folder, device="cpu")
    assert loaded.cfg_scale == 1.5
    kwargs = dict(seconds=0.3, seed=2, steps=2, style="piano", progress=False)
    by_default = loaded(**kwargs).waveforms
    assert torch.equal(by_default, loaded(cfg_scale=1.5, **kwargs).waveforms)
    assert (by_default - loaded(cfg_scale=4.0, **kwargs).waveforms).abs().max() > 0
    loop_kwargs = dict(seed=2, steps=2, style="piano", progress=False)
    looped = loaded.loop(0.3, **loop_kwargs).waveforms
    assert torch.equal(looped, loaded.loop(0.3, cfg_scale=1.5, **loop_kwargs).waveforms)
    # a folder written before generation.cfg_scale existed loads with the old fixed default
    del index["generation"]
    (folder / MODEL_INDEX_NAME).write_text(json.dumps(index))
    assert AudioGenPipeline.from_pretrained(folder, device="cpu").cfg_scale == 3.0
    index["generation"] = {"cfg_scale": "high"}
    (folder / MODEL_INDEX_NAME).write_text(json.dumps(index))
    with pytest.raises(ValueError, match="model_index.json: malformed"):
        AudioGenPipeline.from_pretrained(folder, device="cpu")
    (folder / MODEL_INDEX_NAME).write_text(json.dumps(index).replace('"high"', "NaN"))  # json allows NaN
    with pytest.raises(ValueError, match=r"model_index.json: malformed \(generation.cfg_scale is nan"):
        AudioGenPipeline.from_pretrained(folder, device="cpu")
    with pytest.raises(ValueError, match="cfg_scale"):
        stages = (original.autoencoder, original.denoiser, original.scheduler, original.vocoder)
        AudioGenPipeline(MEL, *stages, cfg_scale=math.nan)


def _count_denoiser_calls(pipe: AudioGenPipeline, run) -> int:
    """How many times ``run()`` calls the denoiser (one per sampler step without guidance)."""
    calls = []
    handle = pipe.denoiser.register_forward_hook(lambda *_: calls.append(1))
    try:
        run()
    finally:
        handle.remove()
    return len(calls)


def test_default_steps_are_saved_loaded_and_used(tmp_path):
    original = make_tiny_pipeline()
    original.steps = 3
    folder = original.save_pretrained(tmp_path / "pipe")
    index = json.loads((folder / MODEL_INDEX_NAME).read_text())
    assert index["generation"]["steps"] == 3
    loaded = AudioGenPipeline.from_pretrained(folder, device="cpu")
    assert loaded.steps == 3 and loaded.resolve_steps(None) == 3 and loaded.resolve_steps(5) == 5
    kwargs = dict(seconds=0.3, seed=1, progress=False)  # unconditional: one denoiser pass per step
    assert _count_denoiser_calls(loaded, lambda: loaded(**kwargs)) == 3
    assert _count_denoiser_calls(loaded, lambda: loaded(steps=5, **kwargs)) == 5
    assert torch.equal(loaded(**kwargs).waveforms, loaded(steps=3, **kwargs).waveforms)
    assert _count_denoiser_calls(loaded, lambda: loaded.loop(0.3, seed=1, progress=False)) == 3
    wave = torch.randn(1, 4000) * 0.1
    vary = lambda: loaded.variation(wave, MEL.sample_rate, strength=1.0, progress=False)  # noqa: E731
    assert _count_denoiser_calls(loaded, vary) == 3
    # a folder written before generation.steps existed loads with 25; a bad value names the file
    del index["generation"]["steps"]
    (folder / MODEL_INDEX_NAME).write_text(json.dumps(index))
    assert AudioGenPipeline.from_pretrained(folder, device="cpu").steps == 25
    for bad in (0, 2.5, "8", True):
        index["generation"]["steps"] = bad
        (folder / MODEL_INDEX_NAME).write_text(json.dumps(index))
        with pytest.raises(ValueError, match=r"model_index.json: malformed \(generation.steps"):
            AudioGenPipeline.from_pretrained(folder, device="cpu")
    with pytest.raises(ValueError, match="steps"):
        stages = (original.autoencoder, original.denoiser, original.scheduler, original.vocoder)
        AudioGenPipeline(MEL, *stages, steps=0)


def test_mismatched_stages_raise_naming_the_difference(tmp_path):
    with pytest.raises(ValueError, match=r"vocoder's mel front end differs.*n_mels: 32 vs 24"):
        make_tiny_pipeline(vocoder_mel=MelConfig(sample_rate=16000, n_fft=512, hop_length=128, n_mels=24))
    with pytest.raises(ValueError, match=r"sample_rate: 16000 vs 22050.*hop_length: 128 vs 256"):
        make_tiny_pipeline(vocoder_mel=MelConfig(sample_rate=22050, n_fft=1024, hop_length=256, n_mels=32))

    good = make_tiny_pipeline()
    other = DiffusionConfig(latent_dim=8, channels=16, channel_mults=(1, 2), attention_layers=0)
    with pytest.raises(
        ValueError, match="latent_dim: the autoencoder makes 4-channel latents, the denoiser expects 8"
    ):
        AudioGenPipeline(MEL, good.autoencoder, LatentDenoiser(other), noise_scheduler(other), good.vocoder)
    eps = DiffusionConfig(**{**good.denoiser.config.__dict__, "prediction_type": "epsilon"})
    with pytest.raises(ValueError, match="scheduler prediction_type='epsilon'"):
        AudioGenPipeline(MEL, good.autoencoder, good.denoiser, noise_scheduler(eps), good.vocoder)

    # a folder whose vocoder was swapped for one of another front end
    folder = good.save_pretrained(tmp_path / "pipe")
    VocosVocoder(
        VocoderConfig(
            mel=MelConfig(sample_rate=16000, n_fft=512, hop_length=128, n_mels=40), dim=8, num_layers=1
        )
    ).save_pretrained(folder / "vocoder")
    with pytest.raises(ValueError, match="n_mels: 32 vs 40"):
        AudioGenPipeline.from_pretrained(folder)


def test_missing_or_corrupt_folders_raise_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'nowhere'}: no such pipeline folder"):
        AudioGenPipeline.from_pretrained(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        FileNotFoundError, match=f"{tmp_path / 'empty'}: not a pipeline folder.*model_index.json"
    ):
        AudioGenPipeline.from_pretrained(tmp_path / "empty")

    folder = write_tiny_pipeline(tmp_path / "pipe")
    (folder / "denoiser" / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=f"{folder / 'denoiser'}: missing model.safetensors"):
        AudioGenPipeline.from_pretrained(folder)

    folder = write_tiny_pipeline(tmp_path / "pipe2")
    weights = folder / "vocoder" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    with pytest.raises(ValueError, match=f"{weights}: cannot read weights"):
        AudioGenPipeline.from_pretrained(folder)

    folder = write_tiny_pipeline(tmp_path / "pipe3")
    (folder / "scheduler" / "scheduler_config.json").write_text("{not json")
    with pytest.raises(ValueError, match="scheduler_config.json: not valid JSON"):
        AudioGenPipeline.from_pretrained(folder)
    (folder / MODEL_INDEX_NAME).write_text('{"stages": {}}')
    with pytest.raises(ValueError, match=f"{folder / MODEL_INDEX_NAME}: malformed"):
        AudioGenPipeline.from_pretrained(folder)

    from audiogen import hub

    monkeypatch.setattr(hub, "DEFAULT_PIPELINE", tmp_path / "no-default")
    with pytest.raises(FileNotFoundError, match="bundled default model is not installed.*--checkpoint"):
        load_pretrained(device="cpu")


def test_lazy_top_level_exports():
    import audiogen

    assert audiogen.AudioGenPipeline is AudioGenPipeline and audiogen.load_pretrained is load_pretrained
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        audiogen.nope  # noqa: B018


# ------------------------------------------------------------------------------------------------
# generation


@pytest.mark.parametrize("seconds", [0.01, 0.25, 0.5, 1.0, 1.2345, 2.71828])
def test_exact_length_in_samples(pipe, seconds):
    result = pipe(seconds, num=1, seed=0, steps=2, progress=False)
    expected = round(seconds * MEL.sample_rate)
    assert result.waveforms.shape == (1, 1, expected) and result.num_samples == expected
    assert result.latents.shape[-1] % pipe.length_multiple == 0
    assert result.latents.shape[-1] * pipe.samples_per_latent_frame >= expected  # the decoding covers it
    assert result.mels.shape[1] == MEL.n_mels and torch.isfinite(result.waveforms).all()
    t = result.timings
    assert t.total >= t.denoise + t.decode + t.vocode - 1e-6 and min(t.denoise, t.decode, t.vocode) > 0


def test_seeds_reproduce_differ_and_do_not_depend_on_the_batch(pipe):
    kwargs = dict(steps=3, style="piano", progress=False)
    a = pipe(0.5, num=1, seed=7, **kwargs)
    b = pipe(0.5, num=1, seed=7, **kwargs)
    c = pipe(0.5, num=1, seed=8, **kwargs)
    assert torch.equal(a.waveforms, b.waveforms)
    scale = a.waveforms.abs().max()
    assert scale > 0 and (a.waveforms - c.waveforms).abs().max() > 0.1 * scale

    batch = pipe(0.5, num=3, seed=6, **kwargs)  # items have seeds 6, 7, 8
    assert batch.seeds == [6, 7, 8]
    torch.testing.assert_close(batch.waveforms[1], a.waveforms[0], rtol=0, atol=1e-5 * float(scale))
    torch.testing.assert_close(batch.waveforms[2], c.waveforms[0], rtol=0, atol=1e-5 * float(scale))
    torch.testing.assert_close(batch.latents[1], a.latents[0], rtol=0, atol=1e-5)


def test_styles_and_samplers(pipe):
    with pytest.raises(ValueError, match="unknown style 'banjo'; known styles: piano, flute"):
        pipe(0.3, style="banjo", progress=False)
    with pytest.raises(ValueError, match="unconditional"):
        make_tiny_pipeline(styles=None)(0.3, style="piano", progress=False)
    piano = pipe(0.3, seed=1, steps=2, style="piano", progress=False).waveforms
    flute = pipe(0.3, seed=1, steps=2, style="flute", progress=False).waveforms
    assert (piano - flute).abs().max() > 0  # the label changes the result
    for sampler in ("ddim", "euler"):
        out = pipe(0.3, seed=1, steps=2, sampler=sampler, progress=False).waveforms
        assert out.shape == (1, 1, 4800) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="unknown sampler"):
        pipe(0.3, sampler="plms", progress=False)
    for bad in (dict(seconds=0), dict(seconds=-1.0), dict(seconds=float("nan")), dict(seconds=1, num=0)):
        with pytest.raises(ValueError):
            pipe(progress=False, **bad)


def test_variation_keeps_the_length_and_strength_zero_is_the_reconstruction(pipe):
    from audiogen.audio.features import LogMelSpectrogram

    t = torch.arange(int(0.7 * 22050)) / 22050
    stereo = torch.stack([0.3 * torch.sin(2 * math.pi * 220 * t), 0.2 * torch.sin(2 * math.pi * 330 * t)])
    out = pipe.variation(stereo, 22050, strength=0.6, seed=1, steps=4, style="piano", progress=False)
    assert out.waveforms.shape == (1, 1, math.ceil(stereo.shape[-1] * 16000 / 22050))

    mono = 0.3 * torch.sin(2 * math.pi * 440 * torch.arange(8000) / 16000)
    zero = pipe.variation(mono, 16000, strength=0.0, steps=4, progress=False)
    assert zero.waveforms.shape == (1, 1, 8000)
    with torch.no_grad():
        mel = LogMelSpectrogram(MEL)(mono[None]).mel
        rec = pipe.vocoder(pipe.autoencoder.decode(pipe.autoencoder.encode(mel), frames=mel.shape[-1]))
    torch.testing.assert_close(zero.waveforms, rec[..., :8000])
    half = pipe.variation(mono, 16000, strength=0.5, steps=4, progress=False)
    assert (half.waveforms - zero.waveforms).abs().max() > 0
    with pytest.raises(ValueError, match="strength"):
        pipe.variation(mono, 16000, strength=1.5, progress=False)


# ------------------------------------------------------------------------------------------------
# helpers


def test_loop_samples_is_exact():
    assert loop_samples(2, 120, 16000) == 64000  # 4 s
    assert loop_samples(3, 97, 16000) == round(3 * 4 * 60 / 97 * 16000) == 118763
    assert loop_samples(1, 133, 22050, beats_per_bar=3) == round(3 * 60 / 133 * 22050)
    assert loop_samples(4, 90, 44100, beats_per_bar=7) == 823200
    with pytest.raises(ValueError):
        loop_samples(0, 120, 16000)


@pytest.mark.parametrize("period, target", [(4096, 4000), (4096, 4200), (3000, 3001), (1024, 1024)])
def test_periodic_resample_keeps_whole_cycles(period, target):
    n = torch.arange(period)
    cycles = torch.tensor([3.0, 17.0, 100.0])
    x = (torch.sin(2 * math.pi * cycles[:, None] * n / period) * torch.tensor([[0.5], [0.3], [0.2]])).sum(0)
    y = periodic_resample(x[None, None], target)[0, 0]
    m = torch.arange(target)
    expected = (
        torch.sin(2 * math.pi * cycles[:, None] * m / target) * torch.tensor([[0.5], [0.3], [0.2]])
    ).sum(0)
    assert y.shape == (target,)
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-4)
