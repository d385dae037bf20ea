"""Folder scanning: which files are listed, rejection reasons and the report, the CLI's data scan."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import soundfile as sf
from typer.testing import CliRunner

from audiogen.cli import app
from audiogen.data.manifest import read_manifest
from audiogen.data.scan import Rejection, read_rejections, read_warnings, scan_folder
from tests.data.test_manifest import BAD, GOOD, _make_folder, _tone


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("collection")
    _make_folder(root)
    return root


@pytest.fixture(scope="module")
def scanned(folder):
    return scan_folder(folder, workers=2, progress=False, valid_fraction=0.3, test_fraction=0.2)


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
    from audiogen.data.scan import check_audio_file

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


# ---------------------------------------------------------------------------------------------
# lossy files whose header overstates the length


@pytest.fixture(scope="module")
def mp3_folder(tmp_path_factory) -> tuple[Path, dict[str, tuple[int, int]]]:
    """MP3s whose Xing count and Oggs whose last granule position overstate the length: within the
    tolerance (kept) and not (rejected)."""
    from tests.audio.lossy_files import overstated_mp3, overstated_ogg

    root = tmp_path_factory.mktemp("mp3s")
    counts = {}
    for name, seconds, rate, extra, channels in [
        ("long.mp3", 20.0, 22050, 1, 1),  # ~0.1 % short: kept
        ("stereo.mp3", 3.0, 44100, 1, 2),  # 925 frames short: kept
        ("half.mp3", 20.0, 22050, 1, 1),  # then cut in the middle: rejected
        ("far.mp3", 3.0, 22050, 40, 1),  # 1 s short of 3 s: beyond the 25 % cap, rejected
    ]:
        _, declared, decoded = overstated_mp3(root / name, seconds, rate, extra, channels)
        counts[name] = (declared, decoded)
    for name, subtype, rate in [("vorbis.ogg", "VORBIS", 44100), ("opus.opus", "OPUS", 48000)]:
        _, declared, decoded = overstated_ogg(root / name, 2.0, rate, subtype, 1000)
        counts[name] = (declared, decoded)
    half = root / "half.mp3"
    half.write_bytes(half.read_bytes()[: half.stat().st_size // 2])
    (root / "zero.mp3").touch()
    return root, counts


KEPT, REJECTED = (
    {"long.mp3", "stereo.mp3", "vorbis.ogg", "opus.opus"},
    {"half.mp3": "unreadable", "far.mp3": "unreadable", "zero.mp3": "empty"},
)


@pytest.mark.parametrize("window", ["default", "ends_on_the_decoded_end", "one_second"])
def test_scan_keeps_lossy_files_short_of_their_header_with_the_decoded_length_and_a_warning(
    mp3_folder, window, monkeypatch
):
    root, counts = mp3_folder
    if window == "ends_on_the_decoded_end":  # the next window starts past the last decoded frame
        monkeypatch.setattr("audiogen.data.scan._CHECK_BLOCK_SECONDS", (counts["long.mp3"][1] + 0.5) / 22050)
    elif window == "one_second":
        monkeypatch.setattr("audiogen.data.scan._CHECK_BLOCK_SECONDS", 1.0)
    result = scan_folder(root, progress=False, valid_fraction=0.0)
    entries = {Path(e.path).name: e for e in result.entries}
    assert set(entries) == KEPT
    # libsndfile quirk: after a seek into an Ogg Vorbis file's last page, reading goes on to the
    # granule position's count, so a Vorbis file whose last window starts with a seek decodes to
    # its header's length (Opus and MP3 do not)
    seeks_into_last_page = {"vorbis.ogg"} if window == "one_second" else set()
    for name, entry in entries.items():
        declared, decoded = counts[name]
        assert 0 < declared - decoded <= 0.01 * declared or declared - decoded < entry.sample_rate
        if name in seeks_into_last_page:
            assert entry.frames == declared and entry.meta == {}
            continue
        assert entry.frames == decoded and entry.duration == decoded / entry.sample_rate
        assert entry.meta == {"header_frames": declared}
        assert -20 < entry.rms_db < -3
    warned = KEPT - seeks_into_last_page
    assert {Path(w.path).name: w.reason for w in result.warnings} == dict.fromkeys(warned, "length_estimate")
    declared, decoded = counts["long.mp3"]
    (warning,) = [w for w in result.warnings if w.path.endswith("long.mp3")]
    assert f"after {decoded} of the {declared} frames the MP3 header estimates" in warning.detail
    assert f"kept with a warning, length_estimate: {len(warned)}" in result.summary()
    rejections = {Path(r.path).name: r for r in result.rejections}
    assert {name: r.reason for name, r in rejections.items()} == REJECTED
    pattern = rf"^truncated or corrupt: decoding (failed|stopped) after \d+ of {counts['half.mp3'][0]} frames"
    assert re.search(pattern, rejections["half.mp3"].detail), rejections["half.mp3"].detail
    assert rejections["far.mp3"].detail == (
        f"truncated or corrupt: decoding stopped after {counts['far.mp3'][1]} of {counts['far.mp3'][0]} "
        "frames the MP3 header declares"
    )


def test_cli_scan_reports_the_warnings_beside_the_rejections(mp3_folder, tmp_path):
    root, counts = mp3_folder
    manifest, report = tmp_path / "manifest.jsonl", tmp_path / "report.jsonl"
    result = CliRunner().invoke(
        app, ["data", "scan", str(root), "--out", str(manifest), "--report", str(report), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert {Path(e.path).name: e.frames for e in read_manifest(manifest)} == {n: counts[n][1] for n in KEPT}
    assert {Path(r.path).name: r.reason for r in read_rejections(report)} == REJECTED
    warnings = read_warnings(report)
    assert {Path(w.path).name for w in warnings} == KEPT and all(
        w.reason == "length_estimate" for w in warnings
    )
    assert sum('"kept": true' in line for line in report.read_text().splitlines()) == len(KEPT)
    assert f"3 rejected, {len(KEPT)} kept with a warning" in result.output
    kept_lines = [x for x in result.output.splitlines() if x.startswith("warning: ") and "kept with" in x]
    assert len(kept_lines) == len(KEPT) and "long.mp3: decoding ends after" in result.output
