"""``audiogen stream``: a WAV that is valid after every chunk, raw PCM on stdout, one-line errors."""

import soundfile as sf
import torch
from typer.testing import CliRunner

from audiogen.audio.wav_stream import IncrementalWav
from audiogen.cli import app
from tests.models.test_sequence import make_model
from tests.pipelines.test_audiogen import write_tiny_pipeline

RATE = 16000  # the tiny pipeline's


def _folders(tmp_path):
    pipeline = write_tiny_pipeline(tmp_path / "pipe")
    make_model().save_pretrained(tmp_path / "run" / "sequence")
    return pipeline, tmp_path / "run"


def _invoke(*args):
    return CliRunner().invoke(app, ["stream", *map(str, args)])


def test_wav_is_valid_after_every_chunk(tmp_path):
    path = tmp_path / "grow.wav"
    with IncrementalWav(path, RATE) as wav:
        for i in range(1, 4):
            wav.write(torch.full((1, 100), 0.25 * i))
            data, rate = sf.read(path)  # what a player sees if the writer stops here
            assert rate == RATE and data.shape == (100 * i,)
            assert abs(data[-1] - 0.25 * i) < 1e-4


def test_stream_to_file_and_to_stdout(tmp_path):
    pipeline, sequence = _folders(tmp_path)
    out = tmp_path / "s.wav"
    common = ("--checkpoint", pipeline, "--sequence", sequence, "--seconds", 1.5, "--seed", 2)
    result = _invoke("--style", "piano@0,flute@1", *common, "--out", out)
    assert result.exit_code == 0, result.output
    data, rate = sf.read(out)
    assert rate == RATE and data.shape == (round(1.5 * RATE),) and abs(data).max() > 0
    result = _invoke("--style", "piano@0,flute@1", *common, "--out", "-")
    assert result.exit_code == 0
    pcm = torch.frombuffer(bytearray(result.stdout_bytes), dtype=torch.int16)
    assert pcm.shape == (round(1.5 * RATE),)  # the same audio as the file, raw
    assert torch.allclose(pcm.float() / 32767, torch.from_numpy(data).float(), atol=2e-4)
    result = _invoke("--style", "piano", *common, "--out", out)
    assert result.exit_code == 2 and "exists; pass --overwrite" in result.output


def test_bad_input_gets_one_line_and_exit_2(tmp_path):
    pipeline, sequence = _folders(tmp_path)
    (tmp_path / "text.wav").write_text("no audio here")
    common = ("--checkpoint", pipeline, "--sequence", sequence, "--seconds", 1, "--out", tmp_path / "x.wav")
    for args, message in [
        (("--style", "piano@0,organ@5"), "unknown style 'organ'"),
        (("--style", "piano@0,flute@9,piano@3"), "times must increase"),
        (("--style", "piano", "--prompt", tmp_path / "text.wav"), "--prompt"),
        (("--style", "piano", "--prompt", tmp_path / "absent.wav"), "no such file"),
        (("--style", "piano", "--forever"), "not both"),
        (("--style", "piano", "--head-temperature", "0"), "--head-temperature must be a positive"),
        (("--style", "piano", "--stats-guard", "2"), "--stats-guard must be in [0, 1]"),
    ]:
        result = _invoke(*args, *common)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2, result.output
        assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines
        assert not (tmp_path / "x.wav").exists()


def test_stream_continues_a_prompt_file(tmp_path):
    from audiogen.audio.io import save_audio

    pipeline, sequence = _folders(tmp_path)
    t = torch.arange(RATE) / RATE
    save_audio(tmp_path / "prompt.wav", 0.3 * torch.sin(2 * torch.pi * 330 * t)[None], RATE)
    common = ("--checkpoint", pipeline, "--sequence", sequence, "--seconds", 1, "--style", "flute")
    plain = _invoke(*common, "--out", "-").stdout_bytes
    result = _invoke(*common, "--prompt", tmp_path / "prompt.wav", "--out", "-")
    assert result.exit_code == 0 and len(result.stdout_bytes) == len(plain) == 2 * RATE
    assert result.stdout_bytes != plain
