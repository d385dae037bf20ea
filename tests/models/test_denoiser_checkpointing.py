"""Gradient checkpointing of the latent denoiser: same outputs and gradients, only in training mode."""

import pytest
import torch

from audiogen.models.denoiser import DiffusionConfig, LatentDenoiser


def _denoiser() -> LatentDenoiser:
    torch.manual_seed(0)
    model = LatentDenoiser(
        DiffusionConfig(
            latent_dim=4, channels=16, channel_mults=(1, 2), blocks_per_level=1, kernel_size=5,
            attention_layers=1, attention_heads=2, num_classes=2,
        )
    )  # fmt: skip
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.1)  # the zero-initialised output layer would give zero gradients upstream
    return model


@pytest.mark.parametrize("frames", [8, 13])
def test_checkpointed_forward_and_backward_match(frames):
    x = torch.randn(3, 4, frames)
    t = torch.tensor([1, 400, 999])
    labels = torch.tensor([0, 1, 2])
    results = []
    for checkpointing in (False, True):
        model = _denoiser().train()
        model.enable_gradient_checkpointing(checkpointing)
        out = model(x, t, labels)
        out.square().mean().backward()
        results.append((out.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    (out_a, grads_a), (out_b, grads_b) = results
    torch.testing.assert_close(out_a, out_b)
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], msg=name)


def test_checkpointing_is_used_only_when_training_with_gradients(monkeypatch):
    import torch.utils.checkpoint as ckpt

    calls = []
    real = ckpt.checkpoint
    monkeypatch.setattr(ckpt, "checkpoint", lambda *a, **k: calls.append(1) or real(*a, **k))
    model = _denoiser()
    model.enable_gradient_checkpointing()
    x, t = torch.randn(1, 4, 8), torch.tensor([10])
    model.eval()(x, t)
    with torch.no_grad():
        model.train()(x, t)
    assert calls == []
    model.train()(x, t)
    assert len(calls) > 0
