"""audiogen.hub, the one loading path: finding folders, the class tables, stages loaded as recorded."""

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from audiogen import hub
from audiogen.models.pretrained import PretrainedMixin
from tests.pipelines.test_audiogen import write_tiny_pipeline


@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory) -> Path:
    return write_tiny_pipeline(tmp_path_factory.mktemp("hub") / "pipe")


def test_find_model_folder_accepts_model_and_pipeline_folders(pipeline_dir, tmp_path):
    for stage in ("autoencoder", "denoiser", "vocoder"):
        assert hub.find_model_folder(pipeline_dir, stage) == pipeline_dir / stage
        assert hub.find_model_folder(pipeline_dir / stage, stage) == pipeline_dir / stage
    with pytest.raises(FileNotFoundError, match="no such vocoder folder"):
        hub.find_model_folder(tmp_path / "absent", "vocoder")
    with pytest.raises(FileNotFoundError, match="no classifier here"):
        hub.find_model_folder(pipeline_dir, "classifier")


def test_find_pipeline_folder_names_what_is_missing(pipeline_dir, tmp_path, monkeypatch):
    assert hub.find_pipeline_folder(pipeline_dir) == pipeline_dir
    with pytest.raises(FileNotFoundError, match="not a pipeline folder"):
        hub.find_pipeline_folder(pipeline_dir / "vocoder")
    monkeypatch.setattr(hub, "DEFAULT_PIPELINE", tmp_path / "no-default")
    with pytest.raises(FileNotFoundError, match="bundled default model is not installed.*--checkpoint"):
        hub.find_pipeline_folder(None)


def test_class_table_lists_every_stage_model_and_imports_it():
    """Every PretrainedMixin class of a stage module is in the table, under its own name."""
    for module in set(hub.MODEL_CLASSES.values()):
        importlib.import_module(module)
    stage_bases = tuple(hub.model_class(name) for name in hub.STAGE_BASES.values())
    found, stack = set(), list(PretrainedMixin.__subclasses__())
    while stack:
        klass = stack.pop()
        stack.extend(klass.__subclasses__())
        if issubclass(klass, stage_bases):
            found.add(klass.__name__)
    assert found == set(hub.MODEL_CLASSES)
    for name in hub.MODEL_CLASSES:
        assert hub.model_class(name).__name__ == name


def test_scheduler_table_matches_diffusers():
    """The submodule table gives the very classes diffusers exports at its top level."""
    import diffusers

    for name in hub.SCHEDULER_CLASSES:
        assert hub.scheduler_class(name) is getattr(diffusers, name)
    assert hub.scheduler_class("PNDMScheduler") is diffusers.PNDMScheduler  # outside the table
    assert hub.scheduler_class("MelVAE") is None and hub.scheduler_class(None) is None


def test_load_model_checks_the_class_against_the_stage(pipeline_dir):
    vocoder = hub.load_model(pipeline_dir, "vocoder")
    assert type(vocoder).__name__ == "VocosVocoder" and not vocoder.training
    with pytest.raises(ValueError, match="'MelVAE' is not a vocoder"):
        hub.load_model(pipeline_dir / "autoencoder", base=hub.model_class("Vocoder"))
    assert type(hub.load_model(pipeline_dir / "denoiser")).__name__ == "LatentDenoiser"


def _copy_pipeline(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_pipeline_stages_load_as_model_index_records(pipeline_dir, tmp_path):
    loaded = hub.load_pipeline_stages(pipeline_dir)
    index = json.loads((pipeline_dir / hub.MODEL_INDEX_NAME).read_text())
    for stage, entry in index["stages"].items():
        if stage == "scheduler":  # a NoiseSchedule records the diffusers class its config was saved as
            assert hub.scheduler_name(loaded[stage]) == entry["class"]
        else:
            assert type(loaded[stage]).__name__ == entry["class"]

    folder = _copy_pipeline(pipeline_dir, tmp_path / "wrong-class")
    index["stages"]["vocoder"]["class"] = "GLRefineVocoder"  # a vocoder, but not the one stored
    (folder / hub.MODEL_INDEX_NAME).write_text(json.dumps(index))
    with pytest.raises(ValueError, match="holds a VocosVocoder, not a GLRefineVocoder"):
        hub.load_pipeline_stages(folder)
    index["stages"]["vocoder"]["class"] = "MelVAE"  # not a vocoder at all
    (folder / hub.MODEL_INDEX_NAME).write_text(json.dumps(index))
    with pytest.raises(ValueError, match=r"stages\.vocoder\.class: 'MelVAE' is not a vocoder"):
        hub.load_pipeline_stages(folder)
    index["stages"]["scheduler"]["class"] = "DDIMScheduler"
    index["stages"]["vocoder"]["class"] = "VocosVocoder"
    (folder / hub.MODEL_INDEX_NAME).write_text(json.dumps(index))
    with pytest.raises(ValueError, match="stages.scheduler.class is 'DDIMScheduler'"):
        hub.load_pipeline_stages(folder)


def test_stage_subfolders_may_not_leave_the_pipeline_folder(pipeline_dir, tmp_path):
    folder = _copy_pipeline(pipeline_dir, tmp_path / "escape")
    index = json.loads((folder / hub.MODEL_INDEX_NAME).read_text())
    index["stages"]["vocoder"]["subfolder"] = "../elsewhere"
    (folder / hub.MODEL_INDEX_NAME).write_text(json.dumps(index))
    with pytest.raises(ValueError, match="points outside the pipeline folder"):
        hub.load_pipeline_stages(folder)


def test_importing_hub_and_schedulers_stays_light():
    """The command line reads SAMPLERS and the default path without importing torch or diffusers."""
    code = (
        "import sys; import audiogen.hub, audiogen.samplers.factory; "
        "print(sorted(m for m in ('torch', 'diffusers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
