"""Shape contracts, scaling helpers and save/load of the mel VAE."""

import json
import math

import pytest
import torch

from audiogen.config import MelConfig
from audiogen.models.autoencoder import AutoencoderConfig, DiagonalGaussian, MelVAE, deepen_decoder_state


def tiny_config(**kw) -> AutoencoderConfig:
    base = dict(mel=MelConfig(n_mels=24), latent_dim=3, channels=16, blocks_per_stage=1)
    return AutoencoderConfig(**{**base, **kw})


@pytest.mark.parametrize("decoder", [{}, {"decoder_channels": 20, "decoder_blocks_per_stage": 2}])
@pytest.mark.parametrize("time_downsample", [1, 4, 6])
@pytest.mark.parametrize("frames", [1, 3, 17, 40, 101])
def test_shapes_on_any_length(frames, time_downsample, decoder):
    model = MelVAE(tiny_config(time_downsample=time_downsample, **decoder)).eval()
    mel = torch.randn(2, 24, frames) - 5.0
    latent_frames = math.ceil(frames / time_downsample)
    assert model.latent_frames(frames) == latent_frames

    post = model.posterior(mel)
    assert post.mean.shape == post.logvar.shape == (2, 3, latent_frames)
    assert post.kl().shape == (2,)
    out = model(mel)
    assert out.reconstruction.shape == mel.shape
    assert out.latent.shape == (2, 3, latent_frames)

    z = model.encode(mel)
    assert z.shape == (2, 3, latent_frames)
    assert model.decode(z).shape == (2, 24, latent_frames * time_downsample)
    assert model.decode(z, frames=frames).shape == mel.shape


def test_batch_items_are_independent_of_padding_to_the_downsample_multiple():
    """A clip's reconstruction does not depend on which other clips share the batch."""
    model = MelVAE(tiny_config()).eval()
    mel = torch.randn(3, 24, 21) - 5.0
    with torch.no_grad():
        together = model(mel, sample_posterior=False).reconstruction
        alone = model(mel[1:2], sample_posterior=False).reconstruction
    torch.testing.assert_close(together[1:2], alone, rtol=1e-5, atol=1e-5)


def test_encode_decode_apply_the_latent_scale():
    model = MelVAE(tiny_config()).eval()
    mel = torch.randn(2, 24, 16) - 5.0
    with torch.no_grad():
        raw = model.posterior(mel).mean
        model.set_latent_scale(0.25)
        scaled = model.encode(mel)
        torch.testing.assert_close(scaled, raw * 0.25)
        torch.testing.assert_close(model.decode(scaled), model.decode_raw(raw))
    assert model.config.latent_scale == 0.25
    with pytest.raises(ValueError, match="finite and positive"):
        model.set_latent_scale(float("nan"))


def test_sampling_uses_the_posterior_spread():
    model = MelVAE(tiny_config()).eval()
    mel = torch.randn(1, 24, 16) - 5.0
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    a, b = model.encode(mel, sample=True, generator=g1), model.encode(mel, sample=True, generator=g2)
    torch.testing.assert_close(a, b)  # same generator seed, same sample
    assert not torch.equal(a, model.encode(mel))  # differs from the mean


def test_kl_is_zero_for_the_prior_and_positive_otherwise():
    zeros = torch.zeros(2, 3, 5)
    assert torch.allclose(DiagonalGaussian(zeros, zeros).kl(), torch.zeros(2))
    shifted = DiagonalGaussian(zeros + 1.0, zeros)  # mean 1, var 1: KL = 0.5 per element
    torch.testing.assert_close(shifted.kl(), torch.full((2,), 0.5))


def test_rejects_wrong_input_shapes():
    model = MelVAE(tiny_config())
    with pytest.raises(ValueError, match="n_mels=24"):
        model(torch.randn(1, 23, 10))
    with pytest.raises(ValueError, match="latent_dim=3"):
        model.decode(torch.randn(1, 4, 10))
    with pytest.raises(ValueError, match="frames=50"):
        model.decode(torch.randn(1, 3, 10), frames=50)
    with pytest.raises(ValueError, match="latent_dim"):
        AutoencoderConfig(latent_dim=0)


def test_save_and_load_round_trip(tmp_path):
    model = MelVAE(tiny_config(time_downsample=2, decoder_channels=20))
    model.set_latent_scale(0.5)
    model.save_pretrained(tmp_path / "vae")
    meta = json.loads((tmp_path / "vae" / "config.json").read_text())
    assert meta["class"] == "MelVAE"
    assert meta["config"]["latent_scale"] == 0.5 and meta["config"]["mel"]["n_mels"] == 24

    loaded = MelVAE.from_pretrained(tmp_path / "vae")
    assert loaded.config == model.config
    mel = torch.randn(1, 24, 9) - 5.0
    torch.testing.assert_close(loaded.encode(mel), model.eval().encode(mel))
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key])


def test_decoder_width_and_depth_are_its_own():
    model = MelVAE(tiny_config(time_downsample=2, decoder_channels=20, decoder_blocks_per_stage=3))
    assert model.encoder[0].out_channels == 16 and model.decoder[0].out_channels == 20
    blocks = [m for m in model.decoder if type(m).__name__ == "ConvNeXtBlock1d"]
    assert len(blocks) == 3 * 2  # after the input conv and after the one upsampling stage
    loaded_cfg = json.loads(json.dumps(model.config.__dict__, default=lambda o: o.__dict__))
    assert loaded_cfg["decoder_channels"] == 20
    with pytest.raises(ValueError, match="decoder_channels"):
        tiny_config(decoder_channels=0)
    with pytest.raises(ValueError, match="decoder_blocks_per_stage"):
        tiny_config(decoder_blocks_per_stage=-1)


@pytest.mark.parametrize("time_downsample", [1, 4, 6])
def test_a_deepened_decoder_decodes_exactly_as_the_saved_one(time_downsample):
    torch.manual_seed(0)
    saved = MelVAE(tiny_config(time_downsample=time_downsample, decoder_blocks_per_stage=2))
    with torch.no_grad():  # trained-looking layer scales, so that a misplaced block would show
        for name, p in saved.named_parameters():
            if name.endswith("gamma"):
                p.uniform_(0.5, 1.5)
    deeper = MelVAE(tiny_config(time_downsample=time_downsample, decoder_blocks_per_stage=4))
    deeper.load_state_dict(deepen_decoder_state(saved.state_dict(), 2, deeper))
    saved.eval(), deeper.eval()
    for latent_frames in (1, 5, 23):
        z = torch.randn(2, 3, latent_frames)
        assert torch.equal(deeper.decode(z), saved.decode(z))
    mel = torch.randn(1, 24, 19) - 5.0
    assert torch.equal(deeper.encode(mel), saved.encode(mel))
    stages = {1: 1, 4: 3, 6: 3}[time_downsample]  # 1 + the prime factors of time_downsample
    blocks = [m for m in deeper.decoder if type(m).__name__ == "ConvNeXtBlock1d"]
    assert len(blocks) == 4 * stages
    assert sum(int(not b.gamma.any()) for b in blocks) == 2 * stages  # two identity blocks per stage
    saved_blocks = [m for m in saved.decoder if type(m).__name__ == "ConvNeXtBlock1d"]
    for s in range(stages):  # the new blocks copy their stage's last trained block
        last = saved_blocks[2 * s + 1]
        for new in blocks[4 * s + 2 : 4 * s + 4]:
            assert torch.equal(new.pwconv2.weight, last.pwconv2.weight)
            assert torch.equal(new.dwconv.weight, last.dwconv.weight)
    with torch.no_grad():  # the new blocks are wired in: moving one changes the output
        next(b for b in blocks if not b.gamma.any()).gamma.fill_(1.0)
    assert not torch.equal(deeper.decode(z), saved.decode(z))
    with pytest.raises(ValueError, match="can only grow"):
        deepen_decoder_state(saved.state_dict(), 4, deeper)


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        MelVAE.from_pretrained(tmp_path)
    MelVAE(tiny_config()).save_pretrained(tmp_path / "a")
    weights = tmp_path / "a" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    with pytest.raises(ValueError, match="cannot read weights"):
        MelVAE.from_pretrained(tmp_path / "a")
    MelVAE(tiny_config()).save_pretrained(tmp_path / "b")
    meta = json.loads((tmp_path / "b" / "config.json").read_text())
    meta["config"]["channels"] = 32
    (tmp_path / "b" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="do not match"):
        MelVAE.from_pretrained(tmp_path / "b")


#: the latent shapes of the model-v2 sweep (latent_dim, time_downsample), recipes/autoencoder_v2.yaml
SWEEP_SHAPES = [(64, 4), (64, 2), (80, 2)]


@pytest.mark.parametrize(("latent_dim", "time_downsample"), SWEEP_SHAPES)
def test_sweep_shapes_build_encode_and_decode_random_lengths(latent_dim, time_downsample):
    from pathlib import Path

    from audiogen.config import load_recipe

    recipe = load_recipe(
        Path(__file__).resolve().parents[2] / "recipes" / "autoencoder_v2.yaml",
        [f"model.latent_dim={latent_dim}", f"model.time_downsample={time_downsample}"],
    )
    model = MelVAE(AutoencoderConfig(mel=recipe["mel"], **recipe["model"])).eval()
    seed = torch.Generator().manual_seed(latent_dim + time_downsample)
    lengths = torch.randint(1, 200, (3,), generator=seed)
    for frames in lengths.tolist():
        mel = torch.randn(1, 80, frames) - 5.0
        with torch.no_grad():
            z = model.encode(mel)
            assert z.shape == (1, latent_dim, math.ceil(frames / time_downsample))
            assert model.decode(z, frames=frames).shape == mel.shape
