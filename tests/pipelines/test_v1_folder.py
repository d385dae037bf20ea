"""A pipeline folder in the format of the first bundled model (v1) still loads and generates.

``tests/fixtures/pipeline_v1/`` holds that bundle's JSON files as they were shipped (the pipeline
index, the DDPM scheduler's config and each stage's ``config.json``: a 64-channel latent at a
quarter of the mel frame rate, a v-prediction denoiser, the Griffin-Lim + refinement vocoder, the
streaming sequence model). The weights are not kept: each stage gets freshly initialised weights
of the shapes its config names, written as ``model.safetensors``. Whatever a later bundle changes
in the configuration format, these files must keep loading.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from audiogen import hub
from audiogen.config import from_dict

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "pipeline_v1"
STAGES = ("autoencoder", "denoiser", "vocoder", "sequence")


@pytest.fixture(scope="module")
def v1_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("v1") / "pipeline"
    shutil.copytree(FIXTURE, folder)
    torch.manual_seed(0)
    for stage in STAGES:
        meta = json.loads((folder / stage / hub.CONFIG_NAME).read_text())
        cls = hub.model_class(meta["class"])
        model = cls(from_dict(cls.config_class, meta["config"]))
        model.save_pretrained(folder / stage)
        # save_pretrained rewrites config.json: put back the file as shipped
        shutil.copy(FIXTURE / stage / hub.CONFIG_NAME, folder / stage / hub.CONFIG_NAME)
    return folder


def test_the_fixture_is_the_v1_format():
    index = json.loads((FIXTURE / hub.MODEL_INDEX_NAME).read_text())
    assert index["latent"]["time_downsample"] == 4 and index["latent"]["latent_dim"] == 64
    scheduler = json.loads((FIXTURE / "scheduler" / hub.SCHEDULER_CONFIG_NAME).read_text())
    assert scheduler["prediction_type"] == "v_prediction"


def test_a_v1_folder_loads_and_generates(v1_folder):
    from audiogen.pipelines import load_pretrained

    pipe = load_pretrained(v1_folder, device="cpu")
    assert list(pipe.styles) == ["choir", "flute", "guitar", "organ", "piano", "strings"]
    assert pipe.steps == 8 and pipe.cfg_scale == 1.0
    result = pipe(1.0, style="organ", seed=0, steps=2)
    audio = result.waveforms
    assert audio.shape == (1, 1, pipe.sample_rate) and torch.isfinite(audio).all()


def test_a_v1_folder_streams(v1_folder):
    from audiogen.pipelines import load_pretrained

    pipe = load_pretrained(v1_folder, device="cpu")
    chunks = list(pipe.stream(1.0, style="piano", seed=0, head_steps=1, sequence=v1_folder))
    audio = torch.cat(chunks, dim=-1)
    assert audio.shape == (1, pipe.sample_rate) and torch.isfinite(audio).all()
