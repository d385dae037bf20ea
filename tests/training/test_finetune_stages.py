"""The recipe of each fine-tuning stage, built from the bundled pipeline's saved model folders."""

from __future__ import annotations

from pathlib import Path

import pytest

import audiogen
from audiogen.training.finetune import FinetuneConfig
from audiogen.training.finetune_stages import TRAINING_TASK, stage_recipe, stage_steps

BASE = Path(audiogen.__file__).parent / "assets" / "default"
FOLDERS = {name: BASE / name for name in TRAINING_TASK}


def _config(tmp_path: Path, **kwargs) -> FinetuneConfig:
    return FinetuneConfig(source=str(tmp_path / "sounds"), out=str(tmp_path / "run"), stages="all", **kwargs)


def test_steps_per_stage(tmp_path):
    config = _config(tmp_path, steps=40, vocoder_steps=8)
    assert [stage_steps(config, s) for s in ("autoencoder", "denoiser", "vocoder")] == [40, 40, 8]


def test_each_stage_starts_from_its_saved_folder(tmp_path):
    config = _config(tmp_path, steps=40, vocoder_steps=8)
    manifest = tmp_path / "manifest.jsonl"
    for stage in TRAINING_TASK:
        recipe = stage_recipe(stage, config, manifest, FOLDERS, ["chimes"], "valid")
        assert recipe["init"] == {stage: str(FOLDERS[stage])}
        assert recipe["data"]["manifest"] == str(manifest)
        assert recipe["train"]["max_steps"] == stage_steps(config, stage)
    denoiser = stage_recipe("denoiser", config, manifest, FOLDERS, ["chimes"], "valid")
    assert denoiser["data"]["labels"][-1] == "chimes"  # a new style is appended to the base's labels
    assert denoiser["data"]["latent_cache"] == str(tmp_path / "run" / "cache")
    vocoder = stage_recipe("vocoder", config, manifest, FOLDERS, ["chimes"], "valid")
    assert vocoder["model"]["vocoder"]["type"] == "gl_refine"  # the bundled vocoder's recipe type
    assert vocoder["model"]["disc_start_step"] == 9  # no GAN phase within the run
    with pytest.raises(ValueError, match="unknown pipeline stage"):
        stage_recipe("classifier", config, manifest, FOLDERS, ["chimes"], "valid")
