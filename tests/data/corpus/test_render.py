"""Corpus rendering: missing tools, tail trimming, FluidSynth runs, one piece rendered to files."""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from audiogen.audio.io import load_audio
from audiogen.data import corpus as C
from tests.data.corpus.test_midi import _score_with_chord_symbol

HAVE_RENDERER = shutil.which("fluidsynth") is not None and C.DEFAULT_SOUNDFONT.is_file()
needs_renderer = pytest.mark.skipif(not HAVE_RENDERER, reason="fluidsynth / fluid-soundfont-gm not installed")


def test_missing_fluidsynth_names_the_debian_package(tmp_path):
    with pytest.raises(C.MissingDependencyError, match="Debian package 'fluidsynth'"):
        C.find_renderer(fluidsynth=tmp_path / "no" / "fluidsynth", soundfont=C.DEFAULT_SOUNDFONT)


def test_missing_soundfont_names_the_debian_package(tmp_path):
    if shutil.which("fluidsynth") is None:
        pytest.skip("fluidsynth not installed")
    with pytest.raises(C.MissingDependencyError, match="Debian package 'fluid-soundfont-gm'"):
        C.find_renderer(soundfont=tmp_path / "missing.sf2")


def test_trim_tail_cuts_below_threshold_and_fades():
    rate = 8000
    t = torch.arange(3 * rate) / rate
    tone = torch.sin(2 * math.pi * 440 * t)
    envelope = torch.where(t < 1.0, torch.ones_like(t), torch.exp(-(t - 1.0) * 10.0))  # -86.9 dB/s after 1 s
    waveform = (0.8 * tone * envelope).unsqueeze(0)
    out = C.trim_tail(waveform, rate, threshold_db=-60.0, fade_seconds=0.05)
    # the envelope reaches -60 dB at 1 + 60 / 86.86 = 1.69 s
    assert abs(out.shape[-1] / rate - (1.0 + 60.0 / (200.0 / math.log(10.0)))) < 0.01
    assert torch.equal(out[:, : rate // 2], waveform[:, : rate // 2])
    assert out[0, -1].abs() < 1e-6  # faded to zero
    capped = C.trim_tail(waveform, rate, max_seconds=1.2)
    assert capped.shape[-1] == round(1.2 * rate)


@needs_renderer
def test_render_stops_at_max_seconds_for_hanging_notes(tmp_path):
    import copy

    from music21 import midi

    naive = midi.translate.streamToMidiFile(copy.deepcopy(_score_with_chord_symbol()))
    C.set_program(naive, C.INSTRUMENTS["organ"])
    path = tmp_path / "hang.mid"
    naive.open(str(path), "wb")
    naive.write()
    naive.close()
    renderer = C.find_renderer(sample_rate=16000)
    stereo = C.render_midi(path, renderer, max_seconds=6.0)
    assert stereo.shape == (2, 6 * 16000)  # an organ note that never ends, cut at the limit
    assert stereo[:, -16000:].abs().max() > 1e-3  # still sounding at the cut: it was hanging


@needs_renderer
@pytest.mark.parametrize(
    ("piece_id", "written_quarters", "played_quarters"),
    [("bach/bwv66.6", 36, 36), ("bach/bwv166.6", 18 * 2, 28 * 2)],  # bwv166.6 repeats its first lines
)
def test_rendered_chorale_matches_score_duration(tmp_path, piece_id, written_quarters, played_quarters):
    import music21

    piece = next(p for p in C.list_pieces(["chorales"]) if p.piece_id == piece_id)
    renderer = C.find_renderer(sample_rate=22050)
    result = C.render_piece(piece, ["organ", "piano"], tmp_path, renderer, max_tail_seconds=3.0)
    assert result.error is None, result.error
    score = music21.corpus.parse(piece_id)
    (bpm,) = {m.getQuarterBPM() for _, _, m in score.metronomeMarkBoundaries()}
    assert score.highestTime == written_quarters
    assert score.expandRepeats().highestTime == played_quarters
    expected = played_quarters * 60.0 / bpm  # bwv66.6: 36 quarters at 96 bpm = 22.5 s
    assert abs(result.score_seconds - expected) < 1e-6
    assert result.repeats == ("none" if played_quarters == written_quarters else "expanded")
    for f in result.files:
        audio = load_audio(f.path)
        assert audio.sample_rate == 22050 and audio.channels == 1
        seconds = audio.duration
        # sustained organ: the last chord lasts to the score's end, then a release/reverb tail
        low = expected - (0.05 if f.instrument == "organ" else 1.5)
        assert low <= seconds <= expected + 3.0 + 1e-3, (f.instrument, seconds, expected)
        if f.instrument == "organ":
            assert seconds < expected + 2.9  # the tail decayed before the cap: nothing was cut off
        peak = audio.waveform.abs().max().item()
        assert abs(20 * math.log10(peak) - (-1.0)) < 0.1  # peak-normalised to -1 dBFS
        rms_db = 20 * math.log10(audio.waveform.square().mean().sqrt().item())
        assert rms_db > -30.0  # clearly not silent
        # the music plays throughout: every second up to the score's end has signal
        frames = audio.waveform[0, : int(expected) * 22050].reshape(-1, 22050)
        assert (frames.abs().amax(dim=1) > 0.01).all()
    organ, piano = (load_audio(f.path).waveform for f in result.files)
    assert not torch.allclose(organ[:, :22050], piano[:, :22050], atol=1e-2)  # different instruments
