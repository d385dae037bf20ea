"""Corpus MIDI: chord symbols would hang in a naive translation and are dropped."""

from __future__ import annotations

from audiogen.data import corpus as C


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
