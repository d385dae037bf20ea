"""Windowed (MultiDiffusion) denoising, chunked decoding / vocoding and long generation on tiny models."""

import pytest
import torch
from torch import nn

from audiogen.pipelines.denoise import sample_latents
from audiogen.pipelines.windows import (
    WindowedDenoiser,
    decode_chunked,
    encode_chunked,
    encoder_context,
    vocode_chunked,
    window_starts,
    window_weights,
    windowed,
)
from audiogen.samplers.factory import make_sampler
from tests.pipelines.test_audiogen import make_tiny_pipeline


@pytest.fixture(scope="module")
def pipe():
    return make_tiny_pipeline()


class Identity(nn.Module):
    """A 'denoiser' whose prediction is its input (with the config the samplers read)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.scale = nn.Parameter(torch.ones(()))
        self.calls = []

    def forward(self, latent, timestep, labels=None, circular=False):
        self.calls.append(latent.shape[-1])
        return latent * self.scale


@pytest.mark.parametrize("circular", [False, True])
@pytest.mark.parametrize("total", [40, 64, 150])
def test_windows_cover_every_frame_with_the_overlap(total, circular):
    size, overlap = 24, 8
    starts = window_starts(total, size, overlap, multiple=2, circular=circular)
    cover = torch.zeros(total)
    for s in starts:
        cover[(s + torch.arange(size)) % total] += 1
        assert s % 2 == 0 or s == total - size
    assert bool((cover >= 1).all())
    ordered = sorted(starts)
    gaps = [b - a for a, b in zip(ordered, ordered[1:], strict=False)]
    if circular:
        gaps.append(ordered[0] + total - ordered[-1])
    else:
        assert ordered[0] == 0 and ordered[-1] + size == total
    assert max(gaps) <= size - overlap  # neighbours share at least `overlap` frames
    assert window_starts(20, size, overlap) == [0]


def test_window_weights_are_positive_trapezoids():
    w = window_weights(16, 4, left_edge=True, right_edge=False)
    assert bool((w > 0).all()) and w[0] == 1 and w[-1] < 0.2 and bool((w[:12] == 1).all())
    with pytest.raises(ValueError):
        window_starts(100, 10, 6)


@pytest.mark.parametrize("circular", [False, True])
@pytest.mark.parametrize("sampler", ["dpm++", "ddim", "euler"])
def test_window_stitching_is_exact_for_an_identity_denoiser(pipe, circular, sampler):
    identity = Identity(pipe.denoiser.config)
    frames = 60  # 5 windows of 16 frames
    shape = (2, pipe.denoiser.config.latent_dim, frames)

    def run(denoiser):
        return sample_latents(
            denoiser, make_sampler(sampler, pipe.scheduler), shape, labels=1, cfg_scale=2.0,
            generator=[torch.Generator().manual_seed(s) for s in (5, 6)], circular=circular,
            progress=False, num_inference_steps=4,
        )  # fmt: skip

    plain = run(identity)
    assert max(identity.calls) == frames
    identity.calls.clear()
    stitched = run(WindowedDenoiser(identity, size=16, overlap=4, batch_windows=2))
    assert set(identity.calls) == {16}  # really windowed
    assert torch.equal(stitched, plain)


def test_windowed_prediction_is_a_weighted_average_and_short_latents_pass_through(pipe):
    latent = torch.randn(1, pipe.denoiser.config.latent_dim, 40)
    wd = WindowedDenoiser(pipe.denoiser, size=16, overlap=4)
    with torch.no_grad():
        fused = wd(latent, torch.tensor([500]))
        plain_short = pipe.denoiser(latent[..., :16], torch.tensor([500]))
        short = wd(latent[..., :16], torch.tensor([500]))
        first = pipe.denoiser(latent[..., :16], torch.tensor([500]))
    assert torch.equal(short, plain_short)
    # frames only the first window covers are that window's prediction
    starts = window_starts(40, 16, 4, multiple=pipe.length_multiple)
    only_first = starts[1]
    assert torch.allclose(fused[..., :only_first], first[..., :only_first], atol=1e-6)
    assert wd.boundaries and all(0 < b < 40 for b in wd.boundaries)


def test_chunked_decoding_equals_one_piece(pipe):
    latent = torch.randn(1, pipe.denoiser.config.latent_dim, 50)
    with torch.no_grad():
        whole = pipe.autoencoder.decode(latent)
        chunked = decode_chunked(pipe, latent, chunk=12)
        circ = pipe.decode_circular(latent)
        circ_chunked = decode_chunked(pipe, latent, chunk=12, circular=True)
    assert chunked.shape == whole.shape
    assert torch.allclose(chunked, whole, atol=1e-4)
    assert torch.allclose(circ_chunked, circ, atol=1e-4)


@pytest.mark.parametrize("frames", [97, 120, 163])
def test_chunked_encoding_equals_one_piece(pipe, frames):
    """Random lengths (odd ones exercise the encoder's end padding); chunks of 7 latent frames."""
    torch.manual_seed(frames)
    mel = torch.randn(2, pipe.mel_config.n_mels, frames) - 4
    with torch.no_grad():
        whole = pipe.autoencoder.encode(mel)
        chunked = encode_chunked(pipe, mel, chunk=7)
    assert chunked.shape == whole.shape
    assert torch.allclose(chunked, whole, atol=1e-5)


def test_encoder_context_covers_the_receptive_field(pipe):
    """A change at one mel frame moves no latent frame farther than encoder_context mel frames away."""
    encoder = pipe.autoencoder.encoder
    k, td = encoder_context(encoder), pipe.time_downsample
    mel = torch.randn(1, pipe.mel_config.n_mels, 200) - 4
    bumped = mel.clone()
    bumped[..., 100] += 5.0
    with torch.no_grad():
        moved = (pipe.autoencoder.encode(bumped) - pipe.autoencoder.encode(mel)).abs().amax(dim=1)[0]
    frames = moved.nonzero().flatten()
    assert len(frames) > 0
    assert (frames * td - 100).abs().max() <= k + td
    with pytest.raises(ValueError, match="cannot bound"):
        encoder_context(nn.Sequential(nn.Conv1d(1, 1, 3), nn.ConvTranspose1d(1, 1, 2, stride=2)))


def test_variation_of_a_long_input_encodes_decodes_and_vocodes_in_chunks(pipe, monkeypatch):
    """A long input is encoded / decoded / vocoded in pieces of bounded length."""
    import audiogen.pipelines.windows as chunked

    monkeypatch.setattr(chunked, "DECODER_CHUNK_FRAMES", 16)
    monkeypatch.setattr(chunked, "VOCODER_CHUNK_FRAMES", 40)
    monkeypatch.setattr(chunked, "VOCODER_CONTEXT_FRAMES", 8)
    monkeypatch.setattr(chunked, "VOCODER_FADE_FRAMES", 4)
    seen = []
    encode, decode = pipe.autoencoder.encode, pipe.autoencoder.decode

    def seen_encode(mel, **kwargs):
        seen.append(mel.shape[-1])
        return encode(mel, **kwargs)

    def seen_decode(latent, **kwargs):
        seen.append(latent.shape[-1] * pipe.time_downsample)
        return decode(latent, **kwargs)

    monkeypatch.setattr(pipe.autoencoder, "encode", seen_encode)
    monkeypatch.setattr(pipe.autoencoder, "decode", seen_decode)
    samples = 300 * pipe.hop_length + 17
    wav = 0.1 * torch.randn(1, samples)
    result = pipe.variation(wav, pipe.sample_rate, strength=0.5, steps=2, seed=3, progress=False)
    assert result.waveforms.shape == (1, 1, samples)
    assert torch.isfinite(result.waveforms).all()
    # encoder and decoder both ran in several pieces, none of them the whole 301-frame mel
    assert len(seen) >= 6 and max(seen) < 100


def test_chunked_vocoding_length_joints_and_one_piece_for_short_mels(pipe):
    mel = torch.randn(1, pipe.mel_config.n_mels, 100) - 4
    with torch.no_grad():
        wav, joints = vocode_chunked(pipe, mel, chunk=30, context=6, fade=4)
        whole = pipe.vocoder(mel)
        short, none = vocode_chunked(pipe, mel[..., :40], chunk=30, context=6, fade=4)
        circ, circ_joints = vocode_chunked(pipe, mel, chunk=30, context=6, fade=4, circular=True)
    hop = pipe.hop_length
    assert wav.shape == whole.shape == circ.shape and joints == [30 * hop, 60 * hop, 90 * hop]
    assert none == [] and torch.equal(short, pipe.vocoder(mel[..., :40]))
    assert circ_joints[0] == 0
    # far from the joints the (convolutional) tiny vocoder's chunks equal the one-piece output
    assert torch.allclose(wav[..., 5 * hop : 25 * hop], whole[..., 5 * hop : 25 * hop], atol=1e-4)


def test_the_pipeline_picks_windows_by_length_and_is_seeded(pipe):
    kwargs = dict(seed=3, steps=3, style="flute", progress=False)
    short = pipe(0.3, 2, **kwargs)
    assert short.joints is None  # one window: no joints
    long_a = pipe(2.0, 2, window_seconds=0.4, **kwargs)
    long_b = pipe(2.0, 2, window_seconds=0.4, **kwargs)
    places = long_a.joints
    assert long_a.waveforms.shape == (2, 1, 32000) and torch.equal(long_a.waveforms, long_b.waveforms)
    assert places.window_boundaries and all(0 < p < 32000 for p in places.window_boundaries)
    one = pipe(2.0, 1, window_seconds=0.4, **{**kwargs, "seed": 4})
    assert torch.allclose(one.waveforms[0], long_a.waveforms[1], atol=1e-5)  # item i has seed + i
    loop = pipe.loop(samples=32000, window_seconds=0.4, **kwargs)
    assert loop.joints is not None and loop.joints.window_boundaries  # windows round the circle
    with pytest.raises(ValueError):
        windowed(pipe, 1.0, overlap_seconds=0.8)


def _tiny_griffin_lim(pipe):
    """A small Griffin-Lim vocoder, a 90-frame random mel, and a stand-in for the pipeline's stages
    (what :func:`vocode_chunked` reads of them)."""
    from types import SimpleNamespace

    from audiogen.models.vocoder import GLRefineConfig, GLRefineVocoder

    torch.manual_seed(0)
    vocoder = GLRefineVocoder(
        GLRefineConfig(mel=pipe.mel_config, dim=16, intermediate_dim=32, num_layers=1, gl_iters=4)
    )
    mel = torch.randn(1, pipe.mel_config.n_mels, 90) - 4
    stages = SimpleNamespace(
        vocoder=vocoder, hop_length=pipe.hop_length, vocode_circular=vocoder.vocode_circular
    )
    return vocoder, mel, stages


def test_griffin_lim_chunks_start_from_their_neighbours_phase(pipe):
    vocoder, mel, fake = _tiny_griffin_lim(pipe)
    with torch.no_grad():
        plain = vocoder.griffin_lim_spectrum(mel)
        init = torch.zeros_like(plain)
        init[..., :20] = plain[..., :20] * 1j  # phases a quarter turn away on the first frames
        started = vocoder.griffin_lim_spectrum(mel, init=init)
        wav, joints = vocode_chunked(fake, mel, chunk=30, context=6, fade=4)
        loop, loop_joints = vocode_chunked(fake, mel, chunk=30, context=6, fade=4, circular=True)
    assert torch.equal(started[..., 40:].abs(), plain[..., 40:].abs())  # same magnitudes
    assert not torch.allclose(started[..., :20], plain[..., :20], atol=1e-3)  # a different start
    assert wav.shape == (1, 1, 90 * pipe.hop_length) and joints == [
        30 * pipe.hop_length,
        60 * pipe.hop_length,
    ]
    assert bool(torch.isfinite(wav).all()) and wav.abs().max() > 0
    assert loop.shape == wav.shape and loop_joints == [0] + joints and bool(torch.isfinite(loop).all())


def test_griffin_lim_chunks_hold_the_phase_their_neighbour_rendered(pipe):
    """RTISI-LA: a chunk keeps the previous chunk's phase on the frames that chunk rendered
    (crossfade included) and moves the rest; round a circle, the last chunk also keeps the first's."""
    vocoder, mel, holder = _tiny_griffin_lim(pipe)
    with torch.no_grad():
        plain = vocoder.griffin_lim_spectrum(mel)
        init = torch.zeros_like(plain)
        init[..., :20] = plain[..., :20] * 1j
        hold = torch.arange(90) < 10
        held = vocoder.griffin_lim_spectrum(mel, init=init, hold=hold)
        moved = vocoder.griffin_lim_spectrum(mel, init=init)
    same = torch.sgn(held[..., :10]) - torch.sgn(init[..., :10])
    drift = torch.sgn(moved[..., :10]) - torch.sgn(init[..., :10])
    assert float(same.abs().max()) < 1e-5 and float(drift.abs().max()) > 0.1
    assert torch.allclose(held.abs(), moved.abs(), rtol=1e-5, atol=1e-7)  # same magnitudes

    calls = []
    analyse = vocoder.analyse

    def spy(part, circular=False, init=None, hold=None):
        out = analyse(part, circular, init, hold)
        calls.append((init, hold, out.gl_spectrum))
        return out

    vocoder.analyse = spy
    with torch.no_grad():
        vocode_chunked(holder, mel, chunk=30, context=6, fade=4)
    # chunk 0 renders frames [0, 32) with context to 38; chunk 1 spans [22, 68) with context from 22:
    # it holds 22..31 (rendered by chunk 0) and starts 32..37 from chunk 0 without holding them
    (_, hold0, first), (_, hold1, second) = calls[0], calls[1]
    assert not bool(hold0.any())
    assert hold1.nonzero().flatten().tolist() == list(range(0, 10))
    kept = torch.sgn(second[..., :10]) - torch.sgn(first[..., 22:32])
    assert float(kept.abs().max()) < 1e-5
    assert float((torch.sgn(second[..., 10:16]) - torch.sgn(first[..., 32:38])).abs().max()) > 1e-3
    calls.clear()
    with torch.no_grad():
        vocode_chunked(holder, mel, chunk=30, context=6, fade=4, circular=True)
    last_hold = calls[-1][1]  # the last chunk meets the previous one and, round the circle, the first
    assert bool(last_hold[:10].all()) and bool(last_hold[-10:].all()) and not bool(last_hold[10:-10].any())
