"""Pieces of the corpus build (:func:`audiogen.data.corpus.build_default_corpus`): the rendering
job of one piece, the merging of split groups whose scores have identical notes, and the result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiogen.data.corpus.render import PieceResult, Renderer, render_piece
from audiogen.data.corpus.scores import Piece
from audiogen.data.manifest import ManifestEntry


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
