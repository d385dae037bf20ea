"""Log-mel feature cache: values, reuse for equal settings, rebuild for different ones, crops."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from audiogen.audio.features import LogMelSpectrogram
from audiogen.audio.io import load_audio
from audiogen.config import MelConfig
from audiogen.data.cache import MelCacheDataset, build_mel_cache
from audiogen.data.manifest import ManifestEntry
from audiogen.data.scan import check_audio_file

CONFIG = MelConfig(sample_rate=16000, n_fft=512, hop_length=128, n_mels=40)


def _write(path: Path, rate: int, seconds: float, freq: float, channels: int = 1) -> None:
    t = np.arange(round(rate * seconds)) / rate
    wave = 0.4 * np.sin(2 * np.pi * freq * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    sf.write(str(path), np.repeat(wave[:, None], channels, axis=1).astype(np.float32), rate)


@pytest.fixture()
def entries(tmp_path) -> list[ManifestEntry]:
    specs = [
        ("a.wav", 16000, 2.0, 440.0, 1, "x", "train"),
        ("b.wav", 22050, 1.3, 880.0, 2, "y", "train"),  # resampled and mixed down
        ("c.wav", 16000, 0.3, 300.0, 1, None, "train"),  # shorter than a crop
        ("d.wav", 16000, 1.0, 500.0, 1, "x", "valid"),
    ]
    out = []
    for name, rate, seconds, freq, channels, label, split in specs:
        path = tmp_path / "audio" / name
        path.parent.mkdir(exist_ok=True)
        _write(path, rate, seconds, freq, channels)
        entry = check_audio_file(path, min_seconds=0.1)
        assert isinstance(entry, ManifestEntry)
        out.append(dataclasses.replace(entry, label=label, split=split, group=name))
    return out


@pytest.fixture()
def forward_calls(monkeypatch) -> list[int]:
    """Counts LogMelSpectrogram.forward calls (batch sizes)."""
    calls: list[int] = []
    original = LogMelSpectrogram.forward

    def counting(self, waveform, lengths=None):
        calls.append(waveform.shape[0])
        return original(self, waveform, lengths)

    monkeypatch.setattr(LogMelSpectrogram, "forward", counting)
    return calls


def _full_mel(entry: ManifestEntry, config: MelConfig) -> torch.Tensor:
    audio = load_audio(entry.path, sample_rate=config.sample_rate, channels=1)
    return LogMelSpectrogram(config)(audio.waveform).mel[0]  # (n_mels, frames)


def test_cache_matches_frontend_and_has_no_pickle(tmp_path, entries, forward_calls):
    path = build_mel_cache(entries, CONFIG, tmp_path / "cache", batch_size=3, progress=False)
    assert forward_calls == [3, 1]  # 4 files in batches of 3
    files = sorted(p.name for p in path.iterdir())
    assert files == ["index.json", "shard-00000.safetensors"]
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [path.name]  # no temp folder left
    index = json.loads((path / "index.json").read_text())
    assert index["feature"] == "log_mel" and index["feature_shape"] == [40]
    assert index["settings"] == CONFIG.to_dict() and index["labels"] == ["x", "y"]
    assert math.isclose(index["frame_rate"], 16000 / 128)
    assert [it["label"] for it in index["items"]] == [0, 1, -1, 0]

    from safetensors.torch import load_file

    stored = load_file(str(path / "shard-00000.safetensors"))["feature"]  # (frames, n_mels)
    for entry, item in zip(entries, index["items"], strict=True):
        expected = _full_mel(entry, CONFIG)
        assert item["frames"] == expected.shape[-1]
        got = stored[item["offset"] : item["offset"] + item["frames"]].T
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_cache_reused_for_equal_settings_rebuilt_for_different(tmp_path, entries, forward_calls):
    cache = tmp_path / "cache"
    first = build_mel_cache(entries, CONFIG, cache, progress=False)
    n_calls = len(forward_calls)
    assert n_calls > 0
    stamps = {p: p.stat().st_mtime_ns for p in first.iterdir()}

    again = build_mel_cache(entries, MelConfig(**CONFIG.to_dict()), cache, progress=False)
    assert again == first
    assert len(forward_calls) == n_calls  # nothing recomputed
    assert {p: p.stat().st_mtime_ns for p in again.iterdir()} == stamps

    other = build_mel_cache(entries, dataclasses.replace(CONFIG, n_mels=32), cache, progress=False)
    assert other != first and len(forward_calls) > n_calls
    assert json.loads((other / "index.json").read_text())["feature_shape"] == [32]

    # a changed file (new modification time) also gives a new cache
    calls = len(forward_calls)
    os.utime(entries[0].path, ns=(1_000_000_000, 1_000_000_000))
    touched = build_mel_cache(entries, CONFIG, cache, progress=False)
    assert touched not in (first, other) and len(forward_calls) > calls
    assert sorted(p.name for p in cache.iterdir()) == sorted(p.name for p in (first, other, touched))


def test_mel_cache_dataset_crops(tmp_path, entries):
    path = build_mel_cache(entries, CONFIG, tmp_path / "cache", progress=False)
    segment = 64  # 0.512 s
    train = MelCacheDataset(path, segment, train=True, split="train")
    frames = [json.loads((path / "index.json").read_text())["items"][i]["frames"] for i in range(3)]
    assert len(train) == sum(math.ceil(f / segment) for f in frames)
    assert train.mel_config == CONFIG and train.labels == ["x", "y"]
    for i in range(len(train)):
        item = train[i]
        assert item["mel"].shape == (40, segment) and item["mel"].dtype == torch.float32
        assert item["label"].dtype == torch.long
    # the short file (0.3 s = 38 frames) is padded with the silence value ln(log_floor)
    short = next(i for i in range(len(train)) if int(train[i]["label"]) == -1)
    mel = train[short]["mel"]
    assert torch.all(mel[:, frames[2] :] == math.log(CONFIG.log_floor))
    torch.testing.assert_close(mel[:, : frames[2]], _full_mel(entries[2], CONFIG), atol=1e-4, rtol=1e-4)
    # a random training crop is a slice of the file's mel
    full_a = _full_mel(entries[0], CONFIG)
    crop = train[0]["mel"]
    matches = [
        s
        for s in range(full_a.shape[-1] - segment + 1)
        if torch.allclose(full_a[:, s : s + segment], crop, atol=1e-4)
    ]
    assert matches

    valid = MelCacheDataset(path, segment, train=False, split="valid", valid_crops_per_file=3)
    full_d = _full_mel(entries[3], CONFIG)  # 126 frames -> 2 crops at 0 and 126 - 64
    assert len(valid) == 2
    torch.testing.assert_close(valid[0]["mel"], full_d[:, :segment], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(valid[1]["mel"], full_d[:, -segment:], atol=1e-4, rtol=1e-4)
    assert torch.equal(valid[1]["mel"], valid[1]["mel"])

    loader = DataLoader(train, batch_size=4, num_workers=2, shuffle=True)
    total = sum(batch["mel"].shape[0] for batch in loader)
    assert total == len(train)


def test_end_margin_keeps_training_crops_away_from_file_ends(tmp_path, entries):
    path = build_mel_cache(entries, CONFIG, tmp_path / "cache", progress=False)
    segment, margin = 64, 100
    frames = [item["frames"] for item in json.loads((path / "index.json").read_text())["items"]]
    full_a = _full_mel(entries[0], CONFIG)  # 2 s = 251 frames: crops may start at 0 .. 251 - 100 - 64
    train = MelCacheDataset(path, segment, train=True, split="train", end_margin_frames=margin)
    # b (1.3 s = 163 frames) and c (38 frames) are shorter than segment + margin (164): left out
    assert {int(train[i]["label"]) for i in range(len(train))} == {0}
    assert len(train) == math.ceil((frames[0] - margin) / segment)
    starts = set()
    for seed in range(60):
        train.set_item_seed(seed)
        crop = train[0]["mel"]
        found = [
            s
            for s in range(full_a.shape[-1] - segment + 1)
            if torch.allclose(full_a[:, s : s + segment], crop, atol=1e-4)
        ]
        assert found and min(found) + segment <= frames[0] - margin
        starts.add(min(found))
    assert len(starts) > 10  # still random within the allowed span
    # validation crops are unchanged by the margin; a margin no file can meet, or < 0, raises
    valid = MelCacheDataset(path, segment, train=False, split="valid", end_margin_frames=margin)
    last = _full_mel(entries[3], CONFIG)[:, -segment:]
    torch.testing.assert_close(valid[len(valid) - 1]["mel"], last, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="at least 1064 frames"):
        MelCacheDataset(path, segment, train=True, split="train", end_margin_frames=1000)
    with pytest.raises(ValueError, match="end_margin_frames"):
        MelCacheDataset(path, segment, train=True, split="train", end_margin_frames=-1)


def test_cache_skips_unreadable_file_and_float16(tmp_path, entries, caplog):
    broken = Path(entries[1].path)
    broken.write_bytes(b"not audio any more")
    path = build_mel_cache(entries, CONFIG, tmp_path / "cache", dtype=torch.float16, progress=False)
    index = json.loads((path / "index.json").read_text())
    assert [Path(it["path"]).name for it in index["items"]] == ["a.wav", "c.wav", "d.wav"]
    assert [Path(s["path"]).name for s in index["skipped"]] == ["b.wav"]
    assert index["dtype"] == "float16"
    assert any("b.wav" in r.getMessage() for r in caplog.records)
    item = MelCacheDataset(path, 32, train=False, split=None)[0]["mel"]
    assert item.dtype == torch.float32
    torch.testing.assert_close(item, _full_mel(entries[0], CONFIG)[:, :32], atol=2e-2, rtol=1e-2)


def test_missing_cache_and_wrong_feature(tmp_path):
    with pytest.raises(FileNotFoundError, match="no feature cache"):
        MelCacheDataset(tmp_path, 10)


def test_cache_of_an_mp3_short_of_its_header_holds_the_decoded_length(tmp_path):
    """An MP3 whose Xing count overstates its length is cached whole, at the length that decodes."""
    from tests.audio.lossy_files import overstated_mp3

    path, declared, decoded = overstated_mp3(tmp_path / "x.mp3", 2.0, 16000)
    entry = check_audio_file(path)
    assert isinstance(entry, ManifestEntry) and entry.frames == decoded < declared
    cache = build_mel_cache([entry], CONFIG, tmp_path / "cache", progress=False)
    (item,) = json.loads((cache / "index.json").read_text())["items"]
    from audiogen.audio.frontend import frames_for_lengths

    frames = frames_for_lengths(torch.tensor([decoded, declared]), CONFIG).tolist()
    assert item["frames"] == frames[0] < frames[1]
