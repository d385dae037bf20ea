"""One-line messages and exit codes: bad input exits 2 with ``error: ...`` and no traceback, nothing is
left behind by a run that could not start, and Ctrl-C exits 130 with one line saying what was kept."""

import sys

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from audiogen.cli import app, main


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _assert_one_line_error(result, code, *fragments):
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def _tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# ------------------------------------------------------------------------------------------------
# finetune


def test_finetune_out_under_a_file_names_out(tmp_path):
    (tmp_path / "afile.txt").write_text("mine")
    (tmp_path / "audio").mkdir()
    before = _tree(tmp_path)
    result = _invoke("finetune", tmp_path / "audio", "--out", tmp_path / "afile.txt" / "run", "--cpu")
    line = _assert_one_line_error(result, 2, "--out", "afile.txt", "is a file, not a folder")
    assert "Errno" not in line
    assert _tree(tmp_path) == before and (tmp_path / "afile.txt").read_text() == "mine"


def test_finetune_folder_without_audio_says_so_and_leaves_nothing(tmp_path):
    source = tmp_path / "notes"
    source.mkdir()
    (source / "readme.txt").write_text("no audio here")
    out = tmp_path / "runs" / "run"
    result = _invoke("finetune", source, "--out", out, "--cpu")
    _assert_one_line_error(result, 2, str(source), "no audio files found", "1 other file(s) ignored")
    assert "reasons above" not in result.output
    assert not (tmp_path / "runs").exists()


def test_finetune_all_files_rejected_lists_the_reasons_and_keeps_the_users_folder(tmp_path):
    source = tmp_path / "broken"
    source.mkdir()
    (source / "a.wav").write_text("not audio")
    sf.write(str(source / "short.wav"), np.zeros(100), 16000)  # 6 ms: too short, and silent
    out = tmp_path / "run"
    out.mkdir()  # the user's own empty folder: it stays, empty
    result = _invoke("finetune", source, "--out", out, "--cpu")
    line = _assert_one_line_error(result, 2, str(source), "none of its 2 audio file(s) can be used")
    assert "1 unreadable" in line
    assert f"skipped {source / 'a.wav'}: unreadable" in result.output  # the reasons are above the error
    assert f"skipped {source / 'short.wav'}: " in result.output
    assert out.is_dir() and _tree(out) == []


def test_finetune_ctrl_c_says_how_to_resume(tmp_path, monkeypatch, capsys):
    import audiogen.training.finetune

    def interrupted(config, progress=True):
        raise KeyboardInterrupt

    monkeypatch.setattr(audiogen.training.finetune, "finetune", interrupted)
    source = tmp_path / "my sounds"
    source.mkdir()
    args = ["finetune", str(source), "--out", str(tmp_path / "run"), "--steps", "5", "--cpu"]
    monkeypatch.setattr(sys, "argv", ["audiogen", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 130
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted: "), lines
    assert f"{tmp_path / 'run'} keeps the checkpoints" in lines[0]
    command = f"audiogen finetune '{source}' --out {tmp_path / 'run'} --steps 5 --cpu"
    assert lines[0].endswith(f"resume with the same command: {command}")


def test_train_ctrl_c_says_how_to_resume(tmp_path, monkeypatch, capsys):
    from pathlib import Path

    import audiogen.training

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(audiogen.training, "train_stage", interrupted)
    recipe = Path(__file__).parents[2] / "recipes" / "debug" / "vocoder.yaml"
    out = tmp_path / "voc"
    monkeypatch.setattr(sys, "argv", ["audiogen", "train", "vocoder", str(recipe), "--out", str(out)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 130
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"interrupted: {out} keeps the checkpoints saved so far; resume with: "
        f"audiogen train vocoder {recipe} --out {out} --resume"
    ]


# ------------------------------------------------------------------------------------------------
# other commands


def test_reconstruct_bad_input_exits_2(tmp_path):
    bad = tmp_path / "clip.wav"
    bad.write_text("not audio")
    result = _invoke("reconstruct", bad, "--out", tmp_path / "out.wav")
    _assert_one_line_error(result, 2, str(bad))
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize("name, fragment", [("x.mp3", "pads both ends with silence"), ("x.ogg", "is lossy")])
def test_loop_refuses_a_lossy_file(tmp_path, name, fragment):
    result = _invoke("loop", "--bars", 1, "--bpm", 120, "--out", tmp_path / name, "--device", "cpu")
    _assert_one_line_error(result, 2, f"--out {tmp_path / name}", ".wav, .flac", fragment)
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("strength", ["-1", "2.5"])
def test_generate_refuses_a_lora_strength_out_of_range(tmp_path, strength):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    result = _invoke(
        "generate", "--lora", f"{adapter}:{strength}", "--out", tmp_path / "g", "--device", "cpu"
    )
    _assert_one_line_error(result, 2, f"--lora {adapter}:{strength}", "strength must be in [0, 2]")
    assert not (tmp_path / "g").exists()


def test_eval_help_describes_both_subcommands():
    result = _invoke("eval", "--help")
    assert result.exit_code == 0, result.output
    description = result.output.split("Commands:")[0]
    for words in ("reconstruct:", "rebuild real clips", "generate:", "Frechet distance of generated clips"):
        assert words in " ".join(description.split()), description
