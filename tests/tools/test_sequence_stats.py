"""tools/sequence_stats.py adds the training latents' per-style statistics to a saved sequence model."""

from __future__ import annotations

import json
import sys

import pytest

from audiogen.config import load_recipe
from audiogen.models.sequence import LatentSequenceModel
from audiogen.training.tasks import build_task
from tests.tools import ROOT, load_tool
from tests.training.tasks.test_diffusion import _args, autoencoder, corpus  # noqa: F401

RECIPE = ROOT / "recipes" / "debug" / "sequence.yaml"


def test_statistics_are_written_into_the_config(corpus, autoencoder, tmp_path, monkeypatch):  # noqa: F811
    overrides = _args(corpus, autoencoder, tmp_path / "cache")
    task = build_task("sequence", load_recipe(RECIPE, overrides))
    folder = LatentSequenceModel(task.model_config).save_pretrained(tmp_path / "sequence")
    weights = (folder / "model.safetensors").read_bytes()
    tool = load_tool("sequence_stats")
    argv = ["sequence_stats.py", str(folder), "--recipe", str(RECIPE), "--stats-guard", "0.5", *overrides]
    monkeypatch.setattr(sys, "argv", argv)
    tool.main()
    model = LatentSequenceModel.from_pretrained(folder)
    assert model.config.stats_guard == 0.5 and len(model.config.latents_mean) == 3  # 2 styles + all
    mean, std = task.latent_statistics(task.build_datasets().train)  # the training stage's own measure
    assert [list(r) for r in model.config.latents_mean] == mean
    assert [list(r) for r in model.config.latents_std] == std
    assert (folder / "model.safetensors").read_bytes() == weights  # the weights are not touched
    # a model of other data is refused before anything is written
    config = json.loads((folder / "config.json").read_text())
    config["config"]["latent_dim"] = 8
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(SystemExit, match="latent_dim=8"):
        tool.main()
