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

Layout of the output folder::

    out/audio/<instrument>/<piece_file>.flac   rendered audio (mono FLAC)
    out/pieces/<piece_file>.json               per-piece record (group, fingerprint, score seconds)
    out/manifest.jsonl                         the manifest (label = instrument, group = piece group)
    out/corpus.json                            build settings and totals
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import einops

from audiogen.audio.levels import SILENCE_DB
from audiogen.data.manifest import ManifestEntry, split_for_group, write_manifest

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

#: SoundFont of the Debian package ``fluid-soundfont-gm``.
DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")

#: Style label -> General MIDI program number (0-based, as in MIDI program-change messages).
INSTRUMENTS: dict[str, int] = {
    "piano": 0,  # Acoustic Grand Piano
    "organ": 19,  # Church Organ
    "guitar": 24,  # Acoustic Guitar (nylon)
    "strings": 48,  # String Ensemble 1
    "choir": 52,  # Choir Aahs
    "flute": 73,  # Flute
}

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

_PEAK_TARGET_DB = -1.0
_FORMAT_VERSION = 2


class MissingDependencyError(RuntimeError):
    """A program or data file needed to render the corpus is not installed; the message names the
    Debian package (or pip package) that provides it."""


class RenderError(RuntimeError):
    """FluidSynth failed or produced unusable audio; the message names the piece/file."""


@dataclass(frozen=True)
class Renderer:
    """How to run FluidSynth.

    Attributes:
        fluidsynth: path of the ``fluidsynth`` executable.
        soundfont: path of the General MIDI SoundFont (``.sf2``).
        sample_rate: output sample rate in Hz.
        gain: FluidSynth master gain (``-g``); the output is float and peak-normalised afterwards,
            so this only sets the headroom inside the synthesiser.
        timeout: seconds after which one FluidSynth run is killed.
    """

    fluidsynth: Path
    soundfont: Path
    sample_rate: int = 22050
    gain: float = 0.5
    timeout: float = 600.0


def find_renderer(
    fluidsynth: str | os.PathLike[str] = "fluidsynth",
    soundfont: str | os.PathLike[str] = DEFAULT_SOUNDFONT,
    sample_rate: int = 22050,
    gain: float = 0.5,
) -> Renderer:
    """Locate FluidSynth and the SoundFont.

    Args:
        fluidsynth: executable name (looked up on ``PATH``) or path.
        soundfont: path of the ``.sf2`` file.
        sample_rate: output sample rate in Hz.
        gain: FluidSynth gain.

    Returns:
        A :class:`Renderer` with absolute paths.

    Raises:
        MissingDependencyError: the executable or the SoundFont is missing; the message names the
            Debian package to install (``fluidsynth`` or ``fluid-soundfont-gm``).
        ValueError: a non-positive sample rate or gain.
    """
    if sample_rate <= 0 or gain <= 0:
        raise ValueError(f"sample_rate and gain must be positive, got {sample_rate}, {gain}")
    found = shutil.which(str(fluidsynth))
    if found is None:
        raise MissingDependencyError(
            f"FluidSynth executable {str(fluidsynth)!r} not found; install the Debian package "
            f"'fluidsynth' (sudo apt-get install fluidsynth) or pass its path"
        )
    sf2 = Path(soundfont)
    if not sf2.is_file():
        raise MissingDependencyError(
            f"SoundFont {str(sf2)!r} not found; install the Debian package 'fluid-soundfont-gm' "
            f"(sudo apt-get install fluid-soundfont-gm) or pass the path of a General MIDI .sf2 file"
        )
    return Renderer(Path(found).absolute(), sf2.absolute(), int(sample_rate), float(gain))


def _import_music21():
    """Import music21 or raise :class:`MissingDependencyError`."""
    try:
        import music21
    except ImportError as err:  # pragma: no cover - music21 is a declared dependency
        raise MissingDependencyError("music21 is not installed; pip install 'music21>=9.1'") from err
    return music21


# ----------------------------------------------------------------------------------------------
# pieces


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


# ----------------------------------------------------------------------------------------------
# rendering


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


def render_midi(
    midi_path: str | os.PathLike[str], renderer: Renderer, max_seconds: float | None = None
) -> Any:
    """Render a MIDI file offline with FluidSynth and return the stereo waveform.

    Runs ``fluidsynth -ni -q -F <raw file> -T raw -O float -r <sample_rate> -g <gain> <soundfont>
    <midi_path>`` (reverb and chorus at FluidSynth's defaults) next to ``midi_path``. FluidSynth
    keeps rendering while any voice sounds, so a note that is never released (an organ or choir
    patch sustains for ever) would make it run without end: the raw output is watched and
    FluidSynth is stopped once it holds ``max_seconds`` of audio.

    Args:
        midi_path: the ``.mid`` file.
        renderer: FluidSynth settings.
        max_seconds: stop after this many seconds of audio; ``None`` lets FluidSynth finish.

    Returns:
        float32 tensor ``(2, samples)`` at ``renderer.sample_rate`` (at most ``max_seconds`` long).

    Raises:
        RenderError: FluidSynth exits with an error, times out (``renderer.timeout`` seconds of
            wall-clock time), or writes no audio.
    """
    import numpy as np
    import torch

    midi_path = Path(midi_path)
    raw_path = midi_path.with_suffix(".raw")
    cmd = [
        str(renderer.fluidsynth), "-ni", "-q",
        "-F", str(raw_path), "-T", "raw", "-O", "float",
        "-r", str(renderer.sample_rate), "-g", str(renderer.gain),
        str(renderer.soundfont), str(midi_path),
    ]  # fmt: skip
    frame_bytes = 2 * 4  # stereo float32
    limit = None if max_seconds is None else int(math.ceil(max_seconds * renderer.sample_rate)) * frame_bytes
    started = time.monotonic()
    with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        stopped = False
        while proc.poll() is None:
            if limit is not None and raw_path.is_file() and raw_path.stat().st_size >= limit:
                proc.kill()
                stopped = True
                break
            if time.monotonic() - started > renderer.timeout:
                proc.kill()
                raise RenderError(f"{midi_path}: FluidSynth did not finish within {renderer.timeout} s")
            time.sleep(0.02)
        proc.wait()
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if not stopped and proc.returncode != 0:
        raise RenderError(
            f"{midi_path}: FluidSynth failed (exit code {proc.returncode}): {stderr.strip()[-500:]}"
        )
    size = raw_path.stat().st_size if raw_path.is_file() else 0
    frames = size // frame_bytes
    if limit is not None:
        frames = min(frames, limit // frame_bytes)
    if frames == 0:
        raise RenderError(f"{midi_path}: FluidSynth wrote no audio: {stderr.strip()[-500:]}")
    data = np.fromfile(raw_path, dtype=np.float32, count=frames * 2)
    raw_path.unlink(missing_ok=True)
    interleaved = torch.from_numpy(data)
    return einops.rearrange(interleaved, "(samples channels) -> channels samples", channels=2).contiguous()


def trim_tail(
    waveform: Any,
    sample_rate: int,
    threshold_db: float = SILENCE_DB,
    fade_seconds: float = 0.05,
    max_seconds: float | None = None,
) -> Any:
    """Cut the trailing silence / reverb tail of a rendering.

    The audio is cut after the last sample whose magnitude is within ``threshold_db`` of the peak
    (e.g. -60 dB: the usual reverberation-time criterion, RT60), and at ``max_seconds`` at most;
    the last ``fade_seconds`` are faded out with a half-cosine so the cut does not click. Leading
    silence is kept (it is part of the score's timing).

    Args:
        waveform: float tensor ``(channels, samples)``.
        sample_rate: in Hz.
        threshold_db: level relative to the peak in dB (negative).
        fade_seconds: fade-out length in seconds.
        max_seconds: longest kept duration in seconds, or ``None``.

    Returns:
        ``(channels, kept_samples)`` tensor (a copy); unchanged length for an all-zero input.
    """
    import torch

    magnitude = waveform.abs().amax(dim=0)
    peak = float(magnitude.max()) if magnitude.numel() else 0.0
    if peak <= 0:
        return waveform.clone()
    above = torch.nonzero(magnitude >= peak * 10.0 ** (threshold_db / 20.0))
    end = int(above[-1]) + 1
    if max_seconds is not None:
        end = min(end, max(1, round(max_seconds * sample_rate)))
    out = waveform[:, :end].clone()
    fade = min(end, round(fade_seconds * sample_rate))
    if fade > 1:
        ramp = 0.5 * (1.0 + torch.cos(torch.linspace(0.0, math.pi, fade, dtype=out.dtype)))
        out[:, end - fade :] *= ramp
    return out


@dataclass
class RenderedFile:
    """One rendered (piece, instrument) file.

    Attributes:
        instrument: style label (key of :data:`INSTRUMENTS`).
        path: absolute path of the FLAC file.
        peak_db: peak in dBFS; rms_db: RMS level in dBFS.
        rendered: ``False`` when an existing file was kept (resume).
    """

    instrument: str
    path: str
    peak_db: float
    rms_db: float
    rendered: bool = True


@dataclass
class PieceResult:
    """Outcome of rendering one piece in every requested instrument.

    Attributes:
        piece_id: the piece; group: its split group (before duplicate merging).
        fingerprint: SHA-1 of its notes (identical scores have identical fingerprints).
        score_seconds: playing time of the score in seconds, repeats expanded (as rendered).
        repeats: ``"none"``, ``"expanded"`` or ``"stripped"`` (see :class:`PlayableScore`).
        files: the rendered files; error: why the piece failed (``None`` if it did not).
    """

    piece_id: str
    collection: str
    group: str
    fingerprint: str = ""
    score_seconds: float = 0.0
    repeats: str = ""
    files: list[RenderedFile] = field(default_factory=list)
    error: str | None = None


def _levels_db(waveform: Any) -> tuple[float, float]:
    """Peak and RMS level in dBFS of a waveform tensor."""
    peak = float(waveform.abs().max())
    rms = float(waveform.double().square().mean().sqrt())
    to_db = lambda v: 20.0 * math.log10(v) if v > 0 else -math.inf  # noqa: E731
    return to_db(peak), to_db(rms)


def _piece_record_path(out_dir: Path, piece: Piece) -> Path:
    return out_dir / "pieces" / f"{piece.file_stem}.json"


def _audio_path(out_dir: Path, piece: Piece, instrument: str) -> Path:
    return out_dir / "audio" / instrument / f"{piece.file_stem}.flac"


def _write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1, allow_nan=False), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def render_piece(
    piece: Piece,
    instruments: Sequence[str],
    out_dir: str | os.PathLike[str],
    renderer: Renderer,
    max_tail_seconds: float = 3.0,
    silence_db: float = SILENCE_DB,
) -> PieceResult:
    """Render one piece in each instrument to ``out_dir/audio/<instrument>/<piece_file>.flac``.

    Files that already exist at ``renderer.sample_rate`` are kept (a file at another rate is
    rendered again); when every file and the per-piece record exist, the score is not even parsed.
    Errors are caught and returned in :attr:`PieceResult.error` (with the files rendered before the
    error), never raised, so one bad score does not stop a build.

    Args:
        piece: the score.
        instruments: keys of :data:`INSTRUMENTS`.
        out_dir: corpus folder.
        renderer: FluidSynth settings (:func:`find_renderer`).
        max_tail_seconds: longest kept tail after the score's last beat, in seconds.
        silence_db: a rendering with an RMS level below this (dBFS) is an error (e.g. no notes).

    Returns:
        :class:`PieceResult`; each file is mono 16-bit FLAC at ``renderer.sample_rate``, peak -1 dBFS.
    """
    from audiogen.audio.io import convert_channels, load_audio, probe_audio, save_audio

    out_dir = Path(out_dir)
    result = PieceResult(piece.piece_id, piece.collection, piece.group)
    record_path = _piece_record_path(out_dir, piece)
    try:
        record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.is_file() else None
        levels = dict(record.get("levels", {})) if record else {}
        playable: PlayableScore | None = None
        template = None

        def prepare() -> PlayableScore:
            music21 = _import_music21()
            score = music21.converter.parse(str(piece.source))
            result.fingerprint = _fingerprint(score)
            prepared = playable_score(score)
            result.score_seconds = score_seconds(prepared.score)
            result.repeats = prepared.repeats
            return prepared

        if record is not None and record.get("version") == _FORMAT_VERSION:
            result.fingerprint = record["fingerprint"]
            result.score_seconds = float(record["score_seconds"])
            result.repeats = record["repeats"]
        else:
            playable = prepare()
        for name in instruments:
            target = _audio_path(out_dir, piece, name)
            if target.is_file() and probe_audio(target).sample_rate == renderer.sample_rate:
                if name not in levels:
                    levels[name] = list(_levels_db(load_audio(target).waveform))
                peak_db, rms_db = levels[name]
                result.files.append(RenderedFile(name, str(target), peak_db, rms_db, rendered=False))
                continue
            if playable is None:
                playable = prepare()
            if template is None:
                template = midi_template(playable)
                if hanging := hanging_notes(template):
                    raise RenderError(f"{piece.piece_id}: {hanging} note(s) in the MIDI file never end")
            tmp_root = out_dir / ".tmp"
            tmp_root.mkdir(parents=True, exist_ok=True)
            limit = result.score_seconds + max_tail_seconds
            with tempfile.TemporaryDirectory(dir=tmp_root) as tmp:
                midi_path = score_to_midi(playable, INSTRUMENTS[name], Path(tmp) / "score.mid", template)
                stereo = render_midi(midi_path, renderer, max_seconds=limit)
            waveform = trim_tail(convert_channels(stereo, 1), renderer.sample_rate, max_seconds=limit)
            peak_db, rms_db = _levels_db(waveform)
            if not rms_db >= silence_db:
                raise RenderError(
                    f"{piece.piece_id} ({name}): rendering is silent (RMS {rms_db:.1f} dBFS); "
                    f"does the score hold notes?"
                )
            waveform = waveform * 10.0 ** ((_PEAK_TARGET_DB - peak_db) / 20.0)
            rms_db += _PEAK_TARGET_DB - peak_db
            peak_db = _PEAK_TARGET_DB
            save_audio(target, waveform, renderer.sample_rate, format="FLAC", subtype="PCM_16")
            levels[name] = [peak_db, rms_db]
            result.files.append(RenderedFile(name, str(target), peak_db, rms_db))
        _write_json_atomic(
            record_path,
            {
                "version": _FORMAT_VERSION,
                "piece_id": piece.piece_id,
                "collection": piece.collection,
                "source": piece.source.name,
                "group": piece.group,
                "fingerprint": result.fingerprint,
                "score_seconds": result.score_seconds,
                "repeats": result.repeats,
                "levels": {k: [round(v, 3) for v in lv] for k, lv in levels.items()},
            },
        )
    except Exception as err:  # noqa: BLE001 - one bad score must not stop the build
        result.error = f"{type(err).__name__}: {err}"
    return result


# ----------------------------------------------------------------------------------------------
# building


@dataclass
class CorpusResult:
    """What :func:`build_default_corpus` produced.

    Attributes:
        out_dir: the corpus folder; manifest: path of ``manifest.jsonl``.
        entries: manifest entries (label = instrument, group = piece group, split).
        failures: ``piece_id -> error`` for pieces that could not be rendered.
        rendered: number of files rendered now; reused: number kept from an earlier run.
        elapsed: wall-clock seconds.
    """

    out_dir: Path
    manifest: Path
    entries: list[ManifestEntry]
    failures: dict[str, str]
    rendered: int = 0
    reused: int = 0
    elapsed: float = 0.0

    def totals(self) -> dict[str, Any]:
        """Pieces, groups and hours per split and per instrument (JSON-friendly)."""
        out: dict[str, Any] = {
            "files": len(self.entries),
            "pieces": len({e.meta.get("piece") for e in self.entries}),
            "groups": len({e.group for e in self.entries}),
            "hours": round(sum(e.duration for e in self.entries) / 3600, 4),
            "hours_per_split": {},
            "pieces_per_split": {},
            "hours_per_instrument": {},
        }
        for split in ("train", "valid", "test"):
            chosen = [e for e in self.entries if e.split == split]
            out["hours_per_split"][split] = round(sum(e.duration for e in chosen) / 3600, 4)
            out["pieces_per_split"][split] = len({e.meta.get("piece") for e in chosen})
        for label in sorted({e.label or "" for e in self.entries}):
            chosen = [e for e in self.entries if e.label == label]
            out["hours_per_instrument"][label] = round(sum(e.duration for e in chosen) / 3600, 4)
        return out

    def summary(self) -> str:
        """Human-readable summary."""
        t = self.totals()
        lines = [
            f"corpus {self.out_dir}: {t['files']} files, {t['pieces']} pieces in {t['groups']} groups, "
            f"{t['hours']:.2f} h ({self.rendered} rendered now, {self.reused} reused, {self.elapsed:.0f} s)",
            "  per split: "
            + ", ".join(
                f"{s} {t['hours_per_split'][s]:.2f} h / {t['pieces_per_split'][s]} pieces"
                for s in t["hours_per_split"]
            ),
            "  per instrument: " + ", ".join(f"{k} {v:.2f} h" for k, v in t["hours_per_instrument"].items()),
            f"  manifest: {self.manifest}",
        ]
        if self.failures:
            lines.append(f"  {len(self.failures)} piece(s) failed:")
            lines.extend(f"    {k}: {v}" for k, v in sorted(self.failures.items()))
        return "\n".join(lines)


def _merge_duplicate_groups(results: Sequence[PieceResult]) -> dict[str, str]:
    """``piece_id -> final group``: pieces with identical fingerprints share the group that comes
    first in sort order (union-find over group keys)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    by_fingerprint: dict[str, str] = {}
    for r in results:
        find(r.group)
        first = by_fingerprint.setdefault(r.fingerprint, r.group)
        a, b = find(first), find(r.group)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return {r.piece_id: find(r.group) for r in results}


def _render_job(args: tuple[Piece, tuple[str, ...], str, Renderer, float]) -> PieceResult:
    """Process-pool entry point (module level so it pickles)."""
    piece, instruments, out_dir, renderer, max_tail = args
    return render_piece(piece, instruments, out_dir, renderer, max_tail_seconds=max_tail)


def build_default_corpus(
    out_dir: str | os.PathLike[str],
    *,
    instruments: Sequence[str] = tuple(INSTRUMENTS),
    collections: Sequence[str] = DEFAULT_COLLECTIONS,
    max_pieces: int | None = None,
    sample_rate: int = 22050,
    workers: int = 2,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    fluidsynth: str | os.PathLike[str] = "fluidsynth",
    soundfont: str | os.PathLike[str] = DEFAULT_SOUNDFONT,
    gain: float = 0.5,
    max_tail_seconds: float = 3.0,
    progress: bool = True,
) -> CorpusResult:
    """Render the default corpus and write its manifest.

    Every piece of ``collections`` (or ``max_pieces`` of them) is rendered in every instrument
    (:func:`render_piece`) by ``workers`` processes; then the split of each piece group is drawn
    with :func:`~audiogen.data.manifest.split_for_group` (``valid_fraction`` / ``test_fraction`` of
    the groups, e.g. 80/10/10), so every file of a piece, in every instrument, is in one split.
    Finally ``manifest.jsonl`` (label = instrument, group = piece group, ``meta`` = piece id,
    collection, GM program, score seconds) and ``corpus.json`` (settings and totals) are written.

    Args:
        out_dir: corpus folder (created).
        instruments: keys of :data:`INSTRUMENTS`.
        collections: keys of :data:`COLLECTIONS`.
        max_pieces: render only this many pieces (evenly spaced, see :func:`list_pieces`).
        sample_rate: output sample rate in Hz.
        workers: parallel processes (each runs one FluidSynth at a time).
        valid_fraction, test_fraction: expected fractions of piece groups in those splits.
        seed: split seed.
        fluidsynth: FluidSynth executable name or path.
        soundfont: General MIDI SoundFont path.
        gain: FluidSynth gain.
        max_tail_seconds: longest kept tail after the last beat, in seconds.
        progress: show a tqdm progress bar.

    Returns:
        :class:`CorpusResult`; failed pieces are listed in ``failures`` and left out of the manifest.

    Raises:
        MissingDependencyError: FluidSynth, the SoundFont or music21 is missing (checked before
            anything is rendered).
        ValueError: an unknown instrument or collection, ``workers`` < 1, bad fractions.
    """
    from tqdm import tqdm

    from audiogen.audio.io import probe_audio

    unknown = [i for i in instruments if i not in INSTRUMENTS]
    if unknown or not instruments:
        raise ValueError(f"unknown or no instrument(s) {unknown}; choose from {sorted(INSTRUMENTS)}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    split_for_group("", valid_fraction, test_fraction, seed)  # validate fractions
    renderer = find_renderer(fluidsynth, soundfont, sample_rate, gain)
    pieces = list_pieces(collections, max_pieces)
    out_dir = Path(out_dir).absolute()
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    jobs = [(p, tuple(instruments), str(out_dir), renderer, max_tail_seconds) for p in pieces]
    results: list[PieceResult] = []
    bar = tqdm(total=len(jobs), desc="render", unit="piece", disable=not progress, dynamic_ncols=True)
    if workers == 1:
        for job in jobs:
            results.append(_render_job(job))
            bar.update()
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(_render_job, job) for job in jobs]
            try:
                for future in as_completed(futures):
                    results.append(future.result())
                    bar.update()
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
    bar.close()
    shutil.rmtree(out_dir / ".tmp", ignore_errors=True)

    results.sort(key=lambda r: r.piece_id)
    good = [r for r in results if r.error is None]
    failures = {r.piece_id: r.error for r in results if r.error is not None}
    groups = _merge_duplicate_groups(good)
    entries: list[ManifestEntry] = []
    rendered = reused = 0
    for r in good:
        group = groups[r.piece_id]
        split = split_for_group(group, valid_fraction, test_fraction, seed)
        for f in r.files:
            info = probe_audio(f.path)
            rendered += f.rendered
            reused += not f.rendered
            entries.append(
                ManifestEntry.from_probe(
                    f.path,
                    info,
                    split=split,
                    group=group,
                    label=f.instrument,
                    peak_db=round(f.peak_db, 2),
                    rms_db=round(f.rms_db, 2),
                    meta={
                        "piece": r.piece_id,
                        "collection": r.collection,
                        "gm_program": INSTRUMENTS[f.instrument],
                        "score_seconds": round(r.score_seconds, 3),
                        "repeats": r.repeats,
                    },
                )
            )
    manifest = write_manifest(out_dir / "manifest.jsonl", entries)
    result = CorpusResult(
        out_dir=out_dir,
        manifest=manifest,
        entries=entries,
        failures=failures,
        rendered=rendered,
        reused=reused,
        elapsed=time.perf_counter() - start,
    )
    _write_json_atomic(
        out_dir / "corpus.json",
        {
            "instruments": {name: INSTRUMENTS[name] for name in instruments},
            "collections": {c: list(COLLECTIONS[c]) for c in collections},
            "max_pieces": max_pieces,
            "renderer": {k: str(v) for k, v in dataclasses.asdict(renderer).items()},
            "valid_fraction": valid_fraction,
            "test_fraction": test_fraction,
            "seed": seed,
            "max_tail_seconds": max_tail_seconds,
            "build_seconds": round(result.elapsed, 1),
            "totals": result.totals(),
            "failures": failures,
        },
    )
    return result
