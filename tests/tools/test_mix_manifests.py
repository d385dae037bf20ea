"""tools/mix_manifests.py: the whole base manifest plus the requested hours of the other's train files."""

from __future__ import annotations

from pathlib import Path

from audiogen.data.manifest import ManifestEntry, read_manifest, write_manifest
from tests.tools import load_tool


def _tool():
    return load_tool("mix_manifests")


def _entries(folder: Path, name: str, splits: list[str], seconds: float) -> list[ManifestEntry]:
    return [
        ManifestEntry(
            path=str(folder / f"{name}{i}.wav"),
            duration=seconds,
            sample_rate=16000,
            channels=1,
            frames=round(seconds * 16000),
            split=split,
        )
        for i, split in enumerate(splits)
    ]


def test_mix_keeps_the_base_adds_train_hours_and_holds_out_the_extra_test_files(tmp_path):
    base = _entries(tmp_path / "a", "base", ["train", "train", "valid", "test"], 60.0)
    extra = _entries(tmp_path / "b", "extra", ["train"] * 10 + ["valid", "test", "test"], 1800.0)
    write_manifest(tmp_path / "a" / "m.jsonl", base)
    write_manifest(tmp_path / "b" / "m.jsonl", extra)
    out, listed = tmp_path / "out" / "mixed.jsonl", tmp_path / "out" / "extra.txt"
    args = [str(tmp_path / "a" / "m.jsonl"), str(tmp_path / "b" / "m.jsonl"), "--extra-train-hours", "1.2"]
    assert _tool().main([*args, "--out", str(out), "--list", str(listed)]) == 0
    mixed = read_manifest(out)
    paths = [Path(e.path).resolve() for e in mixed]
    assert paths[: len(base)] == [Path(e.path).resolve() for e in base]  # the base, whole and first
    added = [e for e in mixed[len(base) :] if e.split == "train"]
    assert len(added) == 3  # 30-minute files until 1.2 h is reached: 1.5 h
    assert [e.split for e in mixed[len(base) :]].count("valid") == 1
    assert not any(e.split == "test" and "extra" in e.path for e in mixed)
    assert sorted(listed.read_text().split()) == sorted(Path(e.path).name for e in added)
    # the same seed chooses the same files, another seed (here) others
    again = tmp_path / "again.jsonl"
    _tool().main([*args, "--out", str(again)])
    assert [Path(e.path).resolve() for e in read_manifest(again)] == paths
    other = tmp_path / "other.jsonl"
    _tool().main([*args, "--seed", "5", "--out", str(other)])
    assert {Path(e.path).resolve() for e in read_manifest(other)} != set(paths)
