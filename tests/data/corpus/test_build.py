"""Corpus build: splits by piece, resume, a replaced list_pieces, missing tools reported by the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audiogen.cli import app
from audiogen.data import corpus as C
from audiogen.data.manifest import read_manifest, split_for_group

HAVE_RENDERER = shutil.which("fluidsynth") is not None and C.DEFAULT_SOUNDFONT.is_file()
needs_renderer = pytest.mark.skipif(not HAVE_RENDERER, reason="fluidsynth / fluid-soundfont-gm not installed")


def test_cli_build_default_reports_missing_tools(tmp_path):
    result = CliRunner().invoke(
        app,
        ["data", "build-default", "--out", str(tmp_path / "c"), "--fluidsynth", str(tmp_path / "nofluid"),
         "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "fluidsynth" in result.output and "apt-get install" in result.output
    assert not (tmp_path / "c").exists()  # nothing was started


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
        assert e.split == split_for_group(e.group, 0.34, 0.33, 0)
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


@needs_renderer
def test_build_uses_list_pieces_as_found_on_the_package(tmp_path, monkeypatch):
    """A caller may replace ``audiogen.data.corpus.list_pieces`` (a subset build) and the build sees it."""
    original = C.list_pieces
    monkeypatch.setattr(C, "list_pieces", lambda collections, max_pieces=None: original(["chorales"], 1))
    result = C.build_default_corpus(tmp_path / "c", instruments=["piano"], workers=1, progress=False)
    assert result.failures == {} and len(result.entries) == 1
    assert result.entries[0].meta["collection"] == "chorales"
