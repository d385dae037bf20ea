"""A pipeline or model folder with a bad config.json, model_index.json or weights file fails with one
ValueError naming the file, before anything large is allocated; the CLI prints it on one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from audiogen.cli import app
from audiogen.models.vocoder import GLRefineConfig, GLRefineVocoder, Vocoder
from audiogen.pipelines.audiogen import AudioGenPipeline
from tests.pipelines.test_audiogen import MEL, write_tiny_pipeline


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return write_tiny_pipeline(tmp_path_factory.mktemp("pipe") / "tiny")


@pytest.fixture
def pipe_dir(pristine, tmp_path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "tiny"))


def _edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _set(section: str, key: str, value):
    return lambda data: data[section].__setitem__(key, value)


def _load_error(folder: Path) -> str:
    with pytest.raises(ValueError) as info:
        AudioGenPipeline.from_pretrained(folder, device="cpu")
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("stage", "edit", "fragment"),
    [
        ("autoencoder", _set("config", "latent_dim", "4"), "config.latent_dim must be an integer, got '4'"),
        ("autoencoder", _set("config", "latent_dim", 4.5), "config.latent_dim must be an integer, got 4.5"),
        ("autoencoder", _set("config", "latent_dim", 10**9), "config.latent_dim must be in [1, 8192]"),
        ("autoencoder", _set("config", "mel", None), "config.mel must be an object"),
        ("autoencoder", _set("config", "latent_scale", float("nan")), "config.latent_scale must be a finite"),
        ("autoencoder", _set("config", "kernel_size", True), "config.kernel_size must be an integer"),
        ("denoiser", _set("config", "beta_schedule", "cosine"), "config.beta_schedule must be one of"),
        ("denoiser", _set("config", "channel_mults", [1, "2"]), "config.channel_mults[1] must be an integer"),
        ("vocoder", _set("config", "num_layers", None), "config.num_layers must be an integer"),
    ],
)
def test_bad_stage_config_is_one_error_naming_the_file(pipe_dir, stage, edit, fragment):
    path = pipe_dir / stage / "config.json"
    _edit_json(path, edit)
    message = _load_error(pipe_dir)
    assert str(path) in message and fragment in message, message


def test_deeply_nested_json_is_an_error(pipe_dir):
    path = pipe_dir / "autoencoder" / "config.json"
    path.write_text('{"class": "MelVAE", "config": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert "nested too deeply" in _load_error(pipe_dir)
    index = pipe_dir / "model_index.json"
    index.write_text("[" * 100_000 + "]" * 100_000)
    assert f"{index}: not valid JSON (nested too deeply)" in _load_error(pipe_dir)


def test_config_asking_for_too_many_parameters_fails_before_allocating(pipe_dir):
    # 512 blocks of width 8192 would be ~300 G parameters; built on the meta device it costs nothing
    path = pipe_dir / "autoencoder" / "config.json"
    _edit_json(path, _set("config", "channels", 8192))
    _edit_json(path, _set("config", "blocks_per_stage", 256))
    message = _load_error(pipe_dir)
    assert "parameters; the limit is" in message and str(path) in message


def test_config_that_does_not_match_its_weights_fails_before_allocating(pipe_dir):
    path = pipe_dir / "denoiser" / "config.json"
    _edit_json(path, _set("config", "channels", 512))
    message = _load_error(pipe_dir)
    assert str(pipe_dir / "denoiser" / "model.safetensors") in message and "do not match" in message


@pytest.mark.parametrize("how", ["nan", "garbage"])
def test_non_finite_or_garbage_weights_are_refused(pipe_dir, how):
    path = pipe_dir / "vocoder" / "model.safetensors"
    if how == "nan":
        state = load_file(str(path))
        name = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
        state[name] = state[name].clone()
        state[name].view(-1)[0] = float("nan")
        save_file(state, str(path))
    else:  # keep the header, overwrite the tensor bytes with 0xFF (NaN as float32)
        raw = path.read_bytes()
        header = 8 + int.from_bytes(raw[:8], "little")
        path.write_bytes(raw[:header] + b"\xff" * (len(raw) - header))
    message = _load_error(pipe_dir)
    assert str(path) in message and "non-finite" in message


@pytest.mark.parametrize("subfolder", ["../elsewhere", "/tmp", "vocoder/../../x"])
def test_subfolder_outside_the_pipeline_is_refused(pipe_dir, subfolder):
    outside = pipe_dir.parent / "elsewhere"
    shutil.copytree(pipe_dir / "vocoder", outside, dirs_exist_ok=True)
    _edit_json(
        pipe_dir / "model_index.json", lambda d: d["stages"]["vocoder"].__setitem__("subfolder", subfolder)
    )
    assert "points outside the pipeline folder" in _load_error(pipe_dir)


def test_symlinked_subfolder_leading_outside_is_refused(pipe_dir):
    outside = pipe_dir.parent / "elsewhere"
    shutil.move(pipe_dir / "vocoder", outside)
    (pipe_dir / "vocoder").symlink_to(outside, target_is_directory=True)
    assert "points outside the pipeline folder" in _load_error(pipe_dir)


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda d: d.__setitem__("mel", None), "mel must be an object"),
        (lambda d: d["mel"].__setitem__("n_mels", "32"), "mel.n_mels must be an integer"),
        (
            lambda d: d["generation"].__setitem__("cfg_scale", float("nan")),
            "generation.cfg_scale is nan, not a finite number",
        ),
        (lambda d: d.__setitem__("stages", []), "'stages' must be an object"),
    ],
)
def test_bad_model_index_fields(pipe_dir, edit, fragment):
    _edit_json(pipe_dir / "model_index.json", edit)
    assert fragment in _load_error(pipe_dir)


def test_scheduler_config_bounds(pipe_dir):
    path = pipe_dir / "scheduler" / "scheduler_config.json"
    _edit_json(path, lambda d: d.__setitem__("num_train_timesteps", 10**9))
    assert f"{path}: num_train_timesteps must be an integer" in _load_error(pipe_dir)
    _edit_json(path, lambda d: d.update(num_train_timesteps=1000, beta_schedule="cosine"))
    assert f"{path}: beta_schedule must be one of" in _load_error(pipe_dir)


def test_gl_iters_is_bounded(tmp_path):
    folder = GLRefineVocoder(
        GLRefineConfig(mel=MEL, dim=8, intermediate_dim=8, num_layers=1)
    ).save_pretrained(tmp_path / "voc")
    assert Vocoder.from_pretrained(folder).config.gl_iters == 32
    _edit_json(folder / "config.json", _set("config", "gl_iters", 10**9))
    with pytest.raises(ValueError, match=r"config\.gl_iters must be in \[1, 1000\], got 1000000000"):
        Vocoder.from_pretrained(folder)


def test_cli_prints_one_line(pipe_dir, tmp_path):
    _edit_json(pipe_dir / "autoencoder" / "config.json", _set("config", "latent_dim", "4"))
    result = CliRunner().invoke(
        app, ["generate", "--checkpoint", str(pipe_dir), "--device", "cpu", "--out", str(tmp_path / "g")]
    )
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: cannot load the pipeline"), result.output


def test_valid_folder_still_loads_bit_identical(pristine):
    loaded = AudioGenPipeline.from_pretrained(pristine, device="cpu")
    state = load_file(str(pristine / "denoiser" / "model.safetensors"))
    for name, tensor in loaded.denoiser.state_dict().items():
        assert torch.equal(tensor, state[name].to(tensor.dtype)), name
