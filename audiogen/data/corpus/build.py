"""Build the default corpus: render every piece in every instrument, split by piece group, write
the manifest (:func:`build_default_corpus`)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiogen.data.corpus.midi import INSTRUMENTS
from audiogen.data.corpus.render import (
    DEFAULT_SOUNDFONT,
    PieceResult,
    Renderer,
    _write_json_atomic,
    find_renderer,
    render_piece,
)
from audiogen.data.corpus.scores import COLLECTIONS, DEFAULT_COLLECTIONS, Piece
from audiogen.data.manifest import ManifestEntry, split_for_group, write_manifest


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
    # looked up on the package when called, so a caller may replace audiogen.data.corpus.list_pieces
    # (e.g. to build a chosen subset)
    from audiogen.data import corpus

    pieces = corpus.list_pieces(collections, max_pieces)
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
