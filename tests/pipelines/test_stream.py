"""Streaming: chunked decode and vocode against offline decoding, determinism, schedules, bounded
state (tiny random-weight stages)."""

import itertools

import pytest
import torch

from audiogen.pipelines.stream import StreamingDecoder, StreamingVocoder
from audiogen.pipelines.stream_latent import parse_schedule
from audiogen.pipelines.windows import vocode_chunked
from tests.models.test_sequence import make_model
from tests.pipelines.test_audiogen import make_tiny_pipeline


@pytest.fixture(scope="module")
def pipe():
    return make_tiny_pipeline()


@pytest.fixture(scope="module")
def model():
    return make_model()  # latent_dim 4, styles piano / flute, as the tiny pipeline


def _push_all(streamer, x: torch.Tensor, piece: int) -> torch.Tensor:
    out = []
    for i in range(0, x.shape[-1], piece):
        out += streamer.push(x[..., i : i + piece])
    return torch.cat(out + streamer.finish(), dim=-1)


@pytest.mark.parametrize("frames, piece, first", [(97, 2, 4), (40, 3, None), (9, 1, 2)])
def test_chunked_decode_equals_whole_decode(pipe, frames, piece, first):
    latent = torch.randn(1, 4, frames)
    decoder = StreamingDecoder(pipe.autoencoder, pipe.decoder_context, chunk=16, first_chunk=first)
    streamed = _push_all(decoder, latent, piece)
    with torch.no_grad():
        whole = pipe.autoencoder.decode(latent)
    assert streamed.shape == whole.shape
    torch.testing.assert_close(streamed, whole, atol=1e-5, rtol=1e-4)
    assert decoder.buffer.shape[-1] <= 16 + 2 * pipe.decoder_context  # bounded state


def _gl_vocoder(pipe):
    from audiogen.models.vocoder import GLRefineConfig, GLRefineVocoder

    torch.manual_seed(0)
    return GLRefineVocoder(
        GLRefineConfig(mel=pipe.mel_config, dim=16, intermediate_dim=32, num_layers=1, gl_iters=4)
    )


@pytest.mark.parametrize("kind", ["vocos", "griffin-lim"])
def test_streamed_vocoding_equals_offline_chunked_vocoding(pipe, kind):
    """The stream renders the same chunks as :func:`vocode_chunked` (the offline joins without seams).

    Griffin-Lim couples every frame it renders, so no chunked rendering equals one-piece vocoding;
    the streamed chunks start from their neighbour's phase, as the offline ones do, and match them.
    """
    vocoder = pipe.vocoder if kind == "vocos" else _gl_vocoder(pipe)
    holder = type("P", (), {"vocoder": vocoder, "hop_length": pipe.hop_length})()
    mel = torch.randn(1, pipe.mel_config.n_mels, 32 * 5 + 24) - 4
    offline, joints = vocode_chunked(holder, mel, chunk=32, context=8, fade=8)
    streamer = StreamingVocoder(vocoder, pipe.hop_length, chunk=32, context=8, fade=8)
    streamed = _push_all(streamer, mel, 5)
    assert len(joints) == 5 and streamed.shape == offline[0].shape
    torch.testing.assert_close(streamed, offline[0], atol=1e-5, rtol=1e-4)
    assert streamer.mel.shape[-1] <= 32 + 8 + 2 * 8  # bounded state


def _take(chunks, seconds, rate):
    out = torch.cat(list(chunks), dim=-1)
    assert out.shape == (1, round(seconds * rate))
    return out


def test_stream_is_deterministic_for_a_seed(pipe, model):
    a = _take(pipe.stream(style="piano", seconds=1.5, seed=3, sequence=model), 1.5, pipe.sample_rate)
    b = _take(pipe.stream(style="piano", seconds=1.5, seed=3, sequence=model), 1.5, pipe.sample_rate)
    c = _take(pipe.stream(style="piano", seconds=1.5, seed=4, sequence=model), 1.5, pipe.sample_rate)
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert torch.isfinite(a).all()


def test_head_temperature_scales_the_heads_starting_noise(pipe, model):
    import dataclasses

    from audiogen.pipelines.stream_latent import latent_stream

    schedule = parse_schedule("piano", list(model.config.class_labels), 4.0)

    def tokens(m, **kw):
        it = latent_stream(m, schedule, seed=3, **kw)
        return torch.cat([next(it) for _ in range(6)], dim=-1)

    plain, warm = tokens(model), tokens(model, temperature=1.5)
    assert not torch.allclose(plain, warm)
    # the first token: the head's Euler steps from 1.5 x the same noise
    style = schedule.weights(0.0, list(model.config.class_labels))[None]
    state = model.begin(1, style)
    noise = torch.randn(1, model.config.token_dim, generator=torch.Generator().manual_seed(3))
    first = model.frames(model.sample_token(state, 1.5 * noise, style)[:, None])
    torch.testing.assert_close(warm[..., : model.config.frames_per_step], first)
    # the model's own default is used when none is given
    hot = make_model(dataclasses.replace(model.config, head_temperature=1.5))
    torch.testing.assert_close(tokens(hot), warm)
    rate = pipe.sample_rate
    a = _take(pipe.stream(1.0, style="piano", seed=3, head_temperature=1.5, sequence=model), 1.0, rate)
    b = _take(pipe.stream(1.0, style="piano", seed=3, sequence=hot), 1.0, rate)
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="head_temperature"):
        pipe.stream(1.0, style="piano", head_temperature=0.0, sequence=model)


def test_stream_takes_a_sampling_config(pipe, model):
    from audiogen import SamplingConfig
    from audiogen.errors import InputError

    rate = pipe.sample_rate
    sampling = SamplingConfig(seed=3, style="piano", cfg_scale=2.0, steps=1)
    a = _take(pipe.stream(1.0, sampling, sequence=model), 1.0, rate)
    b = _take(pipe.stream(1.0, style="piano", seed=3, cfg_scale=2.0, head_steps=1, sequence=model), 1.0, rate)
    c = _take(pipe.stream(1.0, sampling, head_steps=2, sequence=model), 1.0, rate)  # head_steps over steps
    assert torch.equal(a, b) and not torch.allclose(a, c)
    with pytest.raises(InputError, match="--seed"):
        pipe.stream(1.0, sampling, seed=-1, sequence=model)
    with pytest.raises(InputError, match="negative style"):
        pipe.stream(1.0, sampling, negative_style="flute", sequence=model)


def test_endless_stream_yields_chunks_while_generating(pipe, model):
    chunks = pipe.stream(style="piano@0,flute@0.5", seed=0, sequence=model, fade_seconds=0.2)
    first = list(itertools.islice(chunks, 6))
    assert all(c.shape[0] == 1 and c.shape[-1] > 0 for c in first)


def test_prompt_is_continued(pipe, model):
    t = torch.arange(pipe.sample_rate) / pipe.sample_rate
    tone = 0.3 * torch.sin(2 * torch.pi * 440 * t)[None]
    plain = _take(pipe.stream(style="flute", seconds=1, sequence=model), 1, pipe.sample_rate)
    prompted = pipe.stream(style="flute", seconds=1, sequence=model, prompt=(tone, pipe.sample_rate))
    assert not torch.allclose(plain, _take(prompted, 1, pipe.sample_rate))


def test_schedule_parsing_and_crossfade():
    labels = ["organ", "strings", "piano"]
    schedule = parse_schedule("organ@0, strings@90", labels, fade_seconds=4)
    assert schedule.styles == ("organ", "strings") and schedule.times == (0.0, 90.0)
    assert torch.equal(schedule.weights(10, labels), torch.tensor([1.0, 0, 0, 0]))
    assert torch.allclose(schedule.weights(91, labels), torch.tensor([0.75, 0.25, 0, 0]))
    assert torch.equal(schedule.weights(95, labels), torch.tensor([0.0, 1, 0, 0]))
    assert parse_schedule("piano", labels).times == (0.0,)
    assert parse_schedule(None, labels).styles == (None,)
    for text, message in [
        ("organ@0,violin@5", "unknown style 'violin'"),
        ("organ@0,strings@90,piano@30", "times must increase"),
        ("organ@5", "must start at 0"),
        ("organ@0,strings@soon", "time in seconds"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_schedule(text, labels)


def test_stream_argument_errors(pipe, model, tmp_path):
    from audiogen.audio.probe import AudioLoadError

    with pytest.raises(ValueError, match="unknown style 'organ'"):
        pipe.stream(style="organ", sequence=model)
    with pytest.raises(ValueError, match="seconds must be a positive"):
        pipe.stream(style="piano", seconds=0, sequence=model)
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(AudioLoadError):
        pipe.stream(style="piano", prompt=tmp_path / "text.wav", sequence=model)
    with pytest.raises(FileNotFoundError, match="audiogen train sequence"):
        pipe.stream(style="piano", sequence=tmp_path)
