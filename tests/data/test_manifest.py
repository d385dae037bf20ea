"""Folder scanning, rejection reasons, manifests on disk and group-wise splits."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from audiogen.cli import app
from audiogen.data.manifest import (
    ManifestEntry,
    ManifestError,
    Rejection,
    assign_splits,
    group_key,
    read_manifest,
    read_rejections,
    scan_folder,
    split_for_group,
    write_manifest,
)


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


def test_manifest_lists_exactly_the_good_files(folder, scanned):
    listed = {Path(e.path).relative_to(folder).as_posix(): e for e in scanned.entries}
    assert set(listed) == {g[0] for g in GOOD.values()}
    for rel, rate, channels, seconds, fmt, subtype in GOOD.values():
        entry = listed[rel]
        assert entry.sample_rate == rate
        assert entry.channels == channels
        assert entry.format == fmt and entry.subtype == subtype
        # MP3 adds encoder delay/padding; everything else is exact to the sample
        tolerance = 0.1 if fmt == "MP3" else 0.5 / rate
        assert abs(entry.duration - seconds) <= tolerance
        assert -10.0 < entry.rms_db < -1.0 and entry.peak_db <= 0.5
    assert scanned.ignored == 2  # README.txt and tags.json; hidden files are skipped entirely


def test_report_names_each_bad_file_with_its_reason(folder, scanned):
    reasons = {Path(r.path).relative_to(folder).as_posix(): r for r in scanned.rejections}
    assert {k: v.reason for k, v in reasons.items()} == {rel: code for rel, code in BAD.values()}
    assert "truncated" in reasons["bad/truncated.flac"].detail
    assert "not an audio file" in reasons["bad/notes.wav"].detail
    assert "NaN" in reasons["bad/nan.wav"].detail
    assert "shorter than min_seconds" in reasons["bad/short.wav"].detail
    assert "below silence_db" in reasons["bad/silent.flac"].detail


def test_thresholds_are_applied(folder):
    # every good file is >= 0.6 s long and has an RMS level around -9 dBFS
    strict = scan_folder(folder, min_seconds=1.1, silence_db=-5.0, progress=False)
    long_enough = {g[0] for g in GOOD.values() if g[3] >= 1.1}
    assert {Path(e.path).relative_to(folder).as_posix() for e in strict.entries} == set()
    too_short = {
        Path(r.path).relative_to(folder).as_posix() for r in strict.rejections if r.reason == "too_short"
    }
    silent = {Path(r.path).relative_to(folder).as_posix() for r in strict.rejections if r.reason == "silent"}
    assert {g[0] for g in GOOD.values()} - long_enough <= too_short
    assert long_enough <= silent


def test_unexpected_error_is_reported_not_raised(folder):
    from audiogen.data.manifest import check_audio_file

    def flaky(path, min_seconds, silence_db):
        if path.name == "song.flac":
            raise RuntimeError("disk on fire")
        return check_audio_file(path, min_seconds, silence_db)

    result = scan_folder(folder, progress=False, check=flaky, workers=2)
    errors = [r for r in result.rejections if r.reason == "error"]
    assert [Path(r.path).name for r in errors] == ["song.flac"]
    assert "disk on fire" in errors[0].detail
    assert len(result.entries) == len(GOOD) - 1


def test_missing_folder_raises_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        scan_folder(tmp_path / "nope", progress=False)


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


def test_cli_scan_writes_manifest_and_report(tmp_path, folder):
    manifest = tmp_path / "manifest.jsonl"
    report = tmp_path / "rejected.jsonl"
    result = CliRunner().invoke(
        app,
        ["data", "scan", str(folder), "--out", str(manifest), "--report", str(report), "--no-progress",
         "--test-fraction", "0.1", "--label-by", "parent"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    entries = read_manifest(manifest)
    assert len(entries) == len(GOOD)
    assert {e.label for e in entries} == {"speech", "surround", "music", "deep", None}
    rejections = read_rejections(report)
    assert sorted(Path(r.path).name for r in rejections) == sorted(Path(b[0]).name for b in BAD.values())
    assert all(isinstance(r, Rejection) and r.detail for r in rejections)
    assert f"{len(GOOD)} usable, {len(BAD)} rejected" in result.output
    hours = sum(e.duration for e in entries) / 3600
    assert f"total {hours:.3f} h" in result.output
    assert not math.isnan(hours)


def test_cli_scan_bad_option(tmp_path, folder):
    result = CliRunner().invoke(
        app, ["data", "scan", str(folder), "--out", str(tmp_path / "m.jsonl"), "--group-by", "x"]
    )
    assert result.exit_code == 2
    assert "--group-by" in result.output


def test_scan_rejects_implausible_header_rates_with_the_range(tmp_path):
    # a bit flip that turns 22,050 Hz into 1 Hz makes a 0.2 s clip claim 73.5 minutes
    import struct

    sf.write(str(tmp_path / "good.wav"), _tone(22050, 1, 1.0), 22050, subtype="PCM_16")
    flipped = tmp_path / "flipped.wav"
    sf.write(str(flipped), _tone(22050, 1, 0.2), 22050, subtype="PCM_16")
    raw = bytearray(flipped.read_bytes())
    raw[24:28] = struct.pack("<I", 1)  # fmt chunk: sample rate
    raw[28:32] = struct.pack("<I", 2)  # byte rate
    flipped.write_bytes(bytes(raw))
    result = scan_folder(tmp_path, progress=False)
    assert [Path(e.path).name for e in result.entries] == ["good.wav"]
    (rejection,) = result.rejections
    assert rejection.reason == "bad_sample_rate"
    assert "1 Hz" in rejection.detail and "4000-192000 Hz" in rejection.detail
    assert result.seconds() == pytest.approx(1.0)
