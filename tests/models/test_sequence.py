"""The latent sequence model: causality, KV-cache decoding, styles, saving (tiny random models)."""

import pytest
import torch

from audiogen import hub
from audiogen.models.sequence import LatentSequenceModel, SequenceConfig

CONFIG = SequenceConfig(
    latent_dim=4,
    frames_per_step=2,
    dim=32,
    layers=2,
    heads=2,
    context_frames=12,
    num_classes=2,
    class_labels=("piano", "flute"),
    head_width=16,
    head_layers=1,
    head_steps=2,
)


def make_model(config: SequenceConfig = CONFIG, seed: int = 0) -> LatentSequenceModel:
    """A random model whose zero-initialised parts are randomised too (so every path matters)."""
    torch.manual_seed(seed)
    model = LatentSequenceModel(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    return model


def test_a_change_at_frame_t_changes_no_output_before_t():
    model = make_model()
    latent = torch.randn(2, 4, 40)
    style = torch.tensor([0, 1])
    t = 18  # latent frame 18 is in token 9, which is read by outputs 10 and later
    changed = latent.clone()
    changed[..., t] += 1.0
    a, b = model.hidden(latent, style, 0.1), model.hidden(changed, style, 0.1)
    token = t // CONFIG.frames_per_step
    assert torch.equal(a[:, : token + 1], b[:, : token + 1])
    assert (a[:, token + 1] - b[:, token + 1]).abs().max() > 1e-3  # and it is read right after
    # the window (the start token + 5 recent ones) reaches back 4 tokens per layer: later outputs
    # no longer see the change
    far = token + 2 + CONFIG.layers * (CONFIG.context_tokens - 2)
    assert not torch.allclose(a[:, far - 1], b[:, far - 1], atol=1e-5)
    assert torch.allclose(a[:, far:], b[:, far:], atol=1e-5)


def test_kv_cache_decoding_equals_full_sequence_decoding():
    model = make_model()
    latent = torch.randn(2, 4, 40)  # 20 tokens: the sliding window moves 14 times
    style = torch.tensor([1, 0])
    full = model.hidden(latent, style, 0.2)
    state = model.begin(2, style)
    steps = [state.hidden]
    tokens = model.tokens(latent)
    for i in range(tokens.shape[1] - 1):
        model.feed(state, tokens[:, i], style, 0.2)
        steps.append(state.hidden)
        assert state.caches[0][0].shape[2] <= CONFIG.context_tokens  # bounded cache
    torch.testing.assert_close(torch.stack(steps, dim=1), full, atol=1e-5, rtol=1e-4)


def test_style_weights_mix_the_label_embeddings():
    model = make_model()
    one_hot = torch.tensor([[0.0, 1.0, 0.0]])
    assert torch.allclose(model.style_vector(one_hot, 1), model.style_vector(torch.tensor([1]), 1))
    half = model.style_vector(torch.tensor([[0.5, 0.5, 0.0]]), 1)
    mean = 0.5 * (model.style_vector(torch.tensor([0]), 1) + model.style_vector(torch.tensor([1]), 1))
    assert torch.allclose(half, mean)
    assert torch.equal(model.style_vector(None, 1), model.style_vector(torch.tensor([-1]), 1))
    with pytest.raises(ValueError, match="out of range"):
        model.style_vector(torch.tensor([3]), 1)


def test_training_loss_falls_and_sampling_is_guided():
    torch.manual_seed(0)
    model = LatentSequenceModel(CONFIG)
    latent = torch.sin(torch.arange(24.0) / 3)[None, None].expand(4, 4, 24).contiguous()
    style = torch.tensor([0, 1, 0, 1])
    optimizer = torch.optim.Adam(model.parameters(), 3e-3)
    losses = []
    for _ in range(30):
        loss = model(latent, style, style)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) < 0.5 * sum(losses[:5])
    model.eval()
    state = model.begin(1, torch.tensor([0]))
    noise = torch.randn(1, CONFIG.token_dim)
    plain = model.sample_token(state, noise, torch.tensor([0]))
    guided = model.sample_token(state, noise, torch.tensor([0]), cfg_scale=3.0)
    assert plain.shape == (1, CONFIG.token_dim) and not torch.allclose(plain, guided)


def test_self_forcing_replaces_context_tokens_by_the_models_own_predictions():
    import dataclasses

    from einops import rearrange

    latent = torch.randn(2, 4, 20)
    style = torch.tensor([0, 1])
    model = make_model(dataclasses.replace(CONFIG, self_forcing=1.0, self_forcing_steps=3))
    torch.manual_seed(5)
    forced = model.self_forced(latent, style, style)
    # every token is the head's sample from the backbone's output over the true tokens before it
    hidden = model.hidden(latent, style)
    cond = model._head_cond(hidden, model.style_vector(style, 2)[:, None].expand_as(hidden))
    cond = rearrange(cond, "b n d -> (b n) d")
    torch.manual_seed(5)
    noise = torch.randn(cond.shape[0], CONFIG.token_dim)
    expected = model.frames(rearrange(model.head.sample(cond, 3, noise), "(b n) t -> b n t", b=2))
    torch.testing.assert_close(forced, expected)
    # with probability 0 nothing changes; at 0.5 some tokens are replaced and the others kept
    model.config = dataclasses.replace(model.config, self_forcing=0.0)
    assert torch.equal(model.self_forced(latent, style, style), latent)
    model.config = dataclasses.replace(model.config, self_forcing=0.5)
    same = (model.tokens(model.self_forced(latent, style, style)) == model.tokens(latent)).all(-1)
    assert same.any() and not same.all()
    # validation (eval mode) reads the true tokens
    model.self_forced = None  # would fail if called
    model.eval()
    assert torch.isfinite(model(latent, style, style))
    del model.self_forced
    # training with it: the loss is finite and every trained parameter gets a gradient
    model.train()
    loss = model(latent, style, style)
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.parameters() if p.requires_grad)
    with pytest.raises(ValueError, match="self_forcing must be in"):
        SequenceConfig(self_forcing=1.5)


def test_saved_model_loads_through_the_hub(tmp_path):
    model = make_model()
    model.save_pretrained(tmp_path / "sequence")
    loaded = hub.load_model(tmp_path, "sequence")  # a pipeline-like folder with sequence/
    assert isinstance(loaded, LatentSequenceModel) and loaded.config == CONFIG
    latent = torch.randn(1, 4, 10)
    assert torch.equal(loaded.hidden(latent), model.hidden(latent))


def test_config_errors():
    with pytest.raises(ValueError, match="multiple of frames_per_step"):
        SequenceConfig(frames_per_step=2, context_frames=15)
    with pytest.raises(ValueError, match="heads"):
        SequenceConfig(dim=30, heads=4)
    with pytest.raises(ValueError, match="latent_frames a multiple"):
        make_model().tokens(torch.randn(1, 4, 7))
