"""Tests for audiogen.audio.io: round trips through every format, loading with resampling and channel
conversion, windows, atomic writing, and one AudioLoadError per kind of bad file. All files are made
here. Header probing is tested in test_probe.py, resampling and channel conversion in test_resample.py."""

from __future__ import annotations

import math
import os
import pickle
import re

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogen.audio.io import (
    Audio,
    AudioLoadError,
    load_audio,
    probe_audio,
    save_audio,
)
from tests.audio.lossy_files import overstated_mp3, overstated_ogg

# One MPEG-1 Layer III frame: the most an MP3 length may differ by (encoder delay / padding).
MP3_FRAME = 1152


def tones(sample_rate: int, seconds: float, freqs: list[float], peak: float = 0.9) -> np.ndarray:
    """(channels, samples) float32: channel c is a sine at freqs[c] Hz plus a little noise, so the
    samples do not sit on any quantisation grid; |x| <= peak."""
    rng = np.random.default_rng(1234)
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    chans = [0.8 * np.sin(2 * np.pi * f * t + 0.3) + 0.1 * rng.uniform(-1, 1, t.shape) for f in freqs]
    x = np.stack(chans)
    return (peak * x / np.abs(x).max()).astype(np.float32)


def peak_frequency(x: np.ndarray, sample_rate: int) -> float:
    """Frequency in Hz of the largest magnitude-spectrum bin of a 1-D signal (Hann window)."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sample_rate)[np.argmax(spectrum)])


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


# ---------------------------------------------------------------------------------------------
# round trips

# (suffix, subtype, bits of an integer subtype or None for float)
LOSSLESS = [
    ("wav", "PCM_16", 16),
    ("wav", "PCM_24", 24),
    ("wav", "PCM_32", 32),
    ("wav", "FLOAT", None),
    ("wav", "DOUBLE", None),
    ("flac", "PCM_16", 16),
    ("flac", "PCM_24", 24),
    ("aiff", "PCM_16", 16),
    ("aiff", "PCM_24", 24),
]
EXPECTED_FORMAT = {"wav": "WAV", "flac": "FLAC", "aiff": "AIFF", "ogg": "OGG", "mp3": "MP3"}


@pytest.mark.parametrize("channels,sample_rate", [(1, 16000), (2, 44100), (2, 48000)])
@pytest.mark.parametrize("suffix,subtype,bits", LOSSLESS, ids=[f"{s}-{t}" for s, t, _ in LOSSLESS])
def test_lossless_round_trip(tmp_path, suffix, subtype, bits, channels, sample_rate):
    peak = 0.9
    x = tones(sample_rate, 0.2, [440.0, 1234.5][:channels], peak=peak)
    path = save_audio(tmp_path / f"clip.{suffix}", torch.from_numpy(x), sample_rate, subtype=subtype)

    info = probe_audio(path)
    assert (info.sample_rate, info.channels, info.frames) == (sample_rate, channels, x.shape[1])
    assert (info.format, info.subtype) == (EXPECTED_FORMAT[suffix], subtype)

    audio = load_audio(path)
    assert audio.sample_rate == sample_rate
    assert audio.waveform.dtype == torch.float32
    assert tuple(audio.waveform.shape) == x.shape
    error = np.abs(audio.waveform.numpy() - x).max()
    if bits is None:
        assert error == 0.0  # float32 data stored as FLOAT/DOUBLE comes back bit-exact
    else:
        # libsndfile writes round(x * (2**(bits-1) - 1)) and reads back / 2**(bits-1): at most
        # (|x| + 0.5) LSB, plus float32 rounding (2**-24 relative) for 32-bit.
        lsb = 2.0 ** -(bits - 1)
        assert error <= 1.01 * (peak + 0.5) * lsb + 2.0**-24
        assert error > 0.0 or bits == 32  # data were really quantised, i.e. the file was written as asked


@pytest.mark.parametrize(
    "suffix,channels,sample_rate",
    [("ogg", 1, 22050), ("ogg", 2, 44100), ("mp3", 1, 22050), ("mp3", 2, 44100), ("mp3", 1, 16000)],
)
def test_lossy_round_trip(tmp_path, suffix, channels, sample_rate):
    freqs = [440.0, 1500.0][:channels]
    x = tones(sample_rate, 0.5, freqs, peak=0.7)
    path = save_audio(tmp_path / f"clip.{suffix}", x, sample_rate)

    info = probe_audio(path)
    assert info.format == EXPECTED_FORMAT[suffix]
    assert info.subtype == ("VORBIS" if suffix == "ogg" else "MPEG_LAYER_III")
    audio = load_audio(path)
    y = audio.waveform.numpy()
    assert audio.sample_rate == sample_rate and y.shape[0] == channels
    assert y.dtype == np.float32
    assert abs(y.shape[1] - x.shape[1]) <= (MP3_FRAME if suffix == "mp3" else 0)
    n = min(y.shape[1], x.shape[1])
    for c, f in enumerate(freqs):
        assert corr(x[c, :n], y[c, :n]) > 0.98, f"channel {c} does not match"
        assert abs(peak_frequency(y[c], sample_rate) - f) <= 2 * sample_rate / y.shape[1]
    if channels == 2:  # channels are not swapped or mixed
        assert abs(corr(x[0, :n], y[1, :n])) < 0.1


# ---------------------------------------------------------------------------------------------
# resampling and channels


def test_load_audio_resamples(tmp_path):
    x = tones(44100, 0.5, [1000.0, 3000.0])
    path = save_audio(tmp_path / "hi.flac", x, 44100)
    audio = load_audio(path, sample_rate=22050)
    assert audio.sample_rate == 22050
    assert tuple(audio.waveform.shape) == (2, x.shape[1] // 2)
    assert audio.waveform.dtype == torch.float32
    assert peak_frequency(audio.waveform[0].numpy(), 22050) == pytest.approx(1000.0, abs=4.0)
    assert peak_frequency(audio.waveform[1].numpy(), 22050) == pytest.approx(3000.0, abs=4.0)


def test_load_audio_converts_channels(tmp_path):
    x = tones(16000, 0.25, [440.0, 880.0])
    stereo_path = save_audio(tmp_path / "s.wav", x, 16000, subtype="FLOAT")
    mono = load_audio(stereo_path, channels=1)
    assert tuple(mono.waveform.shape) == (1, x.shape[1])
    assert np.allclose(mono.waveform[0].numpy(), x.mean(axis=0), atol=1e-7)

    mono_path = save_audio(tmp_path / "m.wav", x[0], 16000, subtype="FLOAT")
    both = load_audio(mono_path, sample_rate=8000, channels=2)
    assert tuple(both.waveform.shape) == (2, x.shape[1] // 2) and both.sample_rate == 8000
    assert torch.equal(both.waveform[0], both.waveform[1])


# ---------------------------------------------------------------------------------------------
# windows


@pytest.mark.parametrize("suffix", ["wav", "flac", "ogg", "mp3"])
def test_offset_and_duration_read_the_window(tmp_path, suffix):
    sample_rate = 16000
    x = tones(sample_rate, 1.0, [440.0, 660.0])
    path = save_audio(tmp_path / f"w.{suffix}", x, sample_rate)
    full = load_audio(path).waveform

    window = load_audio(path, offset=0.25, duration=0.5)
    assert tuple(window.waveform.shape) == (2, 8000)
    assert torch.allclose(window.waveform, full[:, 4000:12000], atol=1e-6)

    tail = load_audio(path, offset=0.75)  # no duration: to the end
    assert torch.allclose(tail.waveform, full[:, 12000:], atol=1e-6)
    past_end = load_audio(path, offset=0.9, duration=5.0)  # cut at the end of the file
    assert past_end.samples == full.shape[1] - 14400


def test_window_arguments_are_checked(tmp_path):
    path = save_audio(tmp_path / "a.wav", tones(8000, 0.5, [300.0]), 8000)
    with pytest.raises(ValueError, match=r"a\.wav.*past the end"):
        load_audio(path, offset=0.5)
    with pytest.raises(ValueError, match=r"a\.wav.*offset"):
        load_audio(path, offset=-0.1)
    with pytest.raises(ValueError, match=r"a\.wav.*duration"):
        load_audio(path, duration=0.0)
    with pytest.raises(ValueError, match=r"a\.wav.*shorter than one sample"):
        load_audio(path, duration=1e-5)
    with pytest.raises(ValueError, match=r"a\.wav.*sample_rate"):
        load_audio(path, sample_rate=0)
    with pytest.raises(ValueError, match=r"a\.wav.*channels"):
        load_audio(path, channels=0)


# ---------------------------------------------------------------------------------------------
# bad files


def assert_load_error(path, reason_pattern: str) -> AudioLoadError:
    with pytest.raises(AudioLoadError) as caught:
        load_audio(path)
    err = caught.value
    assert err.path == path
    assert str(err) == f"{path}: {err.reason}"
    assert path.name in str(err)
    assert re.search(reason_pattern, err.reason), err.reason
    return err


def cut_in_half(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_missing_file(tmp_path):
    assert_load_error(tmp_path / "nowhere.wav", r"^file does not exist$")
    with pytest.raises(AudioLoadError, match="file does not exist"):
        probe_audio(tmp_path / "nowhere.wav")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.touch()
    assert_load_error(path, r"^empty file \(0 bytes\)$")


def test_directory(tmp_path):
    path = tmp_path / "folder.wav"
    path.mkdir()
    assert_load_error(path, r"directory")


def test_text_renamed_wav(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("these are not the samples you are looking for\n" * 20)
    assert_load_error(path, r"^not an audio file or unsupported format \(libsndfile: .+\)$")


def test_truncated_flac(tmp_path):
    path = cut_in_half(save_audio(tmp_path / "half.flac", tones(22050, 1.0, [440.0, 550.0]), 22050))
    err = assert_load_error(
        path, r"^truncated or corrupt: decoding (failed|stopped) after \d+ of 22050 frames"
    )
    decoded = int(re.search(r"after (\d+) of", err.reason).group(1))
    assert decoded < 22050


@pytest.mark.parametrize("suffix", ["wav", "aiff"])
def test_truncated_wav_and_aiff(tmp_path, suffix):
    path = cut_in_half(save_audio(tmp_path / f"half.{suffix}", tones(16000, 1.0, [440.0]), 16000))
    pattern = r"^truncated or corrupt: the header declares 16000 frames but the file holds only \d+"
    assert_load_error(path, pattern)
    with pytest.raises(AudioLoadError, match="header declares 16000 frames"):
        probe_audio(path)


def test_truncated_lossy(tmp_path):
    mp3 = cut_in_half(save_audio(tmp_path / "half.mp3", tones(22050, 1.0, [440.0]), 22050))
    assert_load_error(mp3, r"^truncated or corrupt: decoding (failed|stopped) after \d+ of 22050 frames")
    ogg = cut_in_half(save_audio(tmp_path / "half.ogg", tones(22050, 1.0, [440.0]), 22050))
    # libsndfile either fails to open the cut OGG or finds no complete last page and reports 0 frames
    assert_load_error(ogg, r"^truncated or corrupt|^no audio samples .*may be truncated")


def test_mp3_decoding_short_of_its_header_within_tolerance_loads_what_decodes(tmp_path):
    """A header that overstates the length by ~0.1 % (one MPEG frame in 20 s, as real MP3s do)."""
    path, declared, decoded = overstated_mp3(tmp_path / "long.mp3", 20.0)
    assert 0 < declared - decoded < 0.002 * declared
    info = probe_audio(path)
    assert info.frames == declared and declared - decoded <= info.length_tolerance
    audio = load_audio(path)
    assert audio.samples == decoded  # the decoded length, not the header's
    assert load_audio(path, sample_rate=16000).samples == math.ceil(decoded * 16000 / 22050)
    # a window running past the decoded end is cut there; one starting past it is a bad offset
    tail = load_audio(path, offset=(decoded - 1000) / 22050, duration=1.0)
    assert tail.samples == 1000
    assert float(tail.waveform.abs().max()) > 0.1  # audio, not padding (MP3 seeks are not sample-exact)
    with pytest.raises(ValueError, match=r"long\.mp3: frame \d+ is past the end of the audio"):
        load_audio(path, offset=(decoded + declared) / 2 / 22050)


@pytest.mark.parametrize("subtype,sample_rate", [("VORBIS", 44100), ("OPUS", 48000)])
def test_ogg_decoding_short_of_its_last_granule_position_within_tolerance_loads(
    tmp_path, subtype, sample_rate
):
    path, declared, decoded = overstated_ogg(tmp_path / "x.ogg", 3.0, sample_rate, subtype, 1000)
    assert 0 < declared - decoded <= 1000 and probe_audio(path).length_tolerance >= 1000
    assert load_audio(path).samples == decoded
    # 2 s too many: beyond the 1 s tolerance of a file declaring 5 s, truncated
    far, declared, decoded = overstated_ogg(tmp_path / "far.ogg", 3.0, sample_rate, subtype, 2 * sample_rate)
    assert_load_error(far, rf"^truncated or corrupt: decoding stopped after {decoded} of {declared} frames")


def test_mp3_cut_in_half_or_far_short_of_its_header_is_still_truncated(tmp_path):
    path, declared, _ = overstated_mp3(tmp_path / "half.mp3", 20.0)
    cut_in_half(path)
    err = assert_load_error(
        path, rf"^truncated or corrupt: decoding (failed|stopped) after \d+ of {declared} frames"
    )
    assert int(re.search(r"after (\d+) of", err.reason).group(1)) < 0.6 * declared
    # 40 MPEG frames (1 s) too many in a 3 s file: beyond the 25 % cap of short files
    far, declared, decoded = overstated_mp3(tmp_path / "far.mp3", 3.0, extra_frames=40)
    assert declared - decoded > probe_audio(far).length_tolerance
    assert_load_error(
        far, rf"^truncated or corrupt: decoding stopped after {decoded} of {declared} frames the MP3 header"
    )


def test_lossless_files_keep_the_exact_length_check(tmp_path):
    """A FLAC one frame short of its STREAMINFO count is truncated: no tolerance for lossless files."""
    path = save_audio(tmp_path / "x.flac", tones(22050, 3.0, [440.0]), 22050)
    data = bytearray(path.read_bytes())
    # STREAMINFO's total samples (36 bits ending the 8 bytes at offset 10 of the block): low 32 bits
    at = 4 + 4 + 14  # after "fLaC" and the block header
    total = int.from_bytes(data[at : at + 4], "big")
    assert total == 3 * 22050
    data[at : at + 4] = (total + 1).to_bytes(4, "big")
    path.write_bytes(bytes(data))
    assert probe_audio(path).length_tolerance == 0
    assert_load_error(path, r"^truncated or corrupt: decoding (failed|stopped) after \d+ of 66151 frames")


@pytest.mark.parametrize("bad_value,word", [(np.nan, "NaN"), (np.inf, "Inf"), (-np.inf, "Inf")])
def test_non_finite_samples(tmp_path, bad_value, word):
    x = tones(8000, 0.5, [300.0, 400.0]).T.copy()  # soundfile wants (samples, channels)
    x[1000, 1] = bad_value
    path = tmp_path / f"bad_{word}.wav"
    sf.write(path, x, 8000, subtype="FLOAT")
    err = assert_load_error(
        path, r"^non-finite samples \(NaN or Inf\): 1 of 8000 samples, first at frame 1000"
    )
    assert f"1 {word}" in err.reason
    # the check covers the decoded window: a window that avoids the bad sample loads
    assert load_audio(path, offset=0.25).samples == 2000


def test_no_samples(tmp_path):
    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros((0, 1), np.float32), 8000)
    assert path.stat().st_size > 0
    assert_load_error(path, r"^no audio samples")


def test_load_error_pickles(tmp_path):
    err = AudioLoadError(tmp_path / "x.wav", "file does not exist")
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.path, copy.reason, str(copy)) == (err.path, err.reason, str(err))


# ---------------------------------------------------------------------------------------------
# save_audio


def test_save_audio_accepts_mono_numpy_and_makes_folders(tmp_path):
    x = tones(8000, 0.25, [300.0])[0]  # (samples,)
    path = save_audio(tmp_path / "a" / "b" / "mono.flac", x, 8000)
    assert path == tmp_path / "a" / "b" / "mono.flac"
    audio = load_audio(path)
    assert (audio.channels, audio.samples, audio.sample_rate) == (1, x.shape[0], 8000)
    assert audio.duration == pytest.approx(0.25)


def test_save_audio_is_atomic(tmp_path):
    first = save_audio(tmp_path / "clip.mp3", tones(8000, 0.3, [300.0]), 8000)
    before = first.read_bytes()
    assert os.listdir(tmp_path) == ["clip.mp3"]  # no temporary file left behind
    # libsndfile refuses MP3 at 7000 Hz: the old file stays as it was, and no temporary file remains
    with pytest.raises(ValueError, match=r"clip\.mp3.*7000 Hz"):
        save_audio(first, tones(7000, 0.3, [300.0]), 7000)
    assert first.read_bytes() == before
    assert os.listdir(tmp_path) == ["clip.mp3"]
    # a successful write replaces the file
    save_audio(first, tones(16000, 0.3, [300.0]), 16000)
    assert probe_audio(first).sample_rate == 16000
    assert os.listdir(tmp_path) == ["clip.mp3"]


def test_save_audio_clips_integer_subtypes_only(tmp_path):
    x = np.array([[0.5, 1.5, -1.7, 0.25]], np.float32)
    pcm = load_audio(save_audio(tmp_path / "pcm.wav", x, 8000)).waveform[0]
    assert pcm.max() <= 1.0 and pcm.min() == -1.0 and pcm[1] > 0.999
    flt = load_audio(save_audio(tmp_path / "float.wav", x, 8000, subtype="FLOAT")).waveform[0]
    assert torch.equal(flt, torch.from_numpy(x[0]))


def test_save_audio_clips_before_lossy_encoding(tmp_path):
    # Vorbis stores floats: without the clip a peak of 1.5 would come back near 1.5
    x = tones(22050, 0.5, [440.0], peak=1.5)
    y = load_audio(save_audio(tmp_path / "loud.ogg", x, 22050)).waveform
    assert 0.9 < y.abs().max() < 1.2


def test_save_audio_format_argument_overrides_suffix(tmp_path):
    path = save_audio(tmp_path / "clip.audio", tones(8000, 0.1, [300.0]), 8000, format="flac")
    assert probe_audio(path).format == "FLAC"


@pytest.mark.parametrize(
    "name,waveform,kwargs,pattern",
    [
        ("x.xyz", np.zeros((1, 10), np.float32), {}, "unsupported suffix"),
        ("x.wav", np.zeros((1, 1, 10), np.float32), {}, "shape"),
        ("x.wav", np.zeros((1, 0), np.float32), {}, "no samples"),
        ("x.wav", np.array([[0.0, np.nan]], np.float32), {}, "non-finite"),
        ("x.wav", np.array([[0.0, np.inf]], np.float32), {}, "non-finite"),
        ("x.wav", np.zeros((1, 10), np.int16), {}, "floating point"),
        ("x.wav", np.zeros((1, 10), np.float32), {"subtype": "VORBIS"}, "cannot write subtype"),
        ("x.wav", np.zeros((1, 10), np.float32), {"format": "AU"}, "unsupported format"),
    ],
)
def test_save_audio_rejects_bad_input(tmp_path, name, waveform, kwargs, pattern):
    path = tmp_path / name
    with pytest.raises(ValueError, match=pattern) as caught:
        save_audio(path, waveform, 8000, **kwargs)
    assert str(path) in str(caught.value)
    assert os.listdir(tmp_path) == []


def test_save_audio_rejects_bad_sample_rate(tmp_path):
    with pytest.raises(ValueError, match=r"x\.wav.*sample_rate"):
        save_audio(tmp_path / "x.wav", np.zeros((1, 10), np.float32), 0)


def test_audio_dataclass():
    audio = Audio(torch.zeros(2, 24000), 16000)
    assert (audio.channels, audio.samples, audio.duration) == (2, 24000, 1.5)
    with pytest.raises(ValueError, match="channels, samples"):
        Audio(torch.zeros(100), 16000)
    with pytest.raises(ValueError, match="sample_rate"):
        Audio(torch.zeros(1, 100), 0)
