"""Scores to General MIDI: translate a prepared score once, then set every part's program per instrument.

The instruments (:data:`INSTRUMENTS`) are the corpus' style labels.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from audiogen.data.corpus.scores import PlayableScore, playable_score

#: Style label -> General MIDI program number (0-based, as in MIDI program-change messages).
INSTRUMENTS: dict[str, int] = {
    "piano": 0,  # Acoustic Grand Piano
    "organ": 19,  # Church Organ
    "guitar": 24,  # Acoustic Guitar (nylon)
    "strings": 48,  # String Ensemble 1
    "choir": 52,  # Choir Aahs
    "flute": 73,  # Flute
}


def midi_template(score: Any) -> Any:
    """Translate a score to a :class:`music21.midi.MidiFile` ready for :func:`set_program`.

    Args:
        score: a :class:`music21.stream.Score` (prepared with :func:`playable_score` first; not
            modified) or a :class:`PlayableScore`.

    Returns:
        The MIDI file (conductor track + one track per part, each with a program change).

    Translating once per piece and patching the program per instrument is much faster than
    translating once per instrument.
    """
    from music21 import midi

    playable = score if isinstance(score, PlayableScore) else playable_score(score)
    return midi.translate.streamToMidiFile(playable.score)


def set_program(midi_file: Any, program: int) -> Any:
    """Set every program-change event of a :class:`music21.midi.MidiFile` to ``program`` (in place).

    Returns:
        the same MIDI file.

    Raises:
        ValueError: ``program`` outside 0-127, or the file has no program change (build it with
            :func:`midi_template`).
    """
    if not 0 <= program <= 127:
        raise ValueError(f"GM program must be in 0..127, got {program}")
    from music21 import midi

    changed = 0
    for track in midi_file.tracks:
        for event in track.events:
            if event.type == midi.ChannelVoiceMessages.PROGRAM_CHANGE:
                event.data = int(program)
                changed += 1
    if changed == 0:
        raise ValueError("the MIDI file has no program-change event; build it with midi_template()")
    return midi_file


def hanging_notes(midi_file: Any) -> int:
    """Number of notes in a :class:`music21.midi.MidiFile` that are switched on and never off.

    Each track is replayed in order, counting note-ons and note-offs (or note-ons with velocity 0)
    per (channel, key); a key still held at the end of its track is a hanging note, which a
    sustaining instrument (organ, choir, strings, flute) would hold to the end of the rendering.
    """
    from music21 import midi

    note_on, note_off = midi.ChannelVoiceMessages.NOTE_ON, midi.ChannelVoiceMessages.NOTE_OFF
    hanging = 0
    for track in midi_file.tracks:
        held: dict[tuple[int, int], int] = {}
        for event in track.events:
            if event.isDeltaTime():
                continue
            key = (event.channel, event.pitch)
            if event.type == note_on and event.velocity > 0:
                held[key] = held.get(key, 0) + 1
            elif event.type == note_off or (event.type == note_on and event.velocity == 0):
                held[key] = max(0, held.get(key, 0) - 1)
        hanging += sum(1 for count in held.values() if count > 0)
    return hanging


def score_to_midi(score: Any, program: int, path: str | os.PathLike[str], template: Any = None) -> Path:
    """Write ``score`` as a MIDI file with every part played by one General MIDI program.

    Args:
        score: a :class:`music21.stream.Score` (not modified) or a :class:`PlayableScore`; prepared
            as :func:`midi_template` does.
        program: General MIDI program number, 0-127 (e.g. 19 = Church Organ).
        path: the ``.mid`` file to write.
        template: a :func:`midi_template` of ``score`` to reuse (it is modified in place).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: ``program`` outside 0-127.
    """
    mf = set_program(template if template is not None else midi_template(score), program)
    path = Path(path)
    mf.open(str(path), "wb")
    try:
        mf.write()
    finally:
        mf.close()
    return path
