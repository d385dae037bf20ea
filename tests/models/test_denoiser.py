"""The latent denoiser network: shapes, conditioning, circular equivariance, save / load.

The samplers that run it are tested in tests/pipelines/test_denoise.py.
"""

import dataclasses
import random

import pytest
import torch

from audiogen.models.denoiser import DiffusionConfig, LatentDenoiser
from audiogen.models.layers import pad_time, timestep_embedding

TINY = DiffusionConfig(
    latent_dim=4,
    channels=16,
    channel_mults=(1, 2, 2),
    blocks_per_level=1,
    kernel_size=5,
    attention_layers=1,
    attention_heads=2,
    num_classes=3,
)


def _randomised(config: DiffusionConfig = TINY, seed: int = 0) -> LatentDenoiser:
    """A denoiser with random weights everywhere (the zero-initialised gates would hide everything)."""
    torch.manual_seed(seed)
    model = LatentDenoiser(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    return model


def test_initial_prediction_is_zero_and_shapes_hold_for_random_lengths():
    model = LatentDenoiser(TINY)
    x = torch.randn(2, 4, 37)
    assert torch.equal(model(x, torch.tensor([1, 999])), torch.zeros_like(x))  # adaLN-Zero + zero output conv
    rng = random.Random(0)
    model = _randomised()
    lengths = [1, 2, 3, 4, 5] + [rng.randint(6, 90) for _ in range(5)]
    with torch.no_grad():
        for frames in lengths:
            batch = rng.randint(1, 3)
            x = torch.randn(batch, 4, frames)
            out = model(x, torch.randint(0, 1000, (batch,)), torch.randint(-1, 4, (batch,)))
            assert out.shape == x.shape, frames
            assert torch.isfinite(out).all()
            if frames % model.length_multiple == 0:
                assert model(x, 500.0, circular=True).shape == x.shape
    assert model.length_multiple == 4


def test_bad_inputs_raise():
    model = _randomised()
    with pytest.raises(ValueError, match="latent_dim=4"):
        model(torch.randn(1, 5, 8), 10)
    with pytest.raises(ValueError, match="multiple of 4"):
        model(torch.randn(1, 4, 10), 10, circular=True)
    with pytest.raises(ValueError, match="out of range"):
        model(torch.randn(1, 4, 8), 10, torch.tensor([4]))
    unconditional = LatentDenoiser(dataclasses.replace(TINY, num_classes=0))
    with pytest.raises(ValueError, match="unconditional"):
        unconditional(torch.randn(1, 4, 8), 10, torch.tensor([0]))
    with pytest.raises(ValueError, match="prediction_type"):
        DiffusionConfig(prediction_type="sample")
    with pytest.raises(ValueError, match="class_labels"):
        DiffusionConfig(num_classes=2, class_labels=("a",))


def test_conditioning_changes_the_output():
    model = _randomised()
    x = torch.randn(3, 4, 24)
    with torch.no_grad():
        base = model(x, torch.tensor([100, 100, 100]), torch.tensor([0, 0, 0]))
        other_label = model(x, torch.tensor([100, 100, 100]), torch.tensor([1, 2, 3]))
        other_time = model(x, torch.tensor([700, 700, 700]), torch.tensor([0, 0, 0]))
        null = model(x, 100, None)
        explicit_null = model(x, 100, torch.tensor([-1, 3, -1]))
    assert (base - other_label).abs().amax(dim=(1, 2)).min() > 1e-3  # every example changed
    assert (base - other_time).abs().max() > 1e-3
    torch.testing.assert_close(null, explicit_null)  # None, -1 and num_classes are all "no label"


@pytest.mark.parametrize("shift", [4, 8, 28])
def test_circular_mode_is_shift_equivariant(shift):
    model = _randomised()
    x = torch.randn(2, 4, 32)
    t, labels = torch.tensor([5, 800]), torch.tensor([1, 2])
    with torch.no_grad():
        rolled_then = model(torch.roll(x, shift, dims=-1), t, labels, circular=True)
        then_rolled = torch.roll(model(x, t, labels, circular=True), shift, dims=-1)
        plain_rolled_then = model(torch.roll(x, shift, dims=-1), t, labels)
        plain_then_rolled = torch.roll(model(x, t, labels), shift, dims=-1)
    torch.testing.assert_close(rolled_then, then_rolled, atol=2e-5, rtol=1e-4)
    # zero padding sees the clip's ends: the same check fails without wrap-around
    assert (plain_rolled_then - plain_then_rolled).abs().max() > 1e-2


def test_circular_context_wraps_around_and_any_shift_without_downsampling():
    flat = _randomised(dataclasses.replace(TINY, channel_mults=(1,), attention_layers=0))
    assert flat.length_multiple == 1
    x = torch.randn(1, 4, 13)  # any length, any shift when time is never halved
    with torch.no_grad():
        a = flat(torch.roll(x, 5, dims=-1), 300, circular=True)
        b = torch.roll(flat(x, 300, circular=True), 5, dims=-1)
    torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4)
    # the first output frame depends on the last input frame only in circular mode
    x = torch.randn(1, 4, 16, requires_grad=True)
    for circular, expect_dependency in ((True, True), (False, False)):
        out = flat(x, 300, circular=circular)
        (grad,) = torch.autograd.grad(out[..., 0].sum(), x)
        assert (grad[..., -1].abs().sum() > 0) == expect_dependency


def test_pad_time_wraps_more_than_the_clip_length():
    x = torch.arange(3.0).reshape(1, 1, 3)
    assert pad_time(x, 4, 5, circular=True).flatten().tolist() == [2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1]
    assert pad_time(x, 1, 1, circular=False).flatten().tolist() == [0, 0, 1, 2, 0]


def test_timestep_embedding_shape_and_fractional_steps():
    emb = timestep_embedding(torch.tensor([0.0, 10.0, 10.5]), 7)
    assert emb.shape == (3, 7)
    assert torch.equal(emb[0, :3], torch.ones(3)) and torch.all(emb[:, -1] == 0)
    assert not torch.allclose(emb[1], emb[2])


def test_save_and_load_round_trip(tmp_path):
    model = _randomised(dataclasses.replace(TINY, class_labels=("a", "b", "c")))
    model.save_pretrained(tmp_path / "denoiser")
    loaded = LatentDenoiser.from_pretrained(tmp_path / "denoiser")
    assert loaded.config == model.config and loaded.config.class_labels == ("a", "b", "c")
    x = torch.randn(2, 4, 20)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, 42, torch.tensor([0, 2])), model(x, 42, torch.tensor([0, 2])))


def test_flow_config_is_checked_and_round_trips_beside_the_weights(tmp_path):
    import json

    flow = dataclasses.replace(
        TINY, prediction_type="flow_prediction", flow_time_sampling="uniform", flow_logit_mean=0.5,
        flow_logit_std=0.8, flow_shift=3.0,
    )  # fmt: skip
    assert flow.is_flow and not TINY.is_flow and TINY.flow_time_sampling == "logit_normal"
    model = _randomised(flow)
    folder = model.save_pretrained(tmp_path / "denoiser")
    saved = json.loads((folder / "config.json").read_text())["config"]
    assert saved["prediction_type"] == "flow_prediction" and saved["flow_shift"] == 3.0
    loaded = LatentDenoiser.from_pretrained(folder)
    assert loaded.config == flow and loaded.config.flow_time_sampling == "uniform"
    x = torch.randn(2, 4, 20)
    with torch.no_grad():  # the network takes t * num_train_timesteps, fractional
        torch.testing.assert_close(
            loaded(x, 437.5, torch.tensor([0, 2])), model(x, 437.5, torch.tensor([0, 2]))
        )

    bad = [
        ({"flow_time_sampling": "normal"}, "flow_time_sampling"),
        ({"flow_logit_std": 0.0}, "flow_logit_std"),
        ({"flow_logit_mean": float("nan")}, "finite"),
        ({"flow_shift": -1.0}, "flow_shift"),
        ({"rescale_betas_zero_snr": True}, "pure noise at t = 1"),
    ]
    for fields, message in bad:
        with pytest.raises(ValueError, match=message):
            dataclasses.replace(flow, **fields)
    config = json.loads((folder / "config.json").read_text())
    config["config"]["prediction_type"] = "flow"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="prediction_type"):
        LatentDenoiser.from_pretrained(folder)


def test_a_denoiser_saved_in_the_legacy_block_layout_loads_with_from_pretrained(tmp_path):
    """Folders written before the ConvNeXt blocks became one class hold ``dwconv.conv.*`` and 1x1-conv
    pointwise weights ``(out, in, 1)``; ``from_pretrained`` renames and reshapes them."""
    from safetensors.torch import save_file

    from audiogen.models.layers import legacy_state

    model = _randomised(dataclasses.replace(TINY, class_labels=("a", "b", "c")))
    model.save_pretrained(tmp_path / "denoiser")
    old = {k: v.contiguous() for k, v in legacy_state(model).items()}
    assert any(k.endswith("dwconv.conv.weight") for k in old)
    save_file(old, tmp_path / "denoiser" / "model.safetensors")
    loaded = LatentDenoiser.from_pretrained(tmp_path / "denoiser")
    assert loaded.state_dict().keys() == model.state_dict().keys()
    x = torch.randn(2, 4, 20)
    with torch.no_grad():
        assert torch.equal(loaded(x, 42, torch.tensor([0, 2])), model(x, 42, torch.tensor([0, 2])))
