"""Seamless loops: exact lengths, periodic decoding, their seams (tiny random-weight stages)."""

import math

import pytest
import torch

from audiogen.evaluation.boundaries import seam_report
from audiogen.pipelines.loop import _wrap, conv_context, loop_samples, periodic_stretch
from tests.pipelines.test_audiogen import MEL, make_tiny_pipeline


@pytest.fixture(scope="module")
def pipe():
    return make_tiny_pipeline()


@pytest.mark.parametrize("fit", ["mel", "resample"])
@pytest.mark.parametrize("bars, bpm, beats", [(2, 120, 4), (3, 97, 4), (1, 133, 3), (2, 174.5, 4)])
def test_loop_length_is_exact_to_the_sample(pipe, bars, bpm, beats, fit):
    n = loop_samples(bars, bpm, MEL.sample_rate, beats)
    assert n == round(bars * beats * 60 / bpm * MEL.sample_rate)
    result = pipe.loop(samples=n, repeat=2, seed=1, steps=2, progress=False, fit=fit)
    assert result.loop_samples == n and result.waveforms.shape == (1, 1, 2 * n)
    assert torch.equal(result.waveforms[..., :n], result.waveforms[..., n:])  # tiled back to back
    # the period is the achievable one nearest to n: a multiple of length_multiple latent frames
    unit = pipe.length_multiple * pipe.samples_per_latent_frame
    assert result.period_samples % unit == 0
    assert abs(result.period_samples - n) <= unit / 2
    assert result.mels.shape[-1] * MEL.hop_length == result.vocoded_samples
    assert result.pitch_ratio == pytest.approx(result.vocoded_samples / n)
    assert result.stretch_ratio == pytest.approx(result.vocoded_samples / result.period_samples)
    if fit == "resample":
        assert result.vocoded_samples == result.period_samples and result.stretch_ratio == 1.0
    else:  # the mel is re-timed to whole frames; only a fraction of a hop is resampled
        assert result.vocoded_samples == round(n / MEL.hop_length) * MEL.hop_length
        assert abs(result.pitch_ratio - 1) <= MEL.hop_length / (2 * n) + 1e-12


def test_loop_from_seconds_and_argument_errors(pipe):
    assert pipe.loop(1.0, steps=1, progress=False).waveforms.shape[-1] == 16000
    with pytest.raises(ValueError, match="exactly one"):
        pipe.loop(1.0, samples=16000, progress=False)
    with pytest.raises(ValueError, match="repeat"):
        pipe.loop(1.0, repeat=0, progress=False)
    with pytest.raises(ValueError, match="fit must be"):
        pipe.loop(1.0, fit="crossfade", progress=False)


def test_periodic_stretch_is_periodic_linear_interpolation():
    x = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    torch.testing.assert_close(
        periodic_stretch(x, 8), torch.tensor([[0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 1.5]])
    )
    torch.testing.assert_close(periodic_stretch(x, 2), torch.tensor([[0.0, 2.0]]))
    assert torch.equal(periodic_stretch(x, 4), x)


@pytest.mark.parametrize("period", [10, 30])  # 10 < decoder_context: the context wraps round more than once
def test_decoders_see_the_loop_as_periodic(pipe, period):
    """Wrapped context of the computed size gives exactly the periodic decoding; too little does not."""
    torch.manual_seed(3)
    latent = torch.randn(2, 4, period)
    k, td, hop = pipe.decoder_context, pipe.time_downsample, MEL.hop_length
    with torch.no_grad():
        mel = pipe.decode_circular(latent)
        assert mel.shape == (2, MEL.n_mels, period * td)
        # the middle period of the latent repeated 2r + 1 times (r periods cover the context)
        r = math.ceil((k + 7) / period)
        tiled = pipe.autoencoder.decode(latent.repeat(1, 1, 2 * r + 1))[
            ..., r * period * td : (r + 1) * period * td
        ]
        torch.testing.assert_close(mel, tiled, rtol=0, atol=1e-5)
        too_little = pipe.autoencoder.decode(_wrap(latent, 1))[..., td : (period + 1) * td]
        assert (too_little - mel).abs().max() > 1e-3

        audio = pipe.vocode_circular(mel)
        frames = mel.shape[-1]
        assert audio.shape == (2, 1, frames * hop)
        r = math.ceil((pipe.vocoder_context + 5) / frames)
        tiled = pipe.vocoder(mel.repeat(1, 1, 2 * r + 1))[..., r * frames * hop : (r + 1) * frames * hop]
        torch.testing.assert_close(audio, tiled, rtol=0, atol=1e-5 * float(audio.abs().max()))
        too_little = pipe.vocoder(_wrap(mel, 1))[..., hop : (frames + 1) * hop]
        assert (too_little - audio).abs().max() > 1e-3 * audio.abs().max()


def test_conv_context_adds_up_the_reach_of_each_layer():
    from torch import nn

    from audiogen.models.layers import Upsample1d

    decoder = nn.Sequential(nn.Conv1d(1, 1, 5, padding=2), Upsample1d(1, 1, 2), nn.Conv1d(1, 1, 7, padding=3))
    # 2 latent frames + 1 (repetition) + 2 / 2 (the upsampler's kernel 5 at twice the rate) + 3 / 2
    assert conv_context(decoder) == math.ceil(2 + 1 + 1 + 1.5) + 1
    with pytest.raises(ValueError, match="MultiheadAttention"):
        conv_context(nn.Sequential(nn.Conv1d(1, 4, 3), nn.MultiheadAttention(4, 1)))


@pytest.mark.parametrize("fit", ["mel", "resample"])
def test_circular_loops_pass_the_seam_criteria_and_ordinary_clips_do_not(pipe, fit):
    n, num = 12000, 12
    loops = pipe.loop(samples=n, num=num, seed=0, steps=4, style="piano", progress=False, fit=fit)
    plain = pipe(n / MEL.sample_rate, num=num, seed=0, steps=4, style="piano", progress=False)
    assert plain.waveforms.shape[-1] == n
    loop_reports = [seam_report(w, MEL) for w in loops.waveforms]
    plain_reports = [seam_report(w, MEL) for w in plain.waveforms]
    loop_ok = sum(r.mel_ok for r in loop_reports)
    plain_ok = sum(r.mel_ok for r in plain_reports)
    # a periodic signal's seam is one more ordinary place in it: below the 95th percentile of the
    # within-loop changes in most cases; an ordinary clip's end does not continue into its start
    assert loop_ok >= num - 2, [r.to_dict() for r in loop_reports]
    assert plain_ok <= 2 and plain_ok < loop_ok
    assert all(r.sample_ok for r in loop_reports)
    mean_seam = sum(r.seam_mel_change for r in loop_reports) / num
    mean_plain = sum(r.seam_mel_change for r in plain_reports) / num
    assert mean_plain > 1.2 * mean_seam

    # across --repeat: every copy boundary is the same seam as the end-to-start wrap
    tiled = pipe.loop(samples=n, repeat=3, seed=0, steps=4, style="piano", progress=False, fit=fit)
    torch.testing.assert_close(tiled.waveforms[0, :, :n], loops.waveforms[0])
    report = seam_report(tiled.waveforms[0], MEL, period_samples=n)
    assert report.joints == 3 and report.sample_ok
    assert report.seam_mel_change == pytest.approx(loop_reports[0].seam_mel_change, abs=1e-5)
