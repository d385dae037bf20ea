"""extend / inpaint (:mod:`audiogen.pipelines.inpaint`, pipe.extend / pipe.inpaint) and their CLI,
on a tiny pipeline."""

import math

import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from audiogen.audio.features import LogMelSpectrogram
from audiogen.cli import app
from audiogen.evaluation.boundaries import boundary_report
from tests.pipelines.test_audiogen import MEL, make_tiny_pipeline, write_tiny_pipeline


@pytest.fixture(scope="module")
def pipe():
    return make_tiny_pipeline()


def _clip(batch=2, channels=2, samples=8000, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(samples) / MEL.sample_rate
    tone = 0.3 * torch.sin(2 * math.pi * 330 * t)
    return tone + 0.05 * torch.randn(batch, channels, samples, generator=g)


def _input_latent(pipe, mono):
    with torch.no_grad():
        return pipe.autoencoder.encode(LogMelSpectrogram(pipe.mel_config)(mono[:, 0]).mel)


def test_extend_keeps_the_input_latent_bit_for_bit_and_its_samples_outside_the_crossfade(pipe):
    x = _clip()
    mono = x.mean(dim=1, keepdim=True)
    r = pipe.extend(x, MEL.sample_rate, 0.5, before=0.3, steps=3, progress=False, style="piano")
    before, n, after = 4800, 8000, 8000
    assert r.waveforms.shape == (2, 1, before + n + after)
    assert r.kept == [(before, before + n)] and r.boundaries == [before, before + n]
    assert r.edited == [(0, before), (before + n, before + n + after)]
    fade = r.crossfade_samples
    assert fade == round(0.1 * MEL.sample_rate)
    assert torch.equal(r.waveforms[..., before + fade : before + n - fade], mono[..., fade : n - fade])
    assert not torch.equal(r.waveforms[..., before : before + fade], mono[..., :fade])  # crossfaded
    # the latent frames with mask 1 are the input's encoding, bit for bit
    spl = pipe.samples_per_latent_frame
    q = math.ceil(before / spl)
    keep = (r.mask == 1).nonzero().flatten()
    assert len(keep) > 10 and bool((r.mask[: q - 1] == 0).all())
    z = _input_latent(pipe, mono)
    assert torch.equal(r.latents[..., keep], z[..., keep - q])
    assert r.lead_samples == q * spl - before


def test_inpaint_keeps_everything_outside_the_span_and_regenerates_inside(pipe):
    x = _clip(batch=1, channels=1, samples=12000)
    r = pipe.inpaint(x, MEL.sample_rate, 0.2, 0.45, steps=3, progress=False, crossfade=0.05)
    a, b, fade = 3200, 7200, 800
    assert r.waveforms.shape == x.shape and r.boundaries == [a, b] and r.edited == [(a, b)]
    assert torch.equal(r.waveforms[..., : a - fade], x[..., : a - fade])
    assert torch.equal(r.waveforms[..., b + fade :], x[..., b + fade :])
    assert (r.waveforms[..., a:b] - x[..., a:b]).abs().max() > 0.01
    keep = (r.mask == 1).nonzero().flatten()
    spl = pipe.samples_per_latent_frame
    assert bool((r.mask[a // spl : math.ceil(b / spl)] == 0).all())
    assert torch.equal(r.latents[..., keep], _input_latent(pipe, x)[..., keep])
    stats = boundary_report(r.waveforms[0], MEL, [("edit", p) for p in r.boundaries])
    assert [s.sample for s in stats] == [a, b] and all(s.clip_p95 > 0 for s in stats)


def test_seeds_reproduce_and_items_get_seed_plus_i(pipe):
    x = _clip()
    kwargs = dict(steps=3, progress=False)
    a = pipe.inpaint(x, MEL.sample_rate, 0.1, 0.3, seed=7, **kwargs)
    b = pipe.inpaint(x, MEL.sample_rate, 0.1, 0.3, seed=7, **kwargs)
    c = pipe.inpaint(x, MEL.sample_rate, 0.1, 0.3, seed=8, **kwargs)
    assert torch.equal(a.waveforms, b.waveforms) and torch.equal(a.latents, b.latents)
    assert not torch.equal(a.latents, c.latents)
    second = pipe.inpaint(x[1:], MEL.sample_rate, 0.1, 0.3, seed=8, **kwargs)
    assert torch.allclose(second.latents[0], a.latents[1], atol=1e-5) and a.seeds == [7, 8]


def test_long_timelines_are_windowed_and_keep_the_input(pipe):
    x = _clip(batch=1, channels=1, samples=16000)
    r = pipe.extend(x, MEL.sample_rate, 1.5, steps=2, progress=False, window_seconds=0.5)
    assert r.waveforms.shape[-1] == 16000 + 24000
    assert torch.equal(r.waveforms[..., : 16000 - 1600], x[..., : 16000 - 1600])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda p, x: p.inpaint(x, 16000, 0.3, 0.2), "before its end"),
        (lambda p, x: p.inpaint(x, 16000, -0.1, 0.2), "outside the clip"),
        (lambda p, x: p.inpaint(x, 16000, 0.2, 0.9), "outside the clip"),
        (lambda p, x: p.inpaint(x, 16000, 0.2, 0.21), "shorter than one latent frame"),
        (lambda p, x: p.extend(x, 16000, 0.01), "shorter than one latent frame"),
        (lambda p, x: p.extend(x, 16000, -1.0), "non-negative"),
        (lambda p, x: p.extend(x, 16000, 0.5, crossfade=0.8), "crossfade"),
        (lambda p, x: p.extend(x[0], 16000, 0.5), "(batch, channels, samples)"),
    ],
)
def test_bad_arguments_raise(pipe, call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(pipe, _clip(samples=8000))


# ------------------------------------------------------------------------------------------------
# command line


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_tiny_pipeline(tmp_path_factory.mktemp("pipeline") / "tiny")


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "in.wav"
    sf.write(
        str(path), _clip(batch=1, channels=2, samples=12000)[0].T.numpy(), MEL.sample_rate, subtype="FLOAT"
    )
    return path


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_extend_and_inpaint_write_the_input_back_and_report(checkpoint, wav, tmp_path):
    common = ["--checkpoint", checkpoint, "--device", "cpu", "--steps", 2, "--report"]
    out = tmp_path / "ext.wav"
    result = _invoke("extend", wav, "--seconds", 0.5, "--out", out, *common)
    assert result.exit_code == 0, result.output
    assert "boundary edit" in result.output and "clip p95" in result.output
    data, sr = sf.read(str(out), dtype="float32")
    source, _ = sf.read(str(wav), dtype="float32")
    assert sr == MEL.sample_rate and data.shape == (12000 + 8000,)
    mono = source.mean(axis=1)
    assert abs(data[:10000] - mono[:10000]).max() <= 1 / 32768  # 16-bit output of the input itself

    out = tmp_path / "inp.wav"
    span = ["--start", 0.2, "--end", 0.4]
    result = _invoke("inpaint", wav, *span, "--out", out, "--style", "piano", "--no-match-level", *common)
    assert result.exit_code == 0, result.output
    assert result.output.count("boundary edit") == 2
    data, _ = sf.read(str(out), dtype="float32")
    assert data.shape == (12000,) and abs(data[8000:] - mono[8000:]).max() <= 1 / 32768


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["inpaint", "WAV", "--start", 0.5, "--end", 0.2], "--start (0.5 s) must be before --end"),
        (["inpaint", "WAV", "--start", 0.2, "--end", 0.2], "must be before --end"),
        (["inpaint", "WAV", "--start", 0.2, "--end", 5.0], "is outside"),
        (["inpaint", "WAV", "--start", -1, "--end", 0.2], "is outside"),
        (["inpaint", "WAV", "--start", 0.2, "--end", 0.205], "shorter than one latent frame"),
        (["inpaint", "MISSING", "--start", 0.1, "--end", 0.2], "no such file"),
        (["inpaint", "TEXT", "--start", 0.1, "--end", 0.2], "not an audio file"),
        (["extend", "WAV", "--seconds", 0.005], "shorter than one latent frame"),
        (["extend", "WAV"], "give --seconds"),
        (["extend", "MISSING", "--seconds", 1], "no such file"),
        (["extend", "TEXT", "--seconds", 1], "not an audio file"),
        (["extend", "WAV", "--seconds", 1, "--crossfade", 0.9], "--crossfade"),
        (["extend", "WAV", "--seconds", 1, "--harmonize", 0], "--harmonize"),
        (["inpaint", "WAV", "--start", 0.1, "--end", 0.4, "--harmonize", -1], "--harmonize"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(checkpoint, wav, tmp_path, args, fragment):
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all\n")
    names = {"WAV": wav, "MISSING": tmp_path / "missing.wav", "TEXT": text}
    args = [names.get(a, a) if isinstance(a, str) else a for a in args]
    out = tmp_path / "o.wav"
    result = _invoke(*args, "--out", out, "--checkpoint", checkpoint, "--device", "cpu", "--steps", 1)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and fragment in lines[0], result.output
    assert not out.exists()


def test_cli_long_generate_and_loop_are_windowed_and_report_their_boundaries(checkpoint, tmp_path):
    common = ["--checkpoint", checkpoint, "--device", "cpu", "--steps", 1, "--report"]
    result = _invoke("generate", "--seconds", 24, "--out", tmp_path / "g", *common)
    assert result.exit_code == 0, result.output
    assert "boundary window" in result.output and "clip p95" in result.output
    assert sf.info(str(tmp_path / "g" / "any_seed000000.wav")).frames == 24 * MEL.sample_rate
    result = _invoke("loop", "--bars", 6, "--bpm", 30, "--out", tmp_path / "l.wav", *common)
    assert result.exit_code == 0, result.output
    assert "boundary window" in result.output
    assert sf.info(str(tmp_path / "l.wav")).frames == 48 * MEL.sample_rate


def _count_denoiser_calls(pipe, call):
    calls = []
    handle = pipe.denoiser.register_forward_hook(lambda *a: calls.append(1))
    try:
        result = call()
    finally:
        handle.remove()
    return result, len(calls)


def test_harmonize_repeats_every_step_but_the_last_and_keeps_the_input(pipe):
    x = _clip(batch=1, channels=1, samples=12000)
    kwargs = dict(steps=4, progress=False)
    runs = {}
    for h in (1, 3):
        runs[h], calls = _count_denoiser_calls(
            pipe, lambda h=h: pipe.inpaint(x, MEL.sample_rate, 0.2, 0.45, harmonize=h, **kwargs)
        )
        assert calls == h * 3 + 1  # passes on steps 1-3, one pass on the last
        keep = (runs[h].mask == 1).nonzero().flatten()
        assert torch.equal(runs[h].latents[..., keep], _input_latent(pipe, x)[..., keep])
    new = (runs[1].mask == 0).nonzero().flatten()
    assert not torch.allclose(runs[1].latents[..., new], runs[3].latents[..., new])
    again = pipe.inpaint(x, MEL.sample_rate, 0.2, 0.45, harmonize=3, **kwargs)
    assert torch.equal(again.latents, runs[3].latents)


@pytest.mark.parametrize("harmonize", [0, 1.5, -2])
def test_bad_harmonize_raises(pipe, harmonize):
    with pytest.raises(ValueError, match="harmonize"):
        pipe.extend(_clip(batch=1, samples=8000), MEL.sample_rate, 0.5, harmonize=harmonize, progress=False)


def test_the_commands_default_to_the_librarys_settings():
    from audiogen.cli.edit import CROSSFADE, HARMONIZE, MATCH_LEVEL
    from audiogen.pipelines.inpaint import CROSSFADE_SECONDS, HARMONIZE_PASSES, EditOptions

    assert HARMONIZE.default == HARMONIZE_PASSES and CROSSFADE.default == CROSSFADE_SECONDS
    assert MATCH_LEVEL.default is EditOptions().match_level


# ------------------------------------------------------------------------------------------------
# the style of the input


def _tiny_classifier(labels, favourite):
    """A tiny classifier whose head always prefers ``favourite`` (zero weights, one-hot bias)."""
    from audiogen.models.classifier import ClassifierConfig, StyleClassifier

    model = StyleClassifier(ClassifierConfig(mel=MEL, labels=labels, channels=(4, 8), embed_dim=8))
    with torch.no_grad():
        head = model.head[-1]
        head.weight.zero_()
        head.bias.copy_(torch.tensor([5.0 if label == favourite else 0.0 for label in labels]))
    return model


@pytest.mark.parametrize(
    "labels, favourite, expected",
    [
        (("piano", "flute"), "flute", "flute"),
        (("piano", "flute"), "piano", "piano"),
        (("flute", "organ", "piano"), "organ", None),  # a style the model cannot generate
    ],
)
def test_detect_style_names_what_the_classifier_hears_if_the_model_has_it(pipe, labels, favourite, expected):
    assert pipe.detect_style(_clip(), MEL.sample_rate, _tiny_classifier(labels, favourite)) == expected


def test_detect_style_reads_a_classifier_folder_and_checks_the_waveform(pipe, tmp_path):
    _tiny_classifier(("piano", "flute"), "flute").save_pretrained(tmp_path / "classifier")
    assert pipe.detect_style(_clip(), MEL.sample_rate, tmp_path / "classifier") == "flute"
    with pytest.raises(ValueError, match="batch, channels, samples"):
        pipe.detect_style(_clip()[0], MEL.sample_rate, tmp_path / "classifier")


def test_cli_style_auto_uses_the_model_folders_classifier(wav, tmp_path):
    model = write_tiny_pipeline(tmp_path / "model")
    _tiny_classifier(("piano", "flute"), "flute").save_pretrained(model / "classifier")

    def run(name, *style):
        args = ["--checkpoint", model, "--device", "cpu", "--steps", 1, "--harmonize", 1, *style]
        result = _invoke("extend", wav, "--seconds", 0.5, "--out", tmp_path / name, *args)
        assert result.exit_code == 0, result.output
        return result.output, sf.read(str(tmp_path / name))[0]

    output, auto = run("auto.wav")
    assert f"style: auto -> flute (style classifier {model / 'classifier'})" in output
    output, flute = run("flute.wav", "--style", "flute")
    assert "style: auto" not in output and (auto == flute).all()  # auto chose flute
    _, none = run("none.wav", "--style", "none")
    assert not (none == auto).all()


# ------------------------------------------------------------------------------------------------
# the level of the new audio


def test_match_levels_brings_the_span_to_the_inputs_level_and_ramps_from_the_boundary():
    from audiogen.pipelines.edit_levels import LEVEL_RAMP_SECONDS, match_levels

    sr, n, after = 16000, 32000, 32000
    g = torch.Generator().manual_seed(0)
    source = 0.1 * torch.randn(2, 1, n, generator=g)  # -20 dBFS
    synth = 0.4 * torch.randn(2, 1, n + after, generator=g)  # the new part 12 dB louder
    out = match_levels(synth, source, 0, [(0, n)], [(n, n + after)], sr)
    assert torch.equal(out[..., :n], synth[..., :n])  # nothing outside the span
    ramp = round(LEVEL_RAMP_SECONDS * sr)
    inside = out[..., n + ramp :]
    level = 20 * torch.log10(inside.square().mean(dim=-1).sqrt() / source.square().mean(dim=-1).sqrt())
    assert level.abs().max() < 0.5  # within half a dB of the input past the ramp
    assert (out[..., n] / synth[..., n]).sub(1).abs().max() < 1e-3  # gain 1 at the boundary
    assert (out[..., n + ramp // 2].abs() < synth[..., n + ramp // 2].abs()).all()  # halfway down


def test_match_levels_leaves_silence_alone_and_limits_the_change():
    from audiogen.pipelines.edit_levels import MAX_LEVEL_CHANGE_DB, match_levels

    sr, n = 16000, 16000
    synth = 0.5 * torch.randn(1, 1, 2 * n)
    silent = match_levels(synth, torch.zeros(1, 1, n), 0, [(0, n)], [(n, 2 * n)], sr)
    assert torch.equal(silent, synth)
    quiet = match_levels(synth, 1e-2 * synth[..., :n], 0, [(0, n)], [(n, 2 * n)], sr)  # 40 dB below
    end = quiet[..., -4000:].square().mean().sqrt() / synth[..., -4000:].square().mean().sqrt()
    assert abs(20 * torch.log10(end).item() + MAX_LEVEL_CHANGE_DB) < 0.01  # clamped at the limit


def test_inpaint_matches_the_level_only_inside_the_span(pipe):
    x = 0.05 * _clip(batch=1, channels=1, samples=12000)
    kwargs = dict(steps=2, progress=False, harmonize=1)
    on = pipe.inpaint(x, MEL.sample_rate, 0.2, 0.45, **kwargs)
    off = pipe.inpaint(x, MEL.sample_rate, 0.2, 0.45, match_level=False, **kwargs)
    a, b = 3200, 7200
    assert torch.equal(on.waveforms[..., :a], off.waveforms[..., :a])
    assert torch.equal(on.waveforms[..., b:], off.waveforms[..., b:])
    assert not torch.equal(on.waveforms[..., a:b], off.waveforms[..., a:b])


def test_an_input_above_full_scale_is_kept_at_minus_1_dbfs_not_clipped(pipe):
    """MP3 decoders overshoot (peaks up to ~1.2): extend and variation bring such an input to -1 dBFS,
    the level training crops have, and keep an input within full scale as it is."""
    x = _clip(batch=1, channels=1)
    loud = x * (1.19 / float(x.abs().max()))
    r = pipe.extend(loud, MEL.sample_rate, 0.5, steps=2, progress=False, style="piano", crossfade=0.0)
    kept = r.waveforms[..., : loud.shape[-1]]
    torch.testing.assert_close(kept, loud * (10 ** (-1 / 20) / 1.19))  # scaled, not clipped
    plain = pipe.extend(x, MEL.sample_rate, 0.5, steps=2, progress=False, style="piano", crossfade=0.0)
    assert torch.equal(plain.waveforms[..., : x.shape[-1]], x)  # within full scale: untouched
    # variation re-synthesises the whole clip, so it is its mel that must see the scaled input
    v_loud = pipe.variation(loud[0], MEL.sample_rate, strength=0.0, steps=2, progress=False, style="piano")
    v_scaled = pipe.variation(
        loud[0] * (10 ** (-1 / 20) / 1.19),
        MEL.sample_rate,
        strength=0.0,
        steps=2,
        progress=False,
        style="piano",
    )
    torch.testing.assert_close(v_loud.waveforms, v_scaled.waveforms)


def test_cli_negative_style_is_checked_against_the_style_auto_resolves_to(checkpoint, wav, tmp_path):
    common = ["--checkpoint", checkpoint, "--device", "cpu", "--steps", 1, "--seconds", 0.5]
    out = tmp_path / "none.wav"
    result = _invoke("extend", wav, "--style", "none", "--negative-style", "piano", "--out", out, *common)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("error: --style none -> unconditional:") and "needs a --style" in lines[0]
    assert not out.exists()
    # auto: the negative style is checked once the style heard in the input is known; it either runs
    # (a different style was heard) or says what auto resolved to
    out = tmp_path / "auto.wav"
    result = _invoke("extend", wav, "--style", "auto", "--negative-style", "piano", "--out", out, *common)
    if result.exit_code == 0:
        assert out.exists() and "style: auto ->" in result.output
    else:
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: --style auto ->")
