"""Hybrid Griffin-Lim + refiner vocoder (GLRefineVocoder): length contract, untrained output equals
fast Griffin-Lim, the stages, gradients, save/load, the recipe registry, and the circular (loop) mode."""

import math

import pytest
import torch

from audiogen.audio.features import LogMelSpectrogram
from audiogen.config import MelConfig
from audiogen.evaluation.reconstruction import mel_l1_db
from audiogen.models.discriminators import MelL1Loss
from audiogen.models.vocoder import (
    VOCODER_TYPES,
    GLRefineConfig,
    GLRefineVocoder,
    Vocoder,
    VocosVocoder,
    vocoder_spec,
)

MEL = MelConfig(sample_rate=16000, n_fft=512, hop_length=128, n_mels=40)


def tiny(**kwargs) -> GLRefineVocoder:
    fields = {"dim": 24, "intermediate_dim": 48, "num_layers": 2, "kernel_size": 5, "gl_iters": 8}
    fields.update(kwargs)
    return GLRefineVocoder(GLRefineConfig(mel=MEL, **fields)).eval()


def harmonic_clip(samples: int, f0: float = 220.0) -> torch.Tensor:
    """A decaying harmonic tone ``(1, samples)`` at 16 kHz."""
    t = torch.arange(samples) / MEL.sample_rate
    tone = sum(0.3 / h * torch.sin(2 * math.pi * f0 * h * t) for h in range(1, 6))
    return (tone * torch.exp(-2 * t))[None]


def log_mel(wave: torch.Tensor) -> torch.Tensor:
    return LogMelSpectrogram(MEL)(wave).mel


def reference_fast_griffin_lim(model: GLRefineVocoder, mel: torch.Tensor) -> torch.Tensor:
    """Fast Griffin-Lim written out with torch.stft / torch.istft (as torchaudio's griffinlim).

    Same NNLS magnitude, initial phase, zero-padded centred framing and output length as the model.
    """
    from audiogen.audio.filterbank import mel_filterbank
    from audiogen.audio.inverse import _invert_filterbank

    cfg = model.config
    frames = mel.shape[-1]
    length = frames * cfg.hop_length
    window = torch.hann_window(cfg.n_fft)
    mag = _invert_filterbank(mel.exp(), mel_filterbank(cfg.mel), cfg.nnls_steps)
    phase = torch.rand(cfg.n_freqs, frames, generator=torch.Generator().manual_seed(cfg.init_seed))
    angles = torch.polar(torch.ones_like(phase), phase * 2 * math.pi).expand_as(mag)

    def stft(x):
        return torch.stft(
            x, cfg.n_fft, cfg.hop_length, window=window, center=True, pad_mode="constant", return_complex=True
        )[..., :frames]

    def istft(spec):
        return torch.istft(spec, cfg.n_fft, cfg.hop_length, window=window, center=True, length=length)

    previous = torch.zeros_like(angles)
    for _ in range(cfg.gl_iters):
        rebuilt = stft(istft(mag * angles))
        angles = rebuilt - previous * (cfg.momentum / (1 + cfg.momentum))
        angles = angles / (angles.abs() + 1e-16)
        previous = rebuilt
    return istft(mag * angles)


def test_output_length_is_frames_times_hop_for_random_frame_counts():
    model = tiny()
    gen = torch.Generator().manual_seed(3)
    counts = [1, 2, 3] + torch.randint(4, 200, (4,), generator=gen).tolist()
    for frames in counts:
        batch = int(torch.randint(1, 3, (1,), generator=gen))
        mel = torch.randn(batch, 40, frames, generator=gen) - 4
        with torch.inference_mode():
            out = model(mel)
        assert out.shape == (batch, 1, frames * 128), frames
        assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_untrained_model_outputs_exactly_fast_griffin_lim():
    model = tiny()
    mel = log_mel(harmonic_clip(6000))
    with torch.no_grad():
        ours = model(mel)[:, 0]
    ref = reference_fast_griffin_lim(model, mel)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)
    stages = model.analyse(mel)
    torch.testing.assert_close(stages.waveform, stages.gl_waveform, rtol=0, atol=1e-6)


@pytest.mark.parametrize("circular", [False, True])
@pytest.mark.parametrize("hop_length", [128, 96])  # n_fft a multiple of the hop, and not (fold)
def test_fast_projection_equals_stft_of_istft_for_random_frame_counts(hop_length, circular):
    """The Griffin-Lim projection written as one overlap-add + strided frames equals _stft(_istft(.)),
    zero-padded or wrapped around (a loop), also for periods shorter than a window (1, 2 frames)."""
    mel = MelConfig(sample_rate=16000, n_fft=512, hop_length=hop_length, n_mels=40)
    model = GLRefineVocoder(GLRefineConfig(mel=mel, dim=8, intermediate_dim=8, num_layers=1, kernel_size=3))
    gen = torch.Generator().manual_seed(5)
    for frames in [1, 2, 5] + torch.randint(6, 120, (3,), generator=gen).tolist():
        spec = torch.polar(
            torch.rand(2, frames, 257, generator=gen), torch.rand(2, frames, 257, generator=gen) * 6.3
        )
        ours = model._project(spec, circular=circular)
        ref = model._stft(model._istft(spec.transpose(1, 2), circular=circular), frames, circular=circular)
        assert ours.shape == spec.shape, frames
        torch.testing.assert_close(ours, ref.transpose(1, 2), rtol=1e-4, atol=1e-5)


def test_griffin_lim_stage_reconstructs_the_mel_better_with_more_iterations():
    """The GL stage alone re-analyses to within 2 dB of a harmonic tone's mel; 32 iterations beat 1."""
    wave = harmonic_clip(8000)
    mel = log_mel(wave)
    errors = {}
    for iters in (1, 32):
        with torch.no_grad():
            out = tiny(gl_iters=iters)(mel)[:, 0, : wave.shape[-1]]
        errors[iters] = mel_l1_db(log_mel(out), mel)
    assert errors[32] < 2.0
    assert errors[32] < 0.7 * errors[1], errors


def test_refiner_output_is_gain_and_phase_of_the_griffin_lim_spectrum():
    model = tiny()
    with torch.no_grad():
        torch.nn.init.normal_(model.out.weight, std=0.05)
        torch.nn.init.normal_(model.out.bias, std=0.05)
    mel = log_mel(harmonic_clip(4000))
    with torch.no_grad():
        stages = model.analyse(mel)
    nonzero = stages.gl_spectrum.abs() > 0  # the NNLS magnitude is exactly 0 where no mel band reaches
    assert nonzero.float().mean() > 0.9
    gain = (stages.spectrum[nonzero] / stages.gl_spectrum[nonzero]).abs().log()
    assert gain.abs().max() <= model.config.max_log_gain + 1e-4
    assert gain.abs().max() > 1e-3  # the head now changes the spectrum
    torch.testing.assert_close(stages.waveform, model(mel))


def test_gradient_reaches_every_refiner_parameter_and_nothing_else():
    model = tiny().train()
    mel = log_mel(harmonic_clip(4000))
    target = harmonic_clip(mel.shape[-1] * 128)
    loss = (model(mel)[:, 0] - target).abs().mean()
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.out.weight.grad.abs().sum() > 0  # zero-initialised head still learns
    # after one step the backbone also gets gradient
    with torch.no_grad():
        for p in model.parameters():
            p -= 1e-2 * p.grad.sign() if p.grad is not None else 0
    model.zero_grad()
    (model(mel)[:, 0] - target).abs().mean().backward()
    assert model.embed.weight.grad.abs().sum() > 0
    assert not any(b.requires_grad for b in model.buffers())


def test_a_few_steps_reduce_the_mel_loss():
    model = tiny(dim=32, intermediate_dim=64).train()
    wave = harmonic_clip(8192)
    mel = log_mel(wave)[..., :64]
    mel_loss = MelL1Loss(MEL)
    target = wave[None]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss = mel_loss(model(mel), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.detach().item())
    assert losses[-1] < 0.8 * losses[0], losses


def test_save_load_round_trip_and_base_class_dispatch(tmp_path):
    model = tiny()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    model.save_pretrained(tmp_path / "gl")
    loaded = Vocoder.from_pretrained(tmp_path / "gl")
    assert type(loaded) is GLRefineVocoder and loaded.config == model.config
    assert not loaded.training
    mel = torch.randn(1, 40, 20) - 4
    with torch.no_grad():
        torch.testing.assert_close(loaded(mel), model(mel))
    with pytest.raises(ValueError, match="GLRefineVocoder"):
        VocosVocoder.from_pretrained(tmp_path / "gl")


def test_deep_copy_after_a_forward_gives_the_same_output():
    """EMA and the trainer deep-copy models; the cached (sparse) NNLS operators must not ride along."""
    import copy

    model = tiny()
    mel = torch.randn(1, 40, 17) - 4
    with torch.no_grad():
        first = model(mel)
        torch.testing.assert_close(copy.deepcopy(model)(mel), first)


def test_bad_input_and_config_raise_clear_errors():
    model = tiny()
    with pytest.raises(ValueError, match="n_mels=40"):
        model(torch.randn(1, 32, 10))
    with pytest.raises(ValueError, match="no frames"):
        model(torch.randn(1, 40, 0))
    with pytest.raises(ValueError, match="kernel_size"):
        GLRefineConfig(mel=MEL, kernel_size=4)
    with pytest.raises(ValueError, match="momentum"):
        GLRefineConfig(mel=MEL, momentum=1.0)
    with pytest.raises(ValueError, match="4 \\* hop_length"):
        GLRefineConfig(mel=MelConfig(n_fft=512, hop_length=256))


def test_recipe_registry_builds_each_type_and_rejects_unknown_ones():
    assert set(VOCODER_TYPES) == {"vocos", "gl_refine"}
    vocos = vocoder_spec({"dim": 16, "intermediate_dim": 32, "num_layers": 1}, MEL).build()
    assert type(vocos) is VocosVocoder
    spec = vocoder_spec({"type": "gl_refine", "gl_iters": 4, "dim": 16}, MEL)
    assert spec.type == "gl_refine" and spec.config.gl_iters == 4 and spec.config.mel == MEL
    assert type(spec.build()) is GLRefineVocoder
    with pytest.raises(ValueError, match="unknown vocoder 'hifigan'"):
        vocoder_spec({"type": "hifigan"}, MEL)
    with pytest.raises(ValueError, match="gl_iters"):
        vocoder_spec({"type": "vocos", "gl_iters": 4}, MEL)  # a GL field on the Vocos config
    with pytest.raises(ValueError, match="'mel' section"):
        vocoder_spec({"type": "gl_refine", "mel": {}}, MEL)


def test_circular_mode_is_periodic_and_inverts_a_periodic_signal():
    """vocode_circular: output is one period; its circular STFT matches the input mel closely."""
    model = tiny(gl_iters=32)
    period_frames = 24
    period = period_frames * 128
    t = torch.arange(period) / MEL.sample_rate
    # 16000 / 3072 Hz fundamental × integer harmonics → exactly periodic in `period` samples
    f0 = MEL.sample_rate / period * 40
    loop = sum(0.2 / h * torch.sin(2 * math.pi * f0 * h * t) for h in range(1, 4))[None]
    tiled = loop.repeat(1, 3)
    mel = log_mel(tiled)[..., period_frames : 2 * period_frames]  # one period, away from the edges
    with torch.no_grad():
        out = model.vocode_circular(mel)
        stages = model.analyse(mel, circular=True)
    assert out.shape == (1, 1, period)
    torch.testing.assert_close(out, stages.waveform)
    again = log_mel(out[:, 0].repeat(1, 3))[..., period_frames : 2 * period_frames]
    with torch.no_grad():
        straight = model(mel)[:, 0]  # non-circular: its ends do not meet
    seam = log_mel(straight.repeat(1, 3))[..., period_frames : 2 * period_frames]
    assert mel_l1_db(again, mel) < 0.8 * mel_l1_db(seam, mel)
    # the circular framing is exact: circular STFT ∘ circular iSTFT is the identity on a consistent spec
    spec = model._stft(loop, period_frames, circular=True)
    torch.testing.assert_close(model._istft(spec, circular=True), loop, rtol=1e-4, atol=1e-5)
