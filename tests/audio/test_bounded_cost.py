"""Resampling and decoding cost that does not grow with the rates' common factor, the file's rate or
its channel count; implausible header rates refused.

Memory is measured in a fresh subprocess as the growth of its peak resident set size
(``ru_maxrss``) across the one call under test, after the imports and the input are in place.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogen.audio.io import (
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    AudioLoadError,
    load_audio,
    probe_audio,
    resample,
)

ROOT = Path(__file__).resolve().parents[2]


def _peak_growth_mb(setup: str, call: str) -> tuple[float, dict]:
    """Run ``setup`` then ``call`` (which sets ``result``, a JSON-able dict) in a fresh interpreter;
    return the growth of the peak RSS across ``call`` in MB and ``result``."""
    code = "\n".join(
        [
            "import json, resource",
            setup,
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss",
            call,
            "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss",
            "print(json.dumps({'growth_kb': after - before, 'result': result}))",
        ]
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report["growth_kb"] / 1024, report["result"]


@pytest.mark.parametrize(("orig", "new"), [(12001, 8000), (44101, 22050)])
def test_resample_memory_does_not_grow_with_the_rate_ratio(orig, new):
    # 0.2 s of audio: torchaudio's kernel for 12001 -> 8000 Hz (coprime) needed 1.6 GB more, for
    # 44101 -> 22050 Hz about 16 GB; a bounded-cost resampler needs well under one megabyte here.
    growth, shape = _peak_growth_mb(
        f"import torch\nfrom audiogen.audio.io import resample\nx = torch.randn(2, {orig} // 5)",
        f"result = list(resample(x, {orig}, {new}).shape)",
    )
    assert shape == [2, -(-(orig // 5) * new // orig)]
    assert growth < 64, f"resampling 0.2 s from {orig} to {new} Hz grew the peak RSS by {growth:.0f} MB"


def test_load_audio_streams_a_many_channel_high_rate_file(tmp_path):
    # 30 s, 96 kHz, 8 channels (46 MB as PCM_16; 92 MB as float32): decoded to mono at 22.05 kHz
    # the result is 2.6 MB, and decoding must not hold the whole float32 file on the way.
    path = tmp_path / "wide.wav"
    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", samplerate=96000, channels=8, subtype="PCM_16") as f:
        for _ in range(30):
            f.write((0.1 * rng.standard_normal((96000, 8))).astype(np.float32))
    growth, shape = _peak_growth_mb(
        "from audiogen.audio.io import load_audio",
        f"result = list(load_audio({str(path)!r}, sample_rate=22050, channels=1).waveform.shape)",
    )
    assert shape == [1, 30 * 22050]
    assert growth < 48, f"load_audio grew the peak RSS by {growth:.0f} MB for a 2.6 MB result"


def test_streamed_load_matches_whole_file_resampling(tmp_path):
    rng = np.random.default_rng(1)
    data = (0.3 * rng.standard_normal((44101 + 17, 3))).astype(np.float32)  # several 8192-frame blocks
    path = tmp_path / "odd.wav"
    sf.write(str(path), data, 44101, subtype="FLOAT")
    streamed = load_audio(path, sample_rate=22050, channels=1).waveform
    whole = resample(torch.from_numpy(data.T).mean(0, keepdim=True), 44101, 22050)
    assert streamed.shape == whole.shape
    torch.testing.assert_close(streamed, whole, atol=1e-6, rtol=0)
    stereo = load_audio(path, sample_rate=22050, channels=2).waveform  # mixdown, then repeated
    torch.testing.assert_close(stereo, whole.expand(2, -1), atol=1e-6, rtol=0)


def _with_header_rate(path: Path, rate: int) -> Path:
    """Rewrite a PCM WAV's ``fmt `` sample rate (and byte rate) in place, as a bit flip would."""
    raw = bytearray(path.read_bytes())
    assert raw[12:16] == b"fmt "
    block_align = struct.unpack("<H", raw[32:34])[0]
    raw[24:28] = struct.pack("<I", rate)
    raw[28:32] = struct.pack("<I", rate * block_align)
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize("rate", [1, MIN_SAMPLE_RATE - 1, MAX_SAMPLE_RATE + 1, 48_000_000])
def test_implausible_header_rates_are_refused(tmp_path, rate):
    path = tmp_path / "flipped.wav"
    sf.write(str(path), np.zeros((4410, 1), np.float32), 22050, subtype="PCM_16")
    _with_header_rate(path, rate)
    with pytest.raises(AudioLoadError, match=rf"implausible sample rate {rate} Hz .*4000-192000 Hz"):
        probe_audio(path)
    with pytest.raises(AudioLoadError, match="implausible sample rate"):
        load_audio(path)


@pytest.mark.parametrize("rate", [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE])
def test_the_bounds_themselves_are_accepted(tmp_path, rate):
    path = tmp_path / "edge.wav"
    sf.write(str(path), np.zeros((rate // 10, 1), np.float32), rate, subtype="PCM_16")
    assert probe_audio(path).sample_rate == rate
