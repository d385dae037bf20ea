"""``audiogen finetune`` on a folder of MP3s whose headers overstate their length, as real-world MP3s do.

Same tiny base pipeline and settings as tests/test_finetune.py; the MP3s are made here with a Xing
frame count raised by one MPEG frame (tests.audio.lossy_files.py)."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audiogen.cli import app
from tests.audio.lossy_files import overstated_mp3
from tests.pipelines.test_audiogen import write_tiny_pipeline


@pytest.fixture(scope="module")
def mp3s(tmp_path_factory) -> tuple[Path, dict[str, tuple[int, int]]]:
    folder = tmp_path_factory.mktemp("mp3s")
    counts = {}
    for i, (rate, channels) in enumerate([(22050, 2), (44100, 1), (22050, 1), (32000, 2)]):
        _, declared, decoded = overstated_mp3(folder / f"track{i}.mp3", 2.0, rate, 1, channels)
        assert decoded < declared
        counts[f"track{i}.mp3"] = (declared, decoded)
    return folder, counts


def test_finetune_on_mp3s_short_of_their_headers_trains_on_the_decoded_lengths(mp3s, tmp_path):
    folder, counts = mp3s
    base = write_tiny_pipeline(tmp_path / "base", cfg_scale=2.0)
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        ["finetune", str(folder), "--out", str(out), "--from", str(base), "--batch-size", "2",
         "--segment-seconds", "0.5", "--cpu", "--seed", "0", "--steps", "2", "--style", "game"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"{len(counts)} usable, 0 rejected" in result.output
    assert f"kept with a warning, length_estimate: {len(counts)}" in result.output
    entries = [json.loads(line) for line in (out / "data" / "manifest.jsonl").read_text().splitlines()]
    assert {Path(e["path"]).name: e["frames"] for e in entries} == {n: c[1] for n, c in counts.items()}
    assert all(e["duration"] == e["frames"] / e["sample_rate"] for e in entries)
    state = json.loads(
        (
            sorted((out / "train" / "denoiser" / "checkpoints").iterdir())[-1] / "trainer_state.json"
        ).read_text()
    )
    assert state["step"] == 2
