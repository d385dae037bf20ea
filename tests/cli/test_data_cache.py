"""``audiogen data cache STAGE RECIPE``: the cache a training run would build, built beforehand."""

from pathlib import Path

from typer.testing import CliRunner

from audiogen.cli import app
from tests.training.tasks.test_autoencoder import DEBUG_RECIPE, SAMPLE_RATE, _tone

ROOT = Path(__file__).resolve().parents[2]


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_cache_is_the_one_training_reads(tmp_path):
    from audiogen.audio.io import save_audio

    audio = tmp_path / "audio"
    for i, freq in enumerate([110, 196, 330, 440, 660, 880]):
        save_audio(audio / f"tone_{i}.wav", _tone(freq, 0.8 + 0.1 * i), SAMPLE_RATE)
    data = [f"data.audio_dir={audio}", "data.valid_fraction=0.3", "data.source=mel_cache",
            f"data.mel_cache={tmp_path / 'cache'}"]  # fmt: skip
    result = _invoke("data", "cache", "autoencoder", DEBUG_RECIPE, *data)
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "cache").iterdir()
    assert f"cache: {folder}" in result.output and (folder / "index.json").is_file()
    built = (folder / "index.json").stat().st_mtime_ns
    result = _invoke(
        "train", "autoencoder", DEBUG_RECIPE, *data, "train.max_steps=1", "train.log_with=null",
        "train.num_samples=0", "--out", tmp_path / "run",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert list((tmp_path / "cache").iterdir()) == [folder]  # found by its key, not built again
    assert (folder / "index.json").stat().st_mtime_ns == built


def test_cache_errors_name_the_problem(tmp_path):
    result = _invoke("data", "cache", "vocoder", ROOT / "recipes" / "debug" / "vocoder.yaml")
    assert result.exit_code == 1 and "reads no feature cache" in result.output
    result = _invoke("data", "cache", "autoencoder", DEBUG_RECIPE, f"data.audio_dir={tmp_path}")
    assert result.exit_code == 1 and "data.source is 'waveform'" in result.output
