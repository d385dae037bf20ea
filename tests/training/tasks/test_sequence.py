"""End to end: the debug sequence recipe through the CLI and the shared trainer, on the latent
cache of the diffusion stage's tiny autoencoder and labelled synthetic corpus."""

import json
import math

import pytest

from audiogen.models.sequence import LatentSequenceModel
from tests.training.tasks.test_diffusion import ROOT, _args, _invoke, autoencoder, corpus  # noqa: F401

DEBUG_RECIPE = ROOT / "recipes" / "debug" / "sequence.yaml"


def test_debug_recipe_trains(corpus, autoencoder, tmp_path):  # noqa: F811
    result = _invoke(
        "train",
        "sequence",
        DEBUG_RECIPE,
        *_args(corpus, autoencoder, tmp_path / "cache"),
        "--out",
        tmp_path / "run",
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [x["train/flow_mse"] for x in lines if "train/flow_mse" in x]
    assert len(losses) == 8 and all(math.isfinite(x) for x in losses)  # 40 steps, logged every 5
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3, losses  # the loss falls
    assert any("val/flow_mse" in x for x in lines)
    last = tmp_path / "run" / "checkpoints" / "checkpoint-00000040"
    model = LatentSequenceModel.from_pretrained(last / "ema" / "sequence")
    assert model.config.latent_dim == 4 and model.config.class_labels == ("high", "low")
    # the training latents' statistics per style and over all (the last row), for the stream's guard
    assert len(model.config.latents_mean) == 3 and len(model.config.latents_std[0]) == 4
    assert model.config.latents_mean[0] != model.config.latents_mean[1]
    assert min(min(row) for row in model.config.latents_std) > 0
    samples = sorted(p.name for p in (tmp_path / "run" / "samples" / "step-00000040").iterdir())
    assert "sample_00_high.wav" in samples and "sample_01_low.wav" in samples


def test_end_margin_setting_is_checked():
    from audiogen.training.tasks.diffusion_data import DiffusionDataConfig

    base = {"autoencoder": "ae", "manifest": "m.jsonl", "latent_cache": "cache"}
    assert DiffusionDataConfig(**base, end_margin_seconds=3.0).end_margin_seconds == 3.0
    with pytest.raises(ValueError, match="end_margin_seconds must be >= 0"):
        DiffusionDataConfig(**base, end_margin_seconds=-1.0)
    with pytest.raises(ValueError, match="needs data.source 'latent_cache'"):
        DiffusionDataConfig(**base, source="waveform", end_margin_seconds=3.0)
