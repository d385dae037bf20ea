"""Manifests on disk (relative paths, errors naming the line), group keys and group-wise splits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiogen.data.manifest import (
    ManifestEntry,
    ManifestError,
    assign_splits,
    empty_split_warnings,
    group_key,
    read_manifest,
    split_for_group,
    write_manifest,
)
from audiogen.data.scan import scan_folder


def _tone(sample_rate: int, channels: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    """(samples, channels) float32 sines, a different frequency per channel."""
    t = np.arange(round(sample_rate * seconds)) / sample_rate
    freqs = 220.0 * (1 + np.arange(channels))
    return (amplitude * np.sin(2 * np.pi * freqs[None, :] * t[:, None])).astype(np.float32)


# name -> (relative path, sample_rate, channels, seconds, format, subtype)
GOOD = {
    "wav16_8k_mono": ("speech/a_01.wav", 8000, 1, 1.0, "WAV", "PCM_16"),
    "wav24_96k_stereo": ("speech/a_02.wav", 96000, 2, 0.7, "WAV", "PCM_24"),
    "wavfloat_44k_6ch": ("surround/mix.wav", 44100, 6, 0.8, "WAV", "FLOAT"),
    "flac_48k_stereo": ("music/song.flac", 48000, 2, 1.2, "FLAC", "PCM_24"),
    "flac_96k_mono": ("music/deep/hi.flac", 96000, 1, 0.6, "FLAC", "PCM_16"),
    "ogg_22k_mono": ("music/vorbis.ogg", 22050, 1, 1.0, "OGG", "VORBIS"),
    "aiff_16k_mono": ("top.aiff", 16000, 1, 1.0, "AIFF", "PCM_16"),
    "mp3_44k_stereo": ("music/track.mp3", 44100, 2, 1.5, "MP3", "MPEG_LAYER_III"),
}

# name -> (relative path, expected reason code)
BAD = {
    "zero_bytes": ("bad/empty.wav", "empty"),
    "truncated_flac": ("bad/truncated.flac", "unreadable"),
    "text_as_wav": ("bad/notes.wav", "unreadable"),
    "nan_samples": ("bad/nan.wav", "non_finite"),
    "all_silent": ("bad/silent.flac", "silent"),
    "ten_ms": ("bad/short.wav", "too_short"),
}


def _make_folder(root: Path) -> None:
    for rel, rate, channels, seconds, fmt, subtype in GOOD.values():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), _tone(rate, channels, seconds), rate, format=fmt, subtype=subtype)
    bad = root / "bad"
    bad.mkdir()
    (bad / "empty.wav").write_bytes(b"")
    full = root / "full.flac.tmp"
    sf.write(str(full), _tone(44100, 1, 2.0), 44100, format="FLAC")
    data = full.read_bytes()
    (bad / "truncated.flac").write_bytes(data[: len(data) // 2])
    full.unlink()
    (bad / "notes.wav").write_text("these are my notes, not audio\n" * 20)
    nan = _tone(16000, 1, 1.0)
    nan[100:200] = np.nan
    sf.write(str(bad / "nan.wav"), nan, 16000, subtype="FLOAT")
    sf.write(str(bad / "silent.flac"), np.zeros((22050, 1), np.float32), 22050, format="FLAC")
    sf.write(str(bad / "short.wav"), _tone(16000, 1, 0.01), 16000)
    # not audio and not reported
    (root / "README.txt").write_text("hello")
    (root / "music" / "tags.json").write_text("{}")
    (root / ".hidden.wav").write_text("garbage in a hidden file")
    (root / ".cache").mkdir()
    (root / ".cache" / "x.wav").write_text("garbage in a hidden folder")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("collection")
    _make_folder(root)
    return root


@pytest.fixture(scope="module")
def scanned(folder):
    return scan_folder(folder, workers=2, progress=False, valid_fraction=0.3, test_fraction=0.2)


def test_mp3_is_writable_here():
    assert "MP3" in sf.available_formats()


def test_group_keys():
    assert group_key("speaker1/take_01.wav", "parent") == "speaker1"
    assert group_key("a/b/c.wav", "parent") == "a/b"
    assert group_key("loose.wav", "parent") == "loose.wav"  # top-level files are their own group
    assert group_key("x/song_01.wav", "stem-regex") == "song"
    assert group_key("y/song-2.flac", "stem-regex") == "song"
    assert group_key("y/001.flac", "stem-regex") == "001"  # empty capture falls back to the stem
    assert group_key("y/take3_mic2.wav", "stem-regex", r"^(take\d+)") == "take3"
    assert group_key("a/b/c.wav", "none") == "a/b/c.wav"
    with pytest.raises(ValueError, match="group_by"):
        group_key("a.wav", "folder")  # type: ignore[arg-type]


def test_splits_disjoint_by_group_and_fractions_plausible():
    entries = [
        ManifestEntry(
            path=f"/d/g{g}/f{i}.wav", duration=1.0, sample_rate=16000, channels=1, frames=16000, group=f"g{g}"
        )
        for g in range(400)
        for i in range(3)
    ]
    out = assign_splits(entries, valid_fraction=0.2, test_fraction=0.1, seed=3)
    split_of_group: dict[str, set[str]] = {}
    for e in out:
        split_of_group.setdefault(e.group, set()).add(e.split)
    assert all(len(s) == 1 for s in split_of_group.values())
    counts = {s: sum(1 for v in split_of_group.values() if v == {s}) for s in ("train", "valid", "test")}
    # 400 groups: binomial standard deviations are about 8 (valid) and 6 (test)
    assert 40 <= counts["valid"] <= 120 and 15 <= counts["test"] <= 70 and counts["train"] >= 220
    # another seed gives another assignment; the same seed the same one
    assert [e.split for e in assign_splits(entries, 0.2, 0.1, seed=3)] == [e.split for e in out]
    assert [e.split for e in assign_splits(entries, 0.2, 0.1, seed=4)] != [e.split for e in out]
    # growing valid_fraction only moves groups out of train
    bigger = assign_splits(entries, valid_fraction=0.4, test_fraction=0.1, seed=3)
    for before, after in zip(out, bigger, strict=True):
        if before.split != "train":
            assert after.split == before.split


def test_split_fraction_validation():
    with pytest.raises(ValueError, match="<= 1"):
        split_for_group("g", 0.7, 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        split_for_group("g", -0.1, 0.0)


def test_splits_stable_when_files_are_added(tmp_path):
    root = tmp_path / "data"
    for g in range(30):
        for i in range(2):
            path = root / f"group{g:02d}" / f"f{i}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(path), _tone(8000, 1, 0.6), 8000)
    first = scan_folder(root, valid_fraction=0.3, test_fraction=0.2, progress=False)
    assert {e.split for e in first.entries} == {"train", "valid", "test"}
    # add files to existing groups and new groups
    for g in range(25, 40):
        path = root / f"group{g:02d}" / "new.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), _tone(8000, 1, 0.6), 8000)
    second = scan_folder(root, valid_fraction=0.3, test_fraction=0.2, progress=False)
    before = {e.path: e.split for e in first.entries}
    after = {e.path: e.split for e in second.entries}
    assert len(after) == len(before) + 15
    assert all(after[p] == s for p, s in before.items())
    by_group: dict[str, set[str]] = {}
    for e in second.entries:
        by_group.setdefault(e.group, set()).add(e.split)
    assert all(len(s) == 1 for s in by_group.values())


def test_manifest_round_trip_with_relative_paths(tmp_path, folder, scanned):
    out = tmp_path / "lists" / "manifest.jsonl"
    write_manifest(out, scanned.entries)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(not Path(r["path"]).is_absolute() for r in records)
    assert (out.parent / records[0]["path"]).resolve() == Path(scanned.entries[0].path).resolve()
    back = read_manifest(out)
    assert len(back) == len(scanned.entries)
    for a, b in zip(back, scanned.entries, strict=True):
        assert Path(a.path).resolve() == Path(b.path).resolve()
        assert (a.duration, a.sample_rate, a.channels, a.frames, a.split, a.group) == (
            b.duration,
            b.sample_rate,
            b.channels,
            b.frames,
            b.split,
            b.group,
        )


def test_read_manifest_errors_name_file_and_line(tmp_path):
    good = {"path": "a.wav", "duration": 1.0, "sample_rate": 16000, "channels": 1}
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(good) + "\n\n" + '{"path": "b.wav", "duration": 1.0,\n')
    with pytest.raises(ManifestError, match=r"m\.jsonl, line 3: invalid JSON"):
        read_manifest(path)
    path.write_text(json.dumps(good) + "\n" + json.dumps({"path": "b.wav", "duration": 2.0}) + "\n")
    with pytest.raises(ManifestError, match=r"line 2: missing key\(s\) \['sample_rate', 'channels'\]"):
        read_manifest(path)
    path.write_text(json.dumps({**good, "colour": "red"}) + "\n")
    with pytest.raises(ManifestError, match=r"line 1: unknown key\(s\) \['colour'\]"):
        read_manifest(path)
    path.write_text(json.dumps({**good, "sample_rate": "fast"}) + "\n")
    with pytest.raises(ManifestError, match="line 1: bad value"):
        read_manifest(path)
    path.write_text(json.dumps(good) + "\n")
    (entry,) = read_manifest(path)
    assert entry.path == str(tmp_path / "a.wav") and entry.frames == 16000 and entry.split == "train"
    with pytest.raises(FileNotFoundError, match="manifest not found"):
        read_manifest(tmp_path / "missing.jsonl")


def test_a_split_that_comes_out_empty_is_warned_about():
    from audiogen.data.scan import ScanResult

    entries = [
        ManifestEntry(
            path=f"/d/f{i}.wav", duration=1.0, sample_rate=16000, channels=1, frames=16000, group=f"f{i}"
        )
        for i in range(10)
    ]
    seed = next(s for s in range(100) if all(e.split == "train" for e in assign_splits(entries, 0.1, 0.0, s)))
    entries = assign_splits(entries, valid_fraction=0.1, test_fraction=0.0, seed=seed)
    (warning,) = empty_split_warnings(entries, {"valid": 0.1, "test": 0.0})  # test: not asked for
    assert warning.startswith("the valid split is empty") and "10 group(s)" in warning and "0.1" in warning
    summary = ScanResult(Path("/d"), entries, [], fractions={"valid": 0.1, "test": 0.0}).summary()
    assert summary.splitlines()[-1] == f"warning: {warning}"
    # a split that got files, or an empty collection (reported on its own), gives no warning
    entries[0].split = "valid"
    assert empty_split_warnings(entries, {"valid": 0.1}) == []
    assert "warning" not in ScanResult(Path("/d"), [], [], fractions={"valid": 0.1}).summary()
