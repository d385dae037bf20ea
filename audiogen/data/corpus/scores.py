"""Scores of the default corpus: pick pieces from music21's bundled corpus and prepare them to play.

:func:`list_pieces` lists the scores of the chosen :data:`COLLECTIONS` in a fixed order;
:func:`piece_group` gives the split group of a piece (variants and movements of one work share a
group); :func:`playable_score` expands the repeats and drops what cannot be played, ready for
:mod:`audiogen.data.corpus.midi`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Collection name -> music21 corpus composer folders it draws from.
COLLECTIONS: dict[str, tuple[str, ...]] = {
    "chorales": ("bach",),  # J. S. Bach's four-part chorales (and a few larger chorale settings)
    "madrigals": ("monteverdi",),  # Monteverdi, madrigals books 3 and 4 (five voices)
    "quartets": ("haydn", "mozart"),  # string-quartet movements (and one sonata exposition)
}


DEFAULT_COLLECTIONS: tuple[str, ...] = ("chorales", "madrigals", "quartets")


# Score file suffixes that hold notes (roman-numeral analyses ``.rntxt`` do not; ``.krn`` files of
# the Bach folder duplicate ``.mxl`` ones).
_SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml")


_EXCLUDED_PIECES = frozenset({"bach/bwv846"})  # a keyboard prelude, not a chorale


class MissingDependencyError(RuntimeError):
    """A program or data file needed to render the corpus is not installed; the message names the
    Debian package (or pip package) that provides it."""


def _import_music21():
    """Import music21 or raise :class:`MissingDependencyError`."""
    try:
        import music21
    except ImportError as err:  # pragma: no cover - installed by the corpus extra
        raise MissingDependencyError(
            "music21 is not installed (rendering the corpus needs it): pip install 'audiogen[corpus]'"
        ) from err
    return music21


@dataclass(frozen=True)
class Piece:
    """One score of the music21 corpus.

    Attributes:
        piece_id: corpus path without suffix, e.g. ``"bach/bwv66.6"``, ``"mozart/k80/movement1"``.
        source: absolute path of the score file.
        collection: name in :data:`COLLECTIONS`.
    """

    piece_id: str
    source: Path
    collection: str

    @property
    def file_stem(self) -> str:
        """File name stem of the rendered audio: ``piece_id`` with ``/`` replaced by ``_``."""
        return self.piece_id.replace("/", "_")

    @property
    def group(self) -> str:
        """Split group from the piece id (:func:`piece_group`)."""
        return piece_group(self.piece_id)


def piece_group(piece_id: str) -> str:
    """Split group of a piece: pieces of one group always land in the same split.

    * a piece inside a work folder (``"mozart/k80/movement1"``) belongs to the work (``"mozart/k80"``);
    * otherwise variant suffixes are dropped: ``"bach/bwv248.23-2"`` and ``"bach/bwv248.23-s"``
      give ``"bach/bwv248.23"``, ``"monteverdi/madrigal.3.1_old"`` gives ``"monteverdi/madrigal.3.1"``.

    (:func:`build_default_corpus` also merges groups of scores with identical notes.)
    """
    parts = piece_id.split("/")
    if len(parts) >= 3:
        return "/".join(parts[:-1])
    stem = re.sub(r"(-[A-Za-z0-9]+|_old)$", "", parts[-1])
    return "/".join([*parts[:-1], stem])


def list_pieces(
    collections: Sequence[str] = DEFAULT_COLLECTIONS, max_pieces: int | None = None
) -> list[Piece]:
    """Scores of the chosen collections, in a fixed order.

    Args:
        collections: names in :data:`COLLECTIONS`.
        max_pieces: keep at most this many, evenly spaced over the ordered list (so a small
            build still samples every collection); ``None`` keeps all.

    Returns:
        The pieces, sorted by collection order then piece id.

    Raises:
        ValueError: an unknown collection or ``max_pieces`` < 1.
        MissingDependencyError: music21 is missing.
    """
    unknown = [c for c in collections if c not in COLLECTIONS]
    if unknown:
        raise ValueError(f"unknown collection(s) {unknown}; choose from {sorted(COLLECTIONS)}")
    if max_pieces is not None and max_pieces < 1:
        raise ValueError(f"max_pieces must be >= 1, got {max_pieces}")
    music21 = _import_music21()
    corpus_root = Path(music21.__file__).parent / "corpus"
    pieces: list[Piece] = []
    for collection in collections:
        found = []
        for composer in COLLECTIONS[collection]:
            for path in sorted((corpus_root / composer).rglob("*")):
                if path.suffix.lower() not in _SCORE_SUFFIXES or not path.is_file():
                    continue
                piece_id = path.relative_to(corpus_root).with_suffix("").as_posix()
                if piece_id in _EXCLUDED_PIECES:
                    continue
                found.append(Piece(piece_id, path, collection))
        pieces.extend(sorted(found, key=lambda p: p.piece_id))
    if max_pieces is not None and max_pieces < len(pieces):
        step = len(pieces) / max_pieces
        pieces = [pieces[int(i * step)] for i in range(max_pieces)]
    return pieces


def score_seconds(score: Any) -> float:
    """Playing time of a music21 score in seconds at its tempo marks (music21's default tempo
    where it has none), from :meth:`music21.stream.Stream.metronomeMarkBoundaries`, as written
    (pass a :class:`PlayableScore`'s score for the length with repeats expanded, as rendered)."""
    total = 0.0
    for start, end, mark in score.metronomeMarkBoundaries():
        total += (end - start) * 60.0 / mark.getQuarterBPM()
    return float(total)


def _fingerprint(score: Any) -> str:
    """SHA-1 of the sorted (offset, MIDI pitch, quarter length) triples of every note."""
    notes = []
    for n in score.flatten().notes:
        for pitch in n.pitches:
            notes.append((round(float(n.offset), 4), int(pitch.midi), round(float(n.quarterLength), 4)))
    return hashlib.sha1(repr(sorted(notes)).encode()).hexdigest()


@dataclass
class PlayableScore:
    """A score prepared for MIDI rendering by :func:`playable_score`.

    Attributes:
        score: the prepared copy (repeats expanded, no chord symbols or zero-length notes, one
            placeholder instrument per part).
        repeats: ``"none"`` (the score has none), ``"expanded"``, or ``"stripped"`` (the repeats
            were badly formed, music21 cannot expand them, so they were removed and the score is
            played straight through, first and second endings in sequence).
    """

    score: Any
    repeats: str


def _strip_repeats(score: Any) -> None:
    """Remove repeat barlines, repeat expressions (da capo, segno, ...) and ending brackets in place."""
    from music21 import bar, repeat, spanner, stream

    for measure in score.recurse().getElementsByClass(stream.Measure):
        if isinstance(measure.leftBarline, bar.Repeat):
            measure.leftBarline = None
        if isinstance(measure.rightBarline, bar.Repeat):
            measure.rightBarline = None
    for cls in (repeat.RepeatExpression, spanner.RepeatBracket):
        for element in list(score.recurse().getElementsByClass(cls)):
            site = element.activeSite
            if site is not None:
                site.remove(element)


def playable_score(score: Any) -> PlayableScore:
    """Prepare a copy of a music21 score for :func:`midi_template` (the input is not modified).

    * Repeats are expanded with :meth:`music21.stream.Stream.expandRepeats`, as music21's MIDI
      export does; when music21 cannot expand them (badly formed repeats), they are removed.
    * Chord symbols (harmony annotations) and zero-length (grace) notes are dropped: music21
      writes their note-off before their note-on at the same tick, so the note would never end.
    * Every part gets a plain instrument with a distinct placeholder program, so that music21
      gives each part its own MIDI channel (up to 14 parts; unisons between parts then do not cut
      each other's notes) and none goes to the percussion channel.
    """
    import copy

    from music21 import harmony, instrument, note, repeat, stream

    if score.recurse().getElementsByClass(stream.Measure).first() is None:
        prepared, mode = copy.deepcopy(score), "none"
    else:
        try:
            prepared = score.expandRepeats()  # a deep copy
            mode = "expanded" if prepared.highestTime != score.highestTime else "none"
        except repeat.ExpanderException:
            prepared, mode = copy.deepcopy(score), "stripped"
            _strip_repeats(prepared)
    for element in list(prepared.recurse().getElementsByClass(note.GeneralNote)):
        if isinstance(element, harmony.Harmony) or element.duration.quarterLength == 0:
            site = element.activeSite
            if site is not None:
                site.remove(element)
    for inst in list(prepared.recurse().getElementsByClass(instrument.Instrument)):
        site = inst.activeSite
        if site is not None:
            site.remove(inst)
    for index, part in enumerate(prepared.parts):
        new = instrument.Instrument()
        new.midiProgram = index % 15
        part.insert(0, new)
    return PlayableScore(prepared, mode)
