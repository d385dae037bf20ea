"""VocosVocoder: shape / length contract, errors, gradients, a short overfit, and save/load."""

import json
import math

import pytest
import torch

from audiogen.config import MelConfig
from audiogen.models.discriminators import VocoderLoss
from audiogen.models.vocoder import Vocoder, VocoderConfig, VocosVocoder


def tiny_config(mel: MelConfig | None = None, **kwargs) -> VocoderConfig:
    """A small vocoder (fast on CPU) on the project's default front end unless told otherwise."""
    fields = {"dim": 32, "intermediate_dim": 64, "num_layers": 2}
    fields.update(kwargs)
    return VocoderConfig(mel=mel or MelConfig(), **fields)


def harmonic_clip(samples: int, sample_rate: int, f0: float = 220.0) -> torch.Tensor:
    """A decaying harmonic tone ``(samples,)`` with peak amplitude below 1."""
    t = torch.arange(samples) / sample_rate
    tone = sum(0.3 / h * torch.sin(2 * math.pi * f0 * h * t) for h in range(1, 6))
    return tone * torch.exp(-3 * t)


def test_output_length_is_frames_times_hop_for_random_frame_counts():
    mel_cfg = MelConfig(n_mels=40, hop_length=128, n_fft=512)
    model = VocosVocoder(tiny_config(mel_cfg)).eval()
    gen = torch.Generator().manual_seed(1)
    counts = [1, 2, 3] + torch.randint(4, 300, (5,), generator=gen).tolist()
    for frames in counts:
        batch = int(torch.randint(1, 4, (1,), generator=gen))
        mel = torch.randn(batch, 40, frames, generator=gen) * 2 - 5
        with torch.inference_mode():
            out = model(mel)
        assert out.shape == (batch, 1, frames * 128), frames
        assert out.dtype == torch.float32
        assert torch.isfinite(out).all()
        assert model.num_samples(frames) == frames * 128


def test_batch_items_are_independent():
    model = VocosVocoder(tiny_config()).eval()
    mel = torch.randn(3, 80, 17)
    with torch.inference_mode():
        together = model(mel)
        alone = torch.cat([model(mel[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-6)


def test_default_config_follows_the_front_end():
    model = VocosVocoder()
    cfg = model.config
    assert (model.n_mels, model.hop_length, model.sample_rate) == (80, 256, 22050)
    assert cfg.n_fft == cfg.mel.n_fft == 1024
    assert (cfg.dim, cfg.intermediate_dim, cfg.num_layers) == (256, 768, 8)
    assert VocoderConfig(mel=MelConfig(n_fft=2048, hop_length=300), head_n_fft=1200).n_fft == 1200


def test_autocast_bfloat16_keeps_the_head_in_float32():
    model = VocosVocoder(tiny_config()).eval()
    mel = torch.randn(1, 80, 20) - 4
    with torch.inference_mode():
        reference = model(mel)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(mel)
    assert out.dtype == torch.float32 and out.shape == reference.shape
    # bfloat16 backbone: about 3 significant digits
    assert (out - reference).norm() < 0.05 * reference.norm()


def test_bad_input_raises_clear_errors():
    model = VocosVocoder(tiny_config())
    with pytest.raises(ValueError, match="n_mels=80"):
        model(torch.randn(1, 64, 10))
    with pytest.raises(ValueError, match=r"\(batch, n_mels, frames\)"):
        model(torch.randn(80, 10))
    with pytest.raises(ValueError, match="no frames"):
        model(torch.randn(1, 80, 0))
    with pytest.raises(ValueError, match="floating point"):
        model(torch.zeros(1, 80, 5, dtype=torch.long))


def test_bad_config_raises():
    with pytest.raises(ValueError, match="head_n_fft"):
        VocoderConfig(mel=MelConfig(n_fft=512, hop_length=256))  # n_fft < 4 * hop
    with pytest.raises(ValueError, match="kernel_size"):
        VocoderConfig(kernel_size=4)
    with pytest.raises(ValueError, match="dim"):
        VocoderConfig(dim=0)


def test_every_parameter_gets_a_finite_gradient():
    model = VocosVocoder(tiny_config())
    out = model(torch.randn(2, 80, 12) - 4)
    (out.square().mean() + out.abs().mean()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_tiny_vocoder_overfits_one_clip_with_mel_and_mrstft_losses():
    mel_cfg = MelConfig()
    k = 16  # frames; the segment is k * hop samples, the mel its first k frames
    target = harmonic_clip(k * mel_cfg.hop_length, mel_cfg.sample_rate).view(1, 1, -1)
    losses = VocoderLoss(mel_cfg)
    mel = losses.mel_l1.log_mel(target)[..., :k]
    model = VocosVocoder(tiny_config(mel_cfg, dim=64, intermediate_dim=128))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    history = []
    for _ in range(25):
        named = losses.reconstruction_losses(model(mel), target)
        total = named["mel_l1"] + named["mrstft"]
        opt.zero_grad()
        total.backward()
        opt.step()
        history.append({name: value.item() for name, value in named.items()})
    first, last = history[0], history[-1]
    assert last["mel_l1"] < 0.8 * first["mel_l1"], history
    assert last["mrstft"] < 0.85 * first["mrstft"], history


def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    mel_cfg = MelConfig(sample_rate=16000, n_mels=48, hop_length=160, n_fft=640, f_max=7600.0)
    model = VocosVocoder(tiny_config(mel_cfg, num_layers=3)).eval()
    with torch.no_grad():  # make weights non-default so a skipped load would show
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model.save_pretrained(tmp_path / "voc")
    meta = json.loads((tmp_path / "voc" / "config.json").read_text())
    assert meta["class"] == "VocosVocoder"
    assert meta["config"]["mel"]["n_mels"] == 48

    mel = torch.randn(2, 48, 31) - 4
    with torch.inference_mode():
        expected = model(mel)
        for loaded in (
            VocosVocoder.from_pretrained(tmp_path / "voc"),
            Vocoder.from_pretrained(tmp_path / "voc"),
        ):
            assert type(loaded) is VocosVocoder
            assert loaded.config == model.config
            assert not loaded.training
            assert torch.equal(loaded(mel), expected)


def test_float16_parameters_halve_the_file_and_load_as_float32(tmp_path):
    from safetensors.torch import load_file

    model = VocosVocoder(tiny_config(num_layers=2)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model.save_pretrained(tmp_path / "fp32")
    model.save_pretrained(tmp_path / "fp16", parameter_dtype=torch.float16)
    stored = load_file(tmp_path / "fp16" / "model.safetensors")
    params = {n for n, _ in model.named_parameters()}
    assert all(stored[n].dtype == torch.float16 for n in params)
    assert all(
        v.dtype == model.state_dict()[k].dtype for k, v in stored.items() if k not in params
    )  # buffers
    size = {d: (tmp_path / d / "model.safetensors").stat().st_size for d in ("fp32", "fp16")}
    assert size["fp16"] < 0.6 * size["fp32"]

    loaded = Vocoder.from_pretrained(tmp_path / "fp16")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    for name, p in loaded.named_parameters():
        torch.testing.assert_close(p, model.get_parameter(name).half().float())
    mel = torch.randn(1, model.config.mel.n_mels, 20) - 4
    with torch.inference_mode():
        a, b = model(mel), loaded(mel)
    assert (a - b).abs().max() <= 0.01 * a.abs().max()


def test_from_pretrained_rejects_missing_or_foreign_folders(tmp_path):
    with pytest.raises(FileNotFoundError):
        Vocoder.from_pretrained(tmp_path / "nothing")
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"class": "MelVAE", "config": {}}))
    with pytest.raises(ValueError, match="not a vocoder"):
        Vocoder.from_pretrained(folder)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    model = VocosVocoder(tiny_config()).eval()
    mel = torch.randn(2, 80, 33) - 4
    with torch.inference_mode():
        cpu = model(mel)
        gpu = model.cuda()(mel.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-3, atol=1e-4)


def test_state_dict_names_are_the_saved_layout():
    """The trunk is a mixin, so bundled model folders keep loading: embed, norm, blocks, final_norm, head."""
    names = set(VocosVocoder(tiny_config(num_layers=1)).state_dict())
    assert names == {
        "embed.weight",
        "embed.bias",
        "norm.weight",
        "norm.bias",
        *(f"blocks.0.{p}" for p in ("dwconv.weight", "dwconv.bias", "norm.weight", "norm.bias", "gamma")),
        *(f"blocks.0.pwconv{i}.{p}" for i in (1, 2) for p in ("weight", "bias")),
        "final_norm.weight",
        "final_norm.bias",
        "head.out.weight",
        "head.out.bias",
    }
