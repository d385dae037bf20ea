"""The default corpus: music21 scores rendered with FluidSynth, splits by piece, resume, missing tools."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from audiogen.audio.io import load_audio
from audiogen.cli import app
from audiogen.data import corpus as C
from audiogen.data.manifest import read_manifest

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


def test_cli_build_default_reports_missing_tools(tmp_path):
    result = CliRunner().invoke(
        app,
        ["data", "build-default", "--out", str(tmp_path / "c"), "--fluidsynth", str(tmp_path / "nofluid"),
         "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "fluidsynth" in result.output and "apt-get install" in result.output
    assert not (tmp_path / "c").exists()  # nothing was started


def test_music21_corpus_is_bundled():
    pieces = C.list_pieces()
    assert all(p.source.is_file() for p in pieces)
    collections = {p.collection for p in pieces}
    assert collections == set(C.DEFAULT_COLLECTIONS)
    chorales = [p for p in pieces if p.collection == "chorales"]
    assert len(chorales) > 350  # the Bach chorales ship inside the music21 wheel
    few = C.list_pieces(max_pieces=12)
    assert len(few) == 12 and len({p.piece_id for p in few}) == 12
    assert {p.collection for p in few} >= {"chorales", "madrigals"}  # evenly spaced over collections


def test_piece_groups():
    assert C.piece_group("bach/bwv248.23-2") == C.piece_group("bach/bwv248.23-s") == "bach/bwv248.23"
    assert C.piece_group("bach/bwv69.6-a") == C.piece_group("bach/bwv69.6") == "bach/bwv69.6"
    assert C.piece_group("bach/bwv66.6") == "bach/bwv66.6"
    assert C.piece_group("monteverdi/madrigal.3.1_old") == "monteverdi/madrigal.3.1"
    assert C.piece_group("mozart/k80/movement2") == "mozart/k80"


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


def _score_with_chord_symbol():
    from music21 import harmony, instrument, note, stream, tempo

    part = stream.Part()
    part.append(instrument.Piano())
    part.append(tempo.MetronomeMark(number=120))
    for pitch in ("C4", "E4", "G4", "C5"):
        part.append(note.Note(pitch, quarterLength=1.0))
    part.insert(2.0, harmony.ChordSymbol("F"))  # zero-length: would hang in a naive translation
    score = stream.Score()
    score.insert(0, part)
    return score


def test_chord_symbols_would_hang_and_are_dropped():
    import copy

    from music21 import harmony, midi

    score = _score_with_chord_symbol()
    naive = midi.translate.streamToMidiFile(copy.deepcopy(score))
    assert C.hanging_notes(naive) > 0
    template = C.midi_template(score)
    assert C.hanging_notes(template) == 0
    assert len(score.recurse().getElementsByClass(harmony.ChordSymbol)) == 1  # input not modified


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


def _measures_score(repeat_kind: str):
    """Four one-note measures; ``"good"``: measures 2-3 repeated; ``"bad"``: two start repeats."""
    from music21 import bar, meter, note, stream

    part = stream.Part()
    for i in range(4):
        measure = stream.Measure(number=i + 1)
        if i == 0:
            measure.append(meter.TimeSignature("4/4"))
        measure.append(note.Note(60 + i, quarterLength=4))
        part.append(measure)
    m = list(part.getElementsByClass(stream.Measure))
    if repeat_kind == "good":
        m[1].leftBarline = bar.Repeat(direction="start")
        m[2].rightBarline = bar.Repeat(direction="end")
    elif repeat_kind == "bad":
        m[1].leftBarline = bar.Repeat(direction="start")
        m[2].leftBarline = bar.Repeat(direction="start")
        m[3].rightBarline = bar.Repeat(direction="end")
    score = stream.Score()
    score.insert(0, part)
    return score


def test_playable_score_repeats():
    from music21 import bar

    plain = C.playable_score(_measures_score("none"))
    assert plain.repeats == "none" and plain.score.highestTime == 16
    good = C.playable_score(_measures_score("good"))
    assert good.repeats == "expanded" and good.score.highestTime == 24  # measures 2-3 twice
    pitches = [n.pitch.midi for n in good.score.flatten().notes]
    assert pitches == [60, 61, 62, 61, 62, 63]
    original = _measures_score("bad")
    bad = C.playable_score(original)
    assert bad.repeats == "stripped" and bad.score.highestTime == 16
    assert not bad.score.recurse().getElementsByClass(bar.Repeat)
    assert original.recurse().getElementsByClass(bar.Repeat)  # the input keeps its repeats
    # MIDI export expands repeats itself: it fails on the badly formed ones, not on the stripped copy
    from music21 import midi, repeat

    with pytest.raises(repeat.ExpanderException):
        midi.translate.streamToMidiFile(original)
    assert C.hanging_notes(C.midi_template(bad)) == 0


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


@needs_renderer
def test_small_build_splits_by_piece_and_resumes(tmp_path):
    out = tmp_path / "corpus"
    kwargs = dict(
        instruments=["organ", "flute"],
        collections=["chorales"],
        max_pieces=3,
        workers=2,
        valid_fraction=0.34,
        test_fraction=0.33,
        progress=False,
    )
    first = C.build_default_corpus(out, **kwargs)
    assert first.failures == {}
    assert first.rendered == 6 and first.reused == 0
    entries = read_manifest(out / "manifest.jsonl")
    assert len(entries) == 6
    assert sorted({e.label for e in entries}) == ["flute", "organ"]
    pieces = {e.meta["piece"] for e in entries}
    assert len(pieces) == 3
    split_of_piece: dict[str, set[str]] = {}
    for e in entries:
        split_of_piece.setdefault(e.meta["piece"], set()).add(e.split)
        assert e.group == C.piece_group(e.meta["piece"])
        assert Path(e.path).is_file() and e.sample_rate == 22050 and e.channels == 1
        assert e.meta["score_seconds"] - 0.05 <= e.duration <= e.meta["score_seconds"] + 3.0 + 1e-3
    assert all(len(s) == 1 for s in split_of_piece.values())  # no piece in two splits
    # each split is a function of the group only
    for e in entries:
        assert e.split == C.split_for_group(e.group, 0.34, 0.33, 0)
    assert (out / "corpus.json").is_file()

    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("audio/*/*.flac")}
    second = C.build_default_corpus(out, **{**kwargs, "workers": 1})
    assert second.rendered == 0 and second.reused == 6
    assert {p: p.stat().st_mtime_ns for p in out.glob("audio/*/*.flac")} == mtimes
    assert [e.path for e in read_manifest(out / "manifest.jsonl")] == [e.path for e in entries]
    assert not list(out.rglob(".*.tmp")) and not (out / ".tmp").exists()

    # another sample rate: the existing files do not fit and are rendered again
    third = C.build_default_corpus(out, **{**kwargs, "workers": 1, "sample_rate": 16000})
    assert third.rendered == 6 and third.reused == 0
    assert {e.sample_rate for e in read_manifest(out / "manifest.jsonl")} == {16000}
