"""Tests of the STFT / mel front end (audiogen.audio.features) against librosa and against itself.

Tolerances. torchaudio's own librosa-compatibility tests (pytorch/audio,
test/torchaudio_unittest/transforms/librosa_compatibility_test_impl.py and
functional/librosa_compatibility_test_impl.py) use, for ``MelSpectrogram`` vs
``librosa.feature.melspectrogram``, ``atol=5e-4, rtol=1e-5``, and for the mel filterbank vs
``librosa.filters.mel``, ``atol=7e-5, rtol=1.3e-6``. Here the linear mel must meet torchaudio's
tolerance AND a tighter, scale-aware one (``rtol=1e-5``, ``atol=5e-7 * max|reference|``); the log mel
must agree within ``2e-3`` nats wherever the reference is clearly above the floor (the filterbank's
own tolerances are in test_filterbank.py). References are computed by librosa in float64.
"""

from __future__ import annotations

import functools
import math
import warnings

import librosa
import numpy as np
import pytest
import torch

from audiogen.audio.features import (
    STFT,
    LogMelSpectrogram,
    MelOutput,
    MelSpectrogram,
    SpectrogramOutput,
    frames_for_lengths,
)
from audiogen.config import MelConfig

TA_MEL_ATOL, TA_MEL_RTOL = 5e-4, 1e-5  # torchaudio: MelSpectrogram vs librosa
LOG_ATOL = 2e-3  # nats, where the reference is well above the floor


# ------------------------------------------------------------------------------------------------
# Test signals
# ------------------------------------------------------------------------------------------------


@functools.cache
def chirp(sample_rate: int, seconds: float = 1.0) -> np.ndarray:
    """Exponential sine sweep from 60 Hz to 0.45 * sample_rate, amplitude 0.5, float64 ``(samples,)``."""
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    f0, f1 = 60.0, 0.45 * sample_rate
    phase = 2 * np.pi * f0 * seconds / np.log(f1 / f0) * (np.exp(t / seconds * np.log(f1 / f0)) - 1)
    return 0.5 * np.sin(phase)


@functools.cache
def plucked_melody(sample_rate: int, seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """Karplus-Strong plucked-string melody with noise bursts, float64 ``(samples,)`` in [-1, 1].

    Each note is a noise-excited delay line of ``sample_rate / f0`` samples with a two-tap averaging
    loss filter (Karplus & Strong, 1983), computed one delay-line period at a time; short
    band-limited noise bursts (snare-like) are mixed in between notes.
    """
    rng = np.random.default_rng(seed)
    n = int(sample_rate * seconds)
    out = np.zeros(n)
    notes = [196.0, 246.94, 293.66, 392.0, 329.63, 440.0, 587.33, 523.25]
    step = n // len(notes)
    for i, f0 in enumerate(notes):
        delay = max(2, int(round(sample_rate / f0)))
        length = min(n - i * step, 2 * step)
        y = np.zeros(length + delay + 1)
        y[1 : delay + 1] = rng.uniform(-1, 1, delay)
        for start in range(delay + 1, len(y), delay):
            stop = min(start + delay, len(y))
            previous = y[start - delay : stop - delay] + y[start - delay - 1 : stop - delay - 1]
            y[start:stop] = 0.996 * 0.5 * previous
        out[i * step : i * step + length] += 0.3 * y[delay + 1 : delay + 1 + length]
        burst_at = i * step + step // 2
        burst_len = min(sample_rate // 40, n - burst_at)
        burst = rng.normal(0, 0.2, burst_len) * np.hanning(burst_len)
        out[burst_at : burst_at + len(burst)] += np.diff(burst, prepend=0.0)  # high-passed noise
    return np.clip(out, -1, 1)


SIGNALS = {"chirp": chirp, "plucked": plucked_melody}


def librosa_mel(y: np.ndarray, cfg: MelConfig) -> np.ndarray:
    """``librosa.feature.melspectrogram`` with ``cfg``'s settings, float64 ``(n_mels, frames)``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns when n_fft > clip length
        return librosa.feature.melspectrogram(
            y=np.asarray(y, dtype=np.float64),
            sr=cfg.sample_rate,
            n_fft=cfg.n_fft,
            hop_length=cfg.hop_length,
            win_length=cfg.win_length,
            n_mels=cfg.n_mels,
            fmin=cfg.f_min,
            fmax=cfg.f_max,
            center=cfg.center,
            pad_mode="reflect",
            power=cfg.power,
            htk=cfg.mel_scale == "htk",
            norm=cfg.norm,
        )


def assert_mel_matches_librosa(ours: np.ndarray, ref: np.ndarray, cfg: MelConfig) -> None:
    """Linear mel within torchaudio's and our tighter tolerance; log mel close above the floor."""
    assert ours.shape == ref.shape
    ours_t, ref_t = torch.from_numpy(ours), torch.from_numpy(ref)
    torch.testing.assert_close(ours_t, ref_t, atol=TA_MEL_ATOL, rtol=TA_MEL_RTOL)
    torch.testing.assert_close(ours_t, ref_t, atol=5e-7 * float(ref_t.abs().max()), rtol=1e-5)
    floor = cfg.log_floor
    above = (ref_t > 100 * floor) & (ref_t > 1e-6 * ref_t.max())
    assert above.float().mean() > 0.1, "too little of the spectrogram is above the floor to compare"
    log_ours = ours_t.clamp_min(floor).log()[above]
    log_ref = ref_t.clamp_min(floor).log()[above]
    torch.testing.assert_close(log_ours, log_ref, atol=LOG_ATOL, rtol=0)


# ------------------------------------------------------------------------------------------------
# Parity with librosa
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signal", sorted(SIGNALS))
@pytest.mark.parametrize("mel_scale", ["slaney", "htk"])
@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("n_fft", [512, 1024, 2048])
@pytest.mark.parametrize("sample_rate", [16000, 22050, 44100])
def test_log_mel_matches_librosa(sample_rate, n_fft, center, mel_scale, signal):
    cfg = MelConfig(
        sample_rate=sample_rate,
        n_fft=n_fft,
        hop_length=n_fft // 4,
        n_mels=64 if n_fft == 512 else 80,
        center=center,
        mel_scale=mel_scale,
    )
    y = SIGNALS[signal](sample_rate, 0.6)
    ref = librosa_mel(y, cfg)
    wave = torch.from_numpy(y).float()[None]
    mel = MelSpectrogram(cfg)(wave).mel[0].double().numpy()
    assert_mel_matches_librosa(mel, ref, cfg)
    log_mel = LogMelSpectrogram(cfg)(wave).mel[0].double()
    expected = torch.from_numpy(ref).clamp_min(cfg.log_floor).log()
    above = expected > math.log(100 * cfg.log_floor)
    torch.testing.assert_close(log_mel[above], expected[above], atol=LOG_ATOL, rtol=0)
    # at and near the floor both sides are clamped to ln(log_floor), give or take float32 noise
    assert (log_mel >= math.log(cfg.log_floor) - 1e-6).all()


@pytest.mark.parametrize(
    "overrides",
    [
        {"power": 2.0},
        {"norm": None},
        {"power": 2.0, "norm": None, "mel_scale": "htk"},
        {"f_min": 55.0, "f_max": 7600.0},
        {"win_length": 800},  # window shorter than n_fft: time-domain window path
        {"hop_length": 160, "n_fft": 400, "n_mels": 40},  # odd frames per hop, n_fft not a power of 2
    ],
    ids=["power2", "norm_none", "power2_htk_nonorm", "fmin_fmax", "win_length", "n_fft400"],
)
@pytest.mark.parametrize("center", [True, False])
def test_mel_variants_match_librosa(overrides, center):
    cfg = MelConfig(**{"sample_rate": 22050, "center": center, **overrides})
    y = plucked_melody(cfg.sample_rate)
    ref = librosa_mel(y, cfg)
    ours = MelSpectrogram(cfg)(torch.from_numpy(y).float()[None]).mel[0].double().numpy()
    assert_mel_matches_librosa(ours, ref, cfg)


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("win_length", [None, 600])
def test_stft_matches_librosa(center, win_length):
    cfg = MelConfig(sample_rate=16000, n_fft=1024, hop_length=256, win_length=win_length, center=center)
    y = plucked_melody(16000, 0.5)
    ref = librosa.stft(
        y, n_fft=1024, hop_length=256, win_length=win_length, center=center, pad_mode="reflect"
    )
    out = STFT(cfg)(torch.from_numpy(y).float()[None])
    assert out.spec.dtype == torch.complex64
    ours = out.spec[0].to(torch.complex128)
    ref_t = torch.from_numpy(ref)
    torch.testing.assert_close(ours, ref_t, atol=1e-6 * float(ref_t.abs().max()), rtol=1e-5)
    mag = STFT(cfg, output="magnitude")(torch.from_numpy(y).float()[None]).spec[0]
    power = STFT(cfg, output="power")(torch.from_numpy(y).float()[None]).spec[0]
    torch.testing.assert_close(mag, out.spec[0].abs(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(power, out.spec[0].abs() ** 2, atol=1e-5, rtol=1e-5)


def test_short_clip_reflect_padding_matches_numpy():
    """A clip shorter than n_fft // 2 is reflect-padded like np.pad (reflection repeats)."""
    cfg = MelConfig(sample_rate=16000, n_fft=512, hop_length=128, n_mels=40)
    y = chirp(16000)[1000:1100]  # 100 samples < 256
    ours = MelSpectrogram(cfg)(torch.from_numpy(y).float()[None]).mel[0].double().numpy()
    ref = librosa_mel(y, cfg)
    assert ours.shape == ref.shape
    torch.testing.assert_close(torch.from_numpy(ours), torch.from_numpy(ref), atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------------------------------------
# Variable lengths: packed (host lengths) and padded (device lengths) paths
# ------------------------------------------------------------------------------------------------


def _librosa_frames(length: int, cfg: MelConfig) -> int:
    """Frame count librosa gives a clip of ``length`` samples (0 where librosa refuses)."""
    if not cfg.center and length < cfg.n_fft:
        return 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = librosa.stft(
            np.zeros(length), n_fft=cfg.n_fft, hop_length=cfg.hop_length, center=cfg.center
        )
    return spec.shape[1]


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("n_fft, hop_length", [(1024, 256), (512, 160), (400, 100)])
def test_frames_for_lengths_matches_librosa(center, n_fft, hop_length):
    cfg = MelConfig(n_fft=n_fft, hop_length=hop_length, center=center)
    lengths = torch.tensor([2, 150, 399, 400, 401, 511, 512, 513, 1023, 1024, 1025, 4000, 22050])
    expected = torch.tensor([_librosa_frames(int(n), cfg) for n in lengths])
    got = frames_for_lengths(lengths, cfg)
    assert got.dtype == torch.long
    assert torch.equal(got, expected)
    if center:
        assert torch.equal(got, 1 + lengths // hop_length)  # even n_fft


def _random_batch(cfg: MelConfig, batch: int, channels: int | None, seed: int):
    """Zero-padded batch of random-length plucked/chirp clips, their lengths (host list) and the clips."""
    gen = torch.Generator().manual_seed(seed)
    samples = int(0.6 * cfg.sample_rate)
    lengths = torch.randint(cfg.n_fft // 4, samples, (batch,), generator=gen)
    lengths[0] = samples  # one full-length clip
    lengths[1] = 100  # shorter than n_fft // 2: reflection wraps; no frame without centring
    shape = (batch, channels, samples) if channels else (batch, samples)
    base = torch.from_numpy(plucked_melody(cfg.sample_rate, 0.6)[:samples]).float()
    wave = base * (0.5 + torch.rand(shape, generator=gen)) + 0.05 * torch.randn(shape, generator=gen)
    valid = torch.arange(samples) < lengths[:, None]
    wave = wave * (valid[:, None] if channels else valid)
    return wave, lengths


@pytest.mark.parametrize("channels", [None, 2])
@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("path", ["packed", "padded"])
@pytest.mark.parametrize("module_cls", [LogMelSpectrogram, MelSpectrogram, STFT])
def test_variable_lengths_match_single_clips(module_cls, path, center, channels):
    cfg = MelConfig(sample_rate=16000, n_fft=512, hop_length=128, n_mels=40, center=center)
    module = module_cls(cfg, pack_lengths=path == "packed")
    wave, lengths = _random_batch(cfg, batch=4, channels=channels, seed=1 if center else 2)
    # host lengths for the packed path; the padded path is what device-resident lengths take
    out = module(wave, lengths.tolist() if path == "packed" else lengths)
    values = out.spec if module_cls is STFT else out.mel
    silence = math.log(cfg.log_floor) if module_cls is LogMelSpectrogram else 0.0
    max_frames = frames_for_lengths(torch.tensor(wave.shape[-1]), cfg).item()
    lead = (4, channels) if channels else (4,)
    dim = cfg.n_freqs if module_cls is STFT else cfg.n_mels
    assert values.shape == (*lead, dim, max_frames)
    assert torch.equal(out.frames, frames_for_lengths(lengths, cfg))
    assert out.frames[1] == (1 + 100 // 128 if center else 0)
    for i, length in enumerate(lengths.tolist()):
        n = int(out.frames[i])
        assert n == _librosa_frames(length, cfg)
        assert (values[i, ..., n:] == silence).all(), "frames past the valid count must be silence"
        if n == 0:
            continue
        alone = module(wave[i : i + 1, ..., :length])
        expected = alone.spec if module_cls is STFT else alone.mel
        assert expected.shape[-1] == n
        scale = float(expected.abs().max())
        torch.testing.assert_close(values[i : i + 1, ..., :n], expected, atol=1e-6 * scale, rtol=1e-5)


@pytest.mark.parametrize("center", [True, False])
def test_packed_and_padded_paths_agree(center):
    cfg = MelConfig(sample_rate=16000, n_fft=512, hop_length=128, n_mels=40, center=center)
    wave, lengths = _random_batch(cfg, batch=6, channels=None, seed=3)
    lengths[2] = 0  # an empty clip
    packed = LogMelSpectrogram(cfg)(wave, lengths)  # CPU tensor: host lengths, packed
    padded = LogMelSpectrogram(cfg, pack_lengths=False)(wave, lengths)
    assert torch.equal(packed.frames, padded.frames)
    torch.testing.assert_close(packed.mel, padded.mel, atol=2e-4, rtol=1e-5)
    assert (packed.mel[2] == math.log(cfg.log_floor)).all()


def test_full_lengths_equal_no_lengths():
    cfg = MelConfig(sample_rate=16000, n_fft=512, hop_length=128, n_mels=40)
    wave = torch.from_numpy(np.stack([chirp(16000)[:8000], plucked_melody(16000)[:8000]])).float()
    a = MelSpectrogram(cfg)(wave)
    b = MelSpectrogram(cfg, pack_lengths=False)(wave, torch.tensor([8000, 8000]))
    torch.testing.assert_close(a.mel, b.mel)
    assert torch.equal(a.frames, torch.tensor([63, 63]))


@pytest.mark.parametrize("win_length", [None, 400])
@pytest.mark.parametrize("pack_lengths", [True, False])
@pytest.mark.parametrize("module_cls", [LogMelSpectrogram, MelSpectrogram, STFT])
def test_block_size_does_not_change_the_output(module_cls, pack_lengths, win_length):
    # On the CPU the FFT and the features run over blocks of chunk_frames frames: parts of one clip
    # (blocks shorter than a clip) or several whole clips (longer blocks); every size gives the
    # same numbers as one block over everything.
    cfg = MelConfig(sample_rate=16000, n_fft=512, hop_length=128, n_mels=40, win_length=win_length)
    wave, lengths = _random_batch(cfg, batch=5, channels=2, seed=6)
    module = module_cls(cfg, pack_lengths=pack_lengths)
    module.chunk_frames = 10**9
    reference = module(wave, lengths)
    for chunk_frames in (1, 7, 40, 300):
        module.chunk_frames = chunk_frames
        out = module(wave, lengths)
        values, expected = (out.spec, reference.spec) if module_cls is STFT else (out.mel, reference.mel)
        torch.testing.assert_close(values, expected, atol=1e-6 * float(expected.abs().max()), rtol=1e-5)
        assert torch.equal(out.frames, reference.frames)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("host_lengths", [True, False])
def test_cuda_matches_cpu_without_host_sync(host_lengths):
    cfg = MelConfig()
    wave, lengths = _random_batch(cfg, batch=3, channels=2, seed=5)
    module = MelSpectrogram(cfg)
    ref = module(wave, lengths)
    module = module.cuda()
    wave_d = wave.cuda()
    lengths_in = lengths if host_lengths else lengths.cuda()
    module(wave_d, lengths_in)  # warm-up (cuFFT plans)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any blocking host-device sync raises
    try:
        out = module(wave_d, lengths_in)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert out.mel.device.type == "cuda" and out.frames.device.type == "cuda"
    torch.testing.assert_close(out.mel.cpu(), ref.mel, atol=1e-5 * float(ref.mel.max()), rtol=1e-4)
    assert torch.equal(out.frames.cpu(), ref.frames)


# ------------------------------------------------------------------------------------------------
# Autocast, buffers
# ------------------------------------------------------------------------------------------------


def test_autocast_bfloat16_keeps_float32():
    cfg = MelConfig()
    wave, lengths = _random_batch(cfg, batch=3, channels=None, seed=4)
    module = LogMelSpectrogram(cfg)
    reference = module(wave, lengths).mel
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = module(wave, lengths)
        out_bf16_input = module(wave.bfloat16(), lengths)
    assert out.mel.dtype == torch.float32 and out_bf16_input.mel.dtype == torch.float32
    torch.testing.assert_close(out.mel, reference)  # FFT and filterbank ran in float32
    # a bfloat16 waveform (8-bit mantissa) only perturbs the log-mel slightly where there is energy
    loud = reference > math.log(1e-2)
    assert (out_bf16_input.mel - reference)[loud].abs().mean() < 0.02


def test_buffers_are_non_persistent_and_move_with_module():
    module = LogMelSpectrogram(MelConfig())
    names = {name for name, _ in module.named_buffers()}
    assert {"window", "filterbank", "filterbank_t"} <= names
    assert module.state_dict() == {}
    module = module.double()  # buffers change dtype; analysis still runs in float32
    out = module(torch.randn(1, 4000))
    assert out.mel.dtype == torch.float32 and torch.isfinite(out.mel).all()


# ------------------------------------------------------------------------------------------------
# Shapes and bad inputs
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shape_contracts(seed):
    cfg = MelConfig(sample_rate=16000, n_fft=512, hop_length=128, n_mels=40)
    gen = torch.Generator().manual_seed(seed)
    batch = int(torch.randint(1, 5, (1,), generator=gen))
    channels = int(torch.randint(1, 4, (1,), generator=gen))
    samples = int(torch.randint(1, 6000, (1,), generator=gen))
    lengths = torch.randint(0, samples + 1, (batch,), generator=gen)
    frames = int(frames_for_lengths(torch.tensor(samples), cfg))
    mono = LogMelSpectrogram(cfg)(torch.randn(batch, samples, generator=gen), lengths)
    assert isinstance(mono, MelOutput)
    assert mono.mel.shape == (batch, 40, frames) and mono.mel.dtype == torch.float32
    assert mono.frames.shape == (batch,) and mono.frames.dtype == torch.long
    assert (mono.frames <= frames).all()
    multi = MelSpectrogram(cfg)(torch.randn(batch, channels, samples, generator=gen), lengths)
    assert multi.mel.shape == (batch, channels, 40, frames)
    spec = STFT(cfg)(torch.randn(batch, channels, samples, generator=gen))
    assert isinstance(spec, SpectrogramOutput)
    assert spec.spec.shape == (batch, channels, cfg.n_freqs, frames)
    assert torch.equal(spec.frames, torch.full((batch,), frames))


def test_no_frames_without_centring_gives_empty_output():
    cfg = MelConfig(sample_rate=16000, n_fft=512, hop_length=128, n_mels=40, center=False)
    out = LogMelSpectrogram(cfg)(torch.randn(2, 300), [300, 10])
    assert out.mel.shape == (2, 40, 0) and torch.equal(out.frames, torch.tensor([0, 0]))


@pytest.mark.parametrize(
    "waveform, lengths, match",
    [
        (torch.randn(100), None, "dims"),
        (torch.randn(1, 1, 1, 100), None, "dims"),
        (torch.ones(2, 100, dtype=torch.long), None, "floating point"),
        (torch.randn(2, 0), None, "0 samples"),
        (torch.randn(2, 100), torch.tensor([100]), "one entry per clip"),
        (torch.randn(2, 100), torch.tensor([[100, 100]]), "one entry per clip"),
        (torch.randn(2, 100), torch.tensor([50, 101]), r"\[0, samples=100\]"),
        (torch.randn(2, 100), torch.tensor([-1, 50]), r"\[0, samples=100\]"),
        (torch.randn(2, 100), [50, 120], r"\[0, samples=100\]"),
        (torch.randn(2, 100), [50], "2 clips"),
        (torch.randn(2, 100), torch.tensor([50.0, 60.0]), "integer"),
        ("not a tensor", None, "torch.Tensor"),
    ],
)
def test_bad_inputs_raise(waveform, lengths, match):
    module = LogMelSpectrogram(MelConfig(sample_rate=16000, n_fft=512, hop_length=128, n_mels=40))
    with pytest.raises(ValueError, match=match):
        module(waveform, lengths)
    with pytest.raises(ValueError, match="LogMelSpectrogram"):
        module(waveform, lengths)


def test_bad_arguments_raise():
    cfg = MelConfig()
    with pytest.raises(ValueError, match="output"):
        STFT(cfg, output="phase")
    with pytest.raises(ValueError, match="MelConfig"):
        MelSpectrogram({"sample_rate": 22050})
    with pytest.raises(ValueError, match="integer tensor"):
        frames_for_lengths(torch.tensor([1.5]), cfg)
