"""Tests for audiogen.audio.probe: what probe_audio reads from a header, without decoding."""

from __future__ import annotations

import pytest

from audiogen.audio.io import load_audio, save_audio
from audiogen.audio.probe import AudioInfo, AudioLoadError, probe_audio
from tests.audio.test_io import EXPECTED_FORMAT, MP3_FRAME, tones


def test_probe_audio_reports_header(tmp_path):
    cases = [("wav", 16000, 1, 8000), ("flac", 22050, 2, 11025), ("aiff", 44100, 2, 4410),
             ("ogg", 32000, 2, 16000), ("mp3", 24000, 1, 12000)]  # fmt: skip
    for suffix, sample_rate, channels, frames in cases:
        x = tones(sample_rate, frames / sample_rate, [300.0, 700.0][:channels])
        path = save_audio(tmp_path / f"p.{suffix}", x, sample_rate)
        info = probe_audio(str(path))
        assert isinstance(info, AudioInfo) and info.path == path
        assert info.format == EXPECTED_FORMAT[suffix]
        assert (info.sample_rate, info.channels) == (sample_rate, channels)
        tolerance = MP3_FRAME if suffix == "mp3" else 0
        assert abs(info.frames - frames) <= tolerance
        assert info.duration == pytest.approx(info.frames / sample_rate)
        assert abs(info.duration - frames / sample_rate) <= tolerance / sample_rate


def test_probe_audio_reads_header_only(tmp_path):
    """A FLAC cut short still has its full STREAMINFO header: probe passes, decoding fails."""
    path = save_audio(tmp_path / "cut.flac", tones(22050, 1.0, [440.0]), 22050)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert probe_audio(path).frames == 22050
    with pytest.raises(AudioLoadError):
        load_audio(path)


@pytest.mark.parametrize(
    "subtype,frames,sample_rate,expected",
    [
        ("PCM_16", 10_000_000, 22050, 0),  # lossless: the header counts frames, no tolerance
        ("FLOAT", 441_000, 44100, 0),
        ("MPEG_LAYER_III", 9_727_207, 22050, 97_273),  # 7.4 min: 1 % (4.4 s) is more than 1 s
        ("MPEG_LAYER_III", 441_000, 22050, 22_050),  # 20 s: 1 s is more than 1 % (0.2 s)
        ("VORBIS", 2_747_873, 44100, 44_100),
        ("OPUS", 20_193_920, 48000, 201_940),
        ("MPEG_LAYER_III", 66_150, 22050, 16_537),  # 3 s: 1 s capped at 25 % of the count
    ],
)
def test_length_tolerance_is_max_of_1_percent_and_1_second_for_lossy_formats(
    subtype, frames, sample_rate, expected
):
    info = AudioInfo("x", sample_rate, 2, frames, frames / sample_rate, "X", subtype)
    assert info.length_is_estimate == (expected > 0)
    assert info.length_tolerance == expected
