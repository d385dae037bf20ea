"""Corpus scores: music21's bundled corpus, piece groups, playable scores (repeats)."""

from __future__ import annotations

import pytest

from audiogen.data import corpus as C


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
