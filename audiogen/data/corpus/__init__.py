"""The default training corpus: public-domain scores from music21's bundled corpus, rendered with
FluidSynth in several General MIDI instruments.

Pipeline per piece (one worker process per piece at a time):

1. parse the score with music21 (its corpus ships inside the wheel, so no download), expand its
   repeats and drop what cannot be played (:func:`playable_score`);
2. translate it to MIDI once (:func:`midi_template`); for each instrument, set every part's
   General MIDI program (:func:`set_program`) and write the MIDI file;
3. render it offline with FluidSynth (``fluidsynth -ni -q -F out.raw -T raw -O float -r <rate>
   -g <gain> <soundfont> in.mid``, FluidR3_GM SoundFont; :func:`render_midi`);
4. mix to mono, trim the trailing silence / reverb tail (:func:`trim_tail`), normalise the peak to
   -1 dBFS and store 16-bit FLAC at ``sample_rate``.

The instruments are the style labels. Splits are by piece group (:func:`piece_group`; variants and
exact duplicates of one chorale and the movements of one quartet share a group), so no piece is in
two splits. The build is resumable: every output is written atomically and a piece whose files
exist is not rendered again.

Modules, in the order a piece passes through them: :mod:`~audiogen.data.corpus.scores`,
:mod:`~audiogen.data.corpus.midi`, :mod:`~audiogen.data.corpus.render`,
:mod:`~audiogen.data.corpus.build`.

Layout of the output folder::

    out/audio/<instrument>/<piece_file>.flac   rendered audio (mono FLAC)
    out/pieces/<piece_file>.json               per-piece record (group, fingerprint, score seconds)
    out/manifest.jsonl                         the manifest (label = instrument, group = piece group)
    out/corpus.json                            build settings and totals
"""

from audiogen.data.corpus.build import CorpusResult, build_default_corpus
from audiogen.data.corpus.midi import INSTRUMENTS, hanging_notes, midi_template, score_to_midi, set_program
from audiogen.data.corpus.render import (
    DEFAULT_SOUNDFONT,
    PieceResult,
    Renderer,
    RenderError,
    find_renderer,
    render_midi,
    render_piece,
    trim_tail,
)
from audiogen.data.corpus.scores import (
    COLLECTIONS,
    DEFAULT_COLLECTIONS,
    MissingDependencyError,
    Piece,
    PlayableScore,
    list_pieces,
    piece_group,
    playable_score,
    score_seconds,
)

__all__ = [
    "COLLECTIONS",
    "DEFAULT_COLLECTIONS",
    "DEFAULT_SOUNDFONT",
    "INSTRUMENTS",
    "CorpusResult",
    "MissingDependencyError",
    "Piece",
    "PieceResult",
    "PlayableScore",
    "RenderError",
    "Renderer",
    "build_default_corpus",
    "find_renderer",
    "hanging_notes",
    "list_pieces",
    "piece_group",
    "render_midi",
    "render_piece",
    "midi_template",
    "playable_score",
    "score_seconds",
    "score_to_midi",
    "set_program",
    "trim_tail",
]
