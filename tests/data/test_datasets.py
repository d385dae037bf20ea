"""SegmentDataset: crop shapes, padding, resampling, normalisation, silent crops, bad files, labels."""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from audiogen.audio.io import load_audio
from audiogen.data.datasets import SegmentDataset, collate_waveforms, label_vocabulary
from audiogen.data.manifest import ManifestEntry, write_manifest
from audiogen.data.scan import check_audio_file

RATE = 22050


def _tone(rate: int, seconds: float, freq: float, channels: int = 1, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    wave = amplitude * np.sin(2 * np.pi * freq * t)
    return np.repeat(wave[:, None], channels, axis=1).astype(np.float32)


def _entry(path: Path, label: str | None, split: str = "train", group: str | None = None) -> ManifestEntry:
    entry = check_audio_file(path)
    assert isinstance(entry, ManifestEntry), entry
    return dataclasses.replace(entry, label=label, split=split, group=group or path.stem)


@pytest.fixture()
def files(tmp_path) -> dict[str, ManifestEntry]:
    sf.write(str(tmp_path / "stereo44k.wav"), _tone(44100, 3.0, 440.0, channels=2), 44100)
    sf.write(str(tmp_path / "short16k.flac"), _tone(16000, 0.6, 330.0), 16000, format="FLAC")
    half_silent = np.concatenate([np.zeros(round(RATE * 2.5), np.float32), _tone(RATE, 2.5, 550.0)[:, 0]])
    sf.write(str(tmp_path / "halfsilent.wav"), half_silent, RATE, subtype="FLOAT")
    sf.write(str(tmp_path / "valid.wav"), _tone(RATE, 3.0, 660.0, amplitude=0.5), RATE, subtype="FLOAT")
    return {
        "stereo": _entry(tmp_path / "stereo44k.wav", "violin"),
        "short": _entry(tmp_path / "short16k.flac", "bell"),
        "halfsilent": _entry(tmp_path / "halfsilent.wav", None),
        "valid": _entry(tmp_path / "valid.wav", "violin", split="valid"),
    }


def test_train_items_shapes_lengths_labels(files):
    entries = list(files.values())
    ds = SegmentDataset(
        entries, segment_seconds=1.0, sample_rate=RATE, channels=2, split="train", normalize=None
    )
    assert ds.labels == ["bell", "violin"] == label_vocabulary(entries)
    assert len(ds) == 3 + 1 + 5  # ceil(duration / segment) per training file
    for i in range(len(ds)):
        item = ds[i]
        assert item["waveform"].shape == (2, RATE) and item["waveform"].dtype == torch.float32
        assert item["label"].dtype == torch.long and item["label"].ndim == 0
    labels = [int(ds[i]["label"]) for i in range(len(ds))]
    assert labels == [1, 1, 1, 0, -1, -1, -1, -1, -1]
    mono = SegmentDataset(entries, 0.5, 16000, channels=1, split=None, normalize=None)
    assert mono[0]["waveform"].shape == (1, 8000)
    with pytest.raises(IndexError):
        mono[len(mono)]


def test_short_file_is_padded_and_resampled(files):
    ds = SegmentDataset([files["short"]], segment_seconds=1.0, sample_rate=RATE, normalize=None)
    wave = ds[0]["waveform"][0]
    valid = round(0.6 * RATE)
    assert wave[valid + 5 :].abs().max() == 0.0  # zero-padded after the file's 0.6 s
    assert wave[: valid - 50].abs().max() > 0.25  # the tone (amplitude 0.3) is there
    # 330 Hz survives 16 kHz -> 22.05 kHz resampling
    spectrum = torch.fft.rfft(wave[:valid])
    peak_hz = int(spectrum.abs().argmax()) * RATE / valid
    assert abs(peak_hz - 330.0) < 3.0


def test_resampled_stereo_crop_keeps_pitch(files):
    ds = SegmentDataset([files["stereo"]], segment_seconds=1.0, sample_rate=RATE, channels=1, normalize=None)
    wave = ds[0]["waveform"][0]
    peak_hz = int(torch.fft.rfft(wave).abs().argmax()) * RATE / wave.numel()
    assert abs(peak_hz - 440.0) < 2.0
    assert abs(wave.abs().max().item() - 0.3) < 0.01  # mixdown of two equal channels keeps the level


@pytest.mark.parametrize("normalize", ["peak", "loudness", None])
def test_normalisation(files, normalize):
    ds = SegmentDataset([files["valid"]], 1.0, RATE, split="valid", train=False, normalize=normalize)
    for i in range(len(ds)):
        wave = ds[i]["waveform"]
        peak_db = 20 * math.log10(wave.abs().max().item())
        rms_db = 20 * math.log10(wave.square().mean().sqrt().item())
        if normalize == "peak":
            assert abs(peak_db - (-1.0)) < 0.01
        elif normalize == "loudness":
            assert abs(rms_db - (-20.0)) < 0.01  # a sine's peak is 3 dB above its RMS: no limiting
        else:
            assert abs(peak_db - 20 * math.log10(0.5)) < 0.01


def test_loudness_is_limited_by_peak(tmp_path):
    # a square wave has peak == RMS; a 0 dBFS RMS target would need a 0 dBFS peak, above the -1 dBFS cap
    sf.write(str(tmp_path / "sq.wav"), np.sign(_tone(RATE, 1.0, 100.0)) * 0.1, RATE, subtype="FLOAT")
    ds = SegmentDataset([_entry(tmp_path / "sq.wav", None)], 1.0, RATE, normalize="loudness", loudness_db=0.0)
    wave = ds[0]["waveform"]
    assert abs(20 * math.log10(wave.abs().max().item()) - (-1.0)) < 0.01


def test_validation_crops_are_fixed_and_evenly_spaced(files):
    entry = files["valid"]
    ds = SegmentDataset(
        [entry], 1.0, RATE, split="valid", train=False, normalize=None, valid_crops_per_file=4
    )
    assert len(ds) == 3  # min(4, ceil(3.0 / 1.0))
    for i, offset in enumerate([0.0, 1.0, 2.0]):
        expected = load_audio(entry.path, offset=offset, duration=1.0).waveform
        assert torch.equal(ds[i]["waveform"], expected)
    first = [ds[i]["waveform"] for i in range(len(ds))]
    assert all(torch.equal(a, ds[i]["waveform"]) for i, a in enumerate(first))


def test_train_crops_are_random_but_seeded(files):
    entries = [files["valid"]]
    a = SegmentDataset(entries, 0.5, RATE, split="valid", seed=0, normalize=None)
    b = SegmentDataset(entries, 0.5, RATE, split="valid", seed=0, normalize=None)
    c = SegmentDataset(entries, 0.5, RATE, split="valid", seed=1, normalize=None)
    wa = [a[i]["waveform"] for i in range(len(a))]
    assert all(torch.equal(x, b[i]["waveform"]) for i, x in enumerate(wa))
    assert not all(torch.equal(x, c[i]["waveform"]) for i, x in enumerate(wa))
    assert not torch.equal(wa[0], wa[1])


def test_set_item_seed_fixes_the_next_crop(files):
    ds = SegmentDataset([files["valid"]], 0.5, RATE, split="valid", seed=0, normalize=None)
    first = [ds[0]["waveform"] for _ in range(2)]
    assert not torch.equal(*first)  # the dataset's own generator moves on
    crops = {}
    for seed in (5, 6, 5):
        ds.set_item_seed(seed)
        crops.setdefault(seed, []).append(ds[0]["waveform"])
    assert torch.equal(*crops[5]) and not torch.equal(crops[5][0], crops[6][0])


def test_silent_crops_are_skipped(files):
    entries = [files["halfsilent"]]
    # offsets in [0, 1.5) s give an all-silent 1 s crop (the tone starts at 2.5 s)
    retry = SegmentDataset(entries, 1.0, RATE, split="train", normalize=None, max_retries=30, seed=3)
    levels = [retry[i % len(retry)]["waveform"].abs().max().item() for i in range(40)]
    assert min(levels) > 0.1
    no_retry = SegmentDataset(entries, 1.0, RATE, split="train", normalize=None, max_retries=0, seed=3)
    levels = [no_retry[i % len(no_retry)]["waveform"].abs().max().item() for i in range(40)]
    assert min(levels) == 0.0  # without retries some crops are silent, so the retry did the work


def test_corrupt_file_at_train_time_is_reported_once_and_skipped(files, tmp_path, caplog):
    bad_path = tmp_path / "broken.wav"
    sf.write(str(bad_path), _tone(RATE, 2.0, 200.0), RATE)
    bad = _entry(bad_path, "violin")
    bad_path.write_bytes(b"RIFF....WAVEfmt garbage, the file changed after the scan")
    entries = [files["stereo"], bad, files["short"]]
    ds = SegmentDataset(entries, 1.0, RATE, split="train", normalize="peak")
    with caplog.at_level(logging.WARNING, logger="audiogen.data.datasets"):
        for _ in range(2):
            for i in range(len(ds)):
                item = ds[i]
                assert item["waveform"].shape == (1, RATE)
                assert torch.isfinite(item["waveform"]).all()
                assert int(item["label"]) in (0, 1)
    warnings = [r for r in caplog.records if "broken.wav" in r.getMessage()]
    assert len(warnings) == 1
    assert "skipping" in warnings[0].getMessage()
    # every file broken: a clear error instead of an endless loop
    only_bad = SegmentDataset([bad], 1.0, RATE, split="train")
    with caplog.at_level(logging.ERROR), pytest.raises(RuntimeError, match="failed to decode"):
        only_bad[0]


def test_labels_given_and_missing(files):
    entries = list(files.values())
    ds = SegmentDataset(entries, 1.0, RATE, split=None, labels=["violin", "bell", "drum"])
    assert [int(ds[i]["label"]) for i in (0, 3)] == [0, 1]
    with pytest.raises(ValueError, match="label 'bell' is not in the label list"):
        SegmentDataset(entries, 1.0, RATE, split=None, labels=["violin"])
    with pytest.raises(ValueError, match="no entries in split 'test'"):
        SegmentDataset(entries, 1.0, RATE, split="test")


def test_reads_manifest_path_and_dataloader(files, tmp_path):
    manifest = write_manifest(tmp_path / "m.jsonl", list(files.values()))
    ds = SegmentDataset(manifest, 0.5, 16000, split="train")
    loader = DataLoader(ds, batch_size=4, shuffle=True, num_workers=2)
    batches = list(loader)
    assert sum(b["waveform"].shape[0] for b in batches) == len(ds)
    assert batches[0]["waveform"].shape[1:] == (1, 8000)


def test_collate_variable_lengths():
    items = [
        {"waveform": torch.ones(2, 5), "label": torch.tensor(1)},
        {"waveform": torch.full((2, 3), 2.0), "label": torch.tensor(-1)},
    ]
    batch = collate_waveforms(items)
    assert batch.waveform.shape == (2, 2, 5)
    assert batch.lengths.tolist() == [5, 3] and batch.label.tolist() == [1, -1]
    assert torch.equal(batch.waveform[1, :, 3:], torch.zeros(2, 2))
    assert torch.equal(batch.waveform[1, :, :3], torch.full((2, 3), 2.0))
    with pytest.raises(ValueError, match="channel counts"):
        collate_waveforms([items[0], {"waveform": torch.ones(1, 4), "label": torch.tensor(0)}])


def test_mp3_short_of_its_header_is_cropped_within_what_decodes(tmp_path):
    """The scan records the decoded length; validation crops end at it, not at the header's estimate."""
    from tests.audio.lossy_files import overstated_mp3

    path, declared, decoded = overstated_mp3(tmp_path / "x.mp3", 3.0, 44100, 1, 2)
    entry = _entry(path, None, split="valid")
    assert entry.frames == decoded < declared and entry.duration == decoded / 44100
    ds = SegmentDataset([entry], 1.0, 44100, channels=2, split="valid", train=False, valid_crops_per_file=3)
    last = ds[len(ds) - 1]["waveform"]
    assert last.shape == (2, 44100)
    assert float(last[:, -200:].abs().max()) > 0.01  # audio to the end: no padding past the decoded end
    train = SegmentDataset([entry], 1.0, 44100, channels=2, split="valid", seed=3)
    for i in range(len(train)):
        assert float(train[i]["waveform"][:, -200:].abs().max()) > 0.01


@pytest.mark.parametrize("normalize", ["peak", "loudness"])
def test_crops_decoded_above_full_scale_are_brought_to_the_peak_level(tmp_path, normalize):
    """MP3 decoders overshoot (peaks of 1.0-1.2): crops are scaled to -1 dBFS like any other, not clipped."""
    wave = _tone(RATE, 2.0, 440.0, amplitude=1.19)
    sf.write(str(tmp_path / "loud.wav"), wave, RATE, subtype="FLOAT")
    entry = _entry(tmp_path / "loud.wav", None, split="valid")
    assert entry.peak_db == pytest.approx(20 * math.log10(1.19), abs=0.01)
    ds = SegmentDataset([entry], 1.0, RATE, split="valid", train=False, normalize=normalize)
    crop = ds[0]["waveform"]
    peak_db = 20 * math.log10(crop.abs().max().item())
    if normalize == "peak":
        assert peak_db == pytest.approx(-1.0, abs=0.01)
    else:  # to -20 dBFS RMS, which puts this sine's peak at -17 dBFS
        assert peak_db == pytest.approx(-17.0, abs=0.05)
    expected = torch.from_numpy(wave[:RATE, 0]) * (10 ** (peak_db / 20) / 1.19)
    torch.testing.assert_close(crop[0], expected, atol=2e-5, rtol=0)  # a gain, no clipping
