"""``audiogen generate``: a seed writes the same file, byte for byte, whatever the batch and its place in it.

Run with the bundled model: its Griffin-Lim vocoder turns a 1e-6 difference in the mel (what
batched kernels give for another batch size) into differences of hundreds of 16-bit steps, so
only a pipeline that computes every clip on its own passes.
"""

import pytest
from typer.testing import CliRunner

from audiogen import hub
from audiogen.cli import app

pytestmark = pytest.mark.skipif(
    not (hub.DEFAULT_PIPELINE / hub.MODEL_INDEX_NAME).is_file(), reason="the bundled model is not installed"
)


def _generate(out, seconds, seed, num, *extra):
    args = ["generate", "--seconds", seconds, "--seed", seed, "--num", num, "--out", out, "--device", "cpu"]
    result = CliRunner().invoke(app, [str(a) for a in [*args, *extra]])
    assert result.exit_code == 0, result.output
    return out / f"any_seed{42:06d}.wav"


def test_seed_gives_the_same_file_whatever_the_batch(tmp_path):
    alone = _generate(tmp_path / "alone", 0.5, 42, 1, "--steps", 2).read_bytes()
    last_of_three = _generate(tmp_path / "three", 0.5, 40, 3, "--steps", 2).read_bytes()
    first_of_two = _generate(tmp_path / "two", 0.5, 42, 2, "--steps", 2, "--batch-size", 2).read_bytes()
    assert len(alone) > 44 + 2 * 10000  # a 16-bit WAV of 0.5 s at 22050 Hz
    assert last_of_three == alone
    assert first_of_two == alone


def test_seed_gives_the_same_file_whatever_the_batch_windowed(tmp_path):
    from audiogen.pipelines.audiogen import load_pretrained
    from audiogen.pipelines.windows import windowed

    seconds = 10.5
    pipe = load_pretrained(device="cpu")
    assert pipe.latent_frames_for(round(seconds * pipe.sample_rate)) > windowed(pipe).size  # in windows
    alone = _generate(tmp_path / "alone", seconds, 42, 1, "--steps", 1).read_bytes()
    second_of_two = _generate(tmp_path / "two", seconds, 41, 2, "--steps", 1).read_bytes()
    assert second_of_two == alone
