"""The stream's latent statistics guard: the per-style statistics in the model config, the guard's
mapping, and its use in streams (tiny random-weight stages)."""

import dataclasses

import pytest
import torch

from audiogen.models.sequence import SequenceConfig
from audiogen.pipelines.stream_latent import GUARD_SECONDS, StatsGuard, latent_stream, parse_schedule
from tests.models.test_sequence import CONFIG, make_model
from tests.pipelines.test_audiogen import make_tiny_pipeline
from tests.pipelines.test_stream import _take


def _stats(config: SequenceConfig, mean: float = 0.0, std: float = 1.0) -> SequenceConfig:
    rows, cols = config.num_classes + 1, config.latent_dim
    return dataclasses.replace(
        config, latents_mean=[[mean] * cols] * rows, latents_std=[[std] * cols] * rows
    )


def test_statistics_are_checked_and_mixed():
    with pytest.raises(ValueError, match="together"):
        dataclasses.replace(CONFIG, latents_mean=[[0.0] * 4] * 3)
    with pytest.raises(ValueError, match="3 rows of latent_dim = 4"):
        dataclasses.replace(CONFIG, latents_mean=[[0.0] * 4] * 2, latents_std=[[1.0] * 4] * 2)
    with pytest.raises(ValueError, match="positive"):
        dataclasses.replace(CONFIG, latents_mean=[[0.0] * 4] * 3, latents_std=[[0.0] * 4] * 3)
    with pytest.raises(ValueError, match="no latent statistics"):
        CONFIG.style_statistics(None)
    config = dataclasses.replace(
        CONFIG,
        latents_mean=[[0.0] * 4, [2.0] * 4, [1.0] * 4],
        latents_std=[[1.0] * 4, [1.0] * 4, [1.5] * 4],
    )
    assert isinstance(config.latents_mean, tuple) and isinstance(config.latents_mean[0], tuple)
    mean, std = config.style_statistics(None)  # the last row: all styles
    assert torch.equal(mean, torch.ones(4)) and torch.equal(std, torch.full((4,), 1.5))
    mean, std = config.style_statistics(torch.tensor([0.5, 0.5, 0.0]))  # a crossfade: the mixture
    torch.testing.assert_close(mean, torch.ones(4))
    torch.testing.assert_close(std, torch.full((4,), 2.0**0.5))  # E[x^2] = (1 + 5) / 2, minus 1


def test_guard_holds_the_running_statistics_at_the_styles():
    config = _stats(CONFIG)
    generator = torch.Generator().manual_seed(0)
    drifted = [3.0 + 0.6 * torch.randn(1, 4, 2, generator=generator) for _ in range(400)]
    off = StatsGuard(config, 0.0, seconds_per_token=1.0)
    assert all(torch.allclose(off(x, None), x, atol=1e-6) for x in drifted[:10])  # identity
    guard = StatsGuard(config, 1.0, seconds_per_token=1.0)
    out = torch.cat([guard(x, None) for x in drifted], dim=-1)[..., -200:]  # after 20 time constants
    assert abs(out.mean().item()) < 0.2 and 0.7 < out.std().item() < 1.3  # near the style's 0 / 1
    half = StatsGuard(config, 0.5, seconds_per_token=1.0)
    out = torch.cat([half(x, None) for x in drifted], dim=-1)[..., -200:]
    assert 1.0 < out.mean().item() < 2.0  # halfway: (1 - 0.5) * 3 + 0.5 * 0
    assert 0.65 < out.std().item() < 0.95  # 0.6 * (1 / 0.6) ** 0.5 = 0.77
    clamped = StatsGuard(config, 1.0, seconds_per_token=1.0)
    out = torch.cat([clamped(0.2 * x, None) for x in drifted], dim=-1)[..., -200:]
    assert 0.18 < out.std().item() < 0.3  # a std ratio of 8 is clamped to 2: 0.12 * 2
    assert GUARD_SECONDS > 0
    with pytest.raises(ValueError, match="stats_guard"):
        StatsGuard(config, 1.5, 1.0)
    with pytest.raises(ValueError, match="no latent statistics"):
        StatsGuard(CONFIG, 0.5, 1.0)


def test_stream_with_the_guard():
    from audiogen.errors import InputError

    pipe = make_tiny_pipeline()
    plain = make_model()
    measured = make_model(_stats(plain.config, mean=0.5, std=0.8))
    schedule = parse_schedule("piano", list(plain.config.class_labels), 4.0)

    def tokens(m, **kw):
        it = latent_stream(m, schedule, seed=3, **kw)
        return torch.cat([next(it) for _ in range(8)], dim=-1)

    torch.testing.assert_close(tokens(measured), tokens(plain))  # the default strength is 0: off
    guarded = tokens(measured, stats_guard=1.0)
    assert not torch.allclose(guarded, tokens(plain))
    torch.testing.assert_close(tokens(measured, stats_guard=1.0), guarded)  # deterministic
    guard = StatsGuard(measured.config, 1.0, 0.1)
    x = torch.randn(1, 4, 2)
    for w in (torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.5, 0.5, 0.0])):  # a mix that changes
        assert [t.tolist() for t in guard._style_target(w)] == [
            t.tolist() for t in measured.config.style_statistics(w)
        ]
    assert torch.isfinite(guard(x, None)).all()
    on = make_model(dataclasses.replace(measured.config, stats_guard=1.0))
    torch.testing.assert_close(tokens(on), guarded)  # the model's own default strength
    rate = pipe.sample_rate
    a = _take(pipe.stream(1.0, style="piano", seed=3, stats_guard=1.0, sequence=measured), 1.0, rate)
    b = _take(pipe.stream(1.0, style="piano", seed=3, sequence=on), 1.0, rate)
    assert torch.equal(a, b) and torch.isfinite(a).all()
    with pytest.raises(InputError, match="no latent statistics"):
        pipe.stream(1.0, style="piano", stats_guard=0.5, sequence=plain)
    asks = make_model(dataclasses.replace(plain.config, stats_guard=0.5))  # its own default, no statistics
    with pytest.raises(InputError, match="no latent statistics"):
        pipe.stream(1.0, style="piano", sequence=asks)
    with pytest.raises(InputError, match=r"stats_guard must be in \[0, 1\]"):
        pipe.stream(1.0, style="piano", stats_guard=-0.1, sequence=measured)
