"""SamplingConfig and the guidance a call resolves from it, on the tiny pipeline; --negative-style."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from audiogen.errors import InputError
from audiogen.pipelines.sampling import Guidance, SamplingConfig
from tests.pipelines.test_audiogen import make_tiny_pipeline, write_tiny_pipeline


@pytest.fixture(scope="module")
def pipe():
    return make_tiny_pipeline()


def test_keyword_settings_replace_the_config_fields():
    base = SamplingConfig(seed=3, style="piano")
    assert SamplingConfig.of(base, seed=5) == SamplingConfig(seed=5, style="piano")
    assert SamplingConfig.of(None) == SamplingConfig()
    with pytest.raises(TypeError):
        SamplingConfig.of(base, sed=5)


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        (SamplingConfig(seed=-1), "--seed must be in"),
        (SamplingConfig(steps=0), "--steps must be in [1, 1000]"),
        (SamplingConfig(cfg_scale=float("nan")), "--cfg-scale must be a finite number"),
        (SamplingConfig(sampler="heun"), "--sampler must be one of"),
        (SamplingConfig(negative_style="flute"), "--negative-style needs a --style"),
        (SamplingConfig(style="piano", negative_style="piano"), "--negative-style must differ from --style"),
    ],
)
def test_out_of_range_settings_are_input_errors(config, fragment):
    with pytest.raises(InputError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        config.checked()


def test_the_negative_style_replaces_the_null_label_of_guidance(pipe):
    guidance = pipe.check_inputs(SamplingConfig(style="piano", negative_style="flute", cfg_scale=3.0))
    assert guidance == Guidance(label=0, scale=3.0, steps=pipe.steps, negative=1)
    labels, uncond = guidance.labels(2, torch.device("cpu"))
    assert labels.tolist() == [0, 0] and uncond.tolist() == [1, 1]
    assert pipe.check_inputs(SamplingConfig(style="piano")).labels(2, torch.device("cpu"))[1] is None


def test_a_negative_style_changes_guided_audio_only(pipe):
    kwargs = dict(seconds=0.3, seed=2, steps=3, style="piano", progress=False)
    plain = pipe(**kwargs, cfg_scale=3.0).waveforms
    away = pipe(**kwargs, cfg_scale=3.0, negative_style="flute").waveforms
    assert not torch.equal(plain, away)
    # at CFG scale 1 there is no unconditional branch, so nothing to replace
    assert torch.equal(
        pipe(**kwargs, cfg_scale=1.0).waveforms,
        pipe(**kwargs, cfg_scale=1.0, negative_style="flute").waveforms,
    )
    loop = pipe.loop(samples=8192, seed=2, steps=3, style="piano", cfg_scale=3.0, progress=False)
    loop_away = pipe.loop(
        samples=8192, seed=2, steps=3, style="piano", cfg_scale=3.0, negative_style="flute", progress=False
    )
    assert not torch.equal(loop.waveforms, loop_away.waveforms)


def test_a_negative_style_needs_a_known_style(pipe):
    with pytest.raises(ValueError, match="unknown style 'nope'"):
        pipe(0.3, steps=1, style="piano", negative_style="nope", progress=False)
    with pytest.raises(ValueError, match="needs a style"):
        pipe(0.3, steps=1, negative_style="flute", progress=False)


def test_the_command_line_takes_negative_style(tmp_path):
    from audiogen.cli import app

    checkpoint = write_tiny_pipeline(tmp_path / "tiny")
    base = [
        "generate",
        "--seconds",
        "0.3",
        "--steps",
        "2",
        "--checkpoint",
        str(checkpoint),
        "--device",
        "cpu",
    ]
    bad = CliRunner().invoke(
        app, [*base, "--style", "piano", "--negative-style", "nope", "--out", str(tmp_path)]
    )
    assert bad.exit_code == 2 and "error: unknown style 'nope'" in bad.output, bad.output
    good = CliRunner().invoke(
        app,
        [
            *base,
            "--style",
            "piano",
            "--negative-style",
            "flute",
            "--cfg-scale",
            "3",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert good.exit_code == 0, good.output
    assert (tmp_path / "o" / "piano_seed000000.wav").is_file()
