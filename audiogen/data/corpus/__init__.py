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
:mod:`~audiogen.data.corpus.build`; :func:`build_default_corpus` (here) runs them over the
collections. It calls :func:`list_pieces` through this package's namespace, so a caller may replace
``audiogen.data.corpus.list_pieces`` (e.g. to render a chosen subset).

Layout of the output folder::

    out/audio/<instrument>/<piece_file>.flac   rendered audio (mono FLAC)
    out/pieces/<piece_file>.json               per-piece record (group, fingerprint, score seconds)
    out/manifest.jsonl                         the manifest (label = instrument, group = piece group)
    out/corpus.json                            build settings and totals
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from audiogen.data.corpus.build import CorpusResult, _merge_duplicate_groups, _render_job
from audiogen.data.corpus.midi import INSTRUMENTS, hanging_notes, midi_template, score_to_midi, set_program
from audiogen.data.corpus.render import (
    DEFAULT_SOUNDFONT,
    PieceResult,
    Renderer,
    RenderError,
    _write_json_atomic,
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
    pieces = list_pieces(collections, max_pieces)  # this module's name: a caller may replace it
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
