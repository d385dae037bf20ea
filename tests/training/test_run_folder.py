"""Run folders: one process at a time, never a foreign folder, outputs clear of inputs, resume only
on the same data, and temporary folders removed only when their owner is dead."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from audiogen.cli import app
from audiogen.data.manifest import write_manifest
from audiogen.data.scan import scan_folder
from audiogen.data.tempfolders import temp_folder_prefix
from audiogen.training.checkpoint import list_checkpoints, write_checkpoint
from audiogen.training.lock import RunLock
from audiogen.training.run_folder import RUN_MARKER, RunFolderError
from audiogen.training.trainer import Trainer, TrainingError
from tests.training.test_trainer import ToyTask, _config

ROOT = Path(__file__).resolve().parents[2]


def _holder(run_dir: Path) -> subprocess.Popen:
    """A separate process that takes the run folder's lock and sleeps until killed."""
    code = (
        "import sys, time\n"
        "from audiogen.training.lock import RunLock\n"
        f"lock = RunLock({str(run_dir)!r}).acquire()\n"
        "print('locked', flush=True)\n"
        "time.sleep(600)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def _trainer(run_dir: Path, recipe: dict | None = None, **config) -> Trainer:
    return Trainer(ToyTask(), _config(**config), run_dir, {"mse": 1.0}, recipe=recipe)


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_second_run_in_a_locked_folder_is_refused_and_kill_9_frees_it(tmp_path):
    run_dir = tmp_path / "run"
    holder = _holder(run_dir)
    try:
        with pytest.raises(RunFolderError, match="in use by another audiogen process"):
            _trainer(run_dir, max_steps=2).fit()
        assert not list_checkpoints(run_dir / "checkpoints")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    result = _trainer(run_dir, max_steps=2, checkpoint_every=2).fit()
    assert result.step == 2 and list_checkpoints(run_dir / "checkpoints")
    assert RunLock(run_dir).acquire().is_locked  # released when the run ended


def test_the_cli_reports_a_busy_folder_on_one_line(tmp_path):
    run_dir = tmp_path / "run"
    holder = _holder(run_dir)
    try:
        result = CliRunner().invoke(
            app,
            ["train", "autoencoder", str(ROOT / "recipes/debug/autoencoder.yaml"),
             f"data.audio_dir={tmp_path}", "--out", str(run_dir)],
        )  # fmt: skip
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert result.output.startswith("error: ") and "in use by another audiogen process" in result.output


def test_checkpoint_writes_remove_only_dead_owners_temp_folders(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        host = socket.gethostname()
        alive = checkpoints / f".tmp-checkpoint-00000004-pid{live.pid}@{host}@"
        dead = checkpoints / f".tmp-checkpoint-00000002-pid{_dead_pid()}@{host}@"
        legacy_dead = checkpoints / f".tmp-checkpoint-00000001-{_dead_pid()}"
        for folder in (alive, dead, legacy_dead):
            folder.mkdir()
            (folder / "weights").write_bytes(b"x")
        write_checkpoint(checkpoints, 6, lambda tmp: (tmp / "state.json").write_text("{}"))
        assert alive.is_dir(), "a live process's checkpoint in progress was deleted"
        assert not dead.exists() and not legacy_dead.exists()
    finally:
        live.kill()
        live.wait()


def test_latent_cache_build_removes_dead_temporary_folders(tmp_path):
    from audiogen.data.cache import build_feature_cache

    audio = tmp_path / "audio"
    audio.mkdir()
    sf.write(str(audio / "a.wav"), 0.1 * np.ones((1600, 1), np.float32), 16000)
    entries = scan_folder(audio, min_seconds=0.0, silence_db=-100.0, progress=False).entries
    cache = tmp_path / "cache"
    cache.mkdir()
    host = socket.gethostname()
    dead = cache / f".latent-0123456789abcdef-pid{_dead_pid()}@{host}@abc"
    other_host = cache / f".latent-0123456789abcdef-pid{_dead_pid()}@not-{host}@abc"
    for folder in (dead, other_host):
        folder.mkdir()

    def compute(wave, lengths):
        return wave.mean(1, keepdim=True), lengths

    build_feature_cache(
        entries,
        cache,
        feature="latent",
        settings={},
        sample_rate=16000,
        compute=compute,
        feature_shape=(1,),
        frame_rate=16000.0,
        progress=False,
    )
    assert not dead.exists(), "a killed build's temporary folder was left behind"
    assert other_host.is_dir(), "another host's temporary folder cannot be known dead"


def test_a_fresh_run_refuses_a_folder_that_is_not_a_run(tmp_path):
    run_dir = tmp_path / "mine"
    run_dir.mkdir()
    (run_dir / "notes.txt").write_text("my notes")
    (run_dir / "metrics.jsonl").write_text('{"mine": 1}\n')
    with pytest.raises(RunFolderError, match=r"not an audiogen run folder \(it holds notes.txt\)"):
        _trainer(run_dir, max_steps=2).fit()
    assert (run_dir / "metrics.jsonl").read_text() == '{"mine": 1}\n'  # untouched
    # an empty folder, or one left by a run of ours, is fine
    _trainer(tmp_path / "empty", max_steps=2, checkpoint_every=2).fit()
    assert (tmp_path / "empty" / RUN_MARKER).is_file()


def _manifest(folder: Path, seconds: list[float]) -> Path:
    folder.mkdir(exist_ok=True)
    for i, s in enumerate(seconds):
        sf.write(str(folder / f"clip{i}.wav"), 0.1 * np.ones((int(16000 * s), 1), np.float32), 16000)
    entries = scan_folder(folder, min_seconds=0.0, silence_db=-100.0, progress=False).entries
    return write_manifest(folder / "manifest.jsonl", entries)


def test_resume_checks_the_data_is_the_one_the_run_started_with(tmp_path):
    manifest = _manifest(tmp_path / "data", [0.2, 0.3])
    recipe = {"data": {"manifest": str(manifest)}}
    run_dir = tmp_path / "run"
    _trainer(run_dir, recipe=recipe, max_steps=4, checkpoint_every=2).fit()
    result = _trainer(run_dir, recipe=recipe, max_steps=6, checkpoint_every=2).fit(resume=True)
    assert result.step == 6  # same data: resumes
    sf.write(str(tmp_path / "data" / "clip1.wav"), 0.1 * np.ones((8000, 1), np.float32), 16000)  # edited
    with pytest.raises(TrainingError, match=r"cannot resume.*1 changed size \(e.g. .*clip1.wav\)"):
        _trainer(run_dir, recipe=recipe, max_steps=8).fit(resume=True)
    assert list_checkpoints(run_dir / "checkpoints")[-1].name.endswith("06")


# ---------------------------------------------------------------------------------------------
# audiogen finetune: outputs never overwrite inputs


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    from tests.pipelines.test_audiogen import write_tiny_pipeline

    return write_tiny_pipeline(tmp_path_factory.mktemp("base") / "pipe")


def _finetune(source: Path, out: Path, base: Path):
    args = ["finetune", str(source), "--out", str(out), "--from", str(base), "--steps", "1", "--cpu"]
    return CliRunner().invoke(app, args)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_finetune_refuses_outputs_that_overlap_inputs(base, tmp_path):
    audio = tmp_path / "audio"
    _manifest(audio, [0.3])
    before = _snapshot(base), _snapshot(audio)
    cases = [
        (audio, base, "is --from (the base pipeline)"),
        (audio, base / "sub", "is inside --from (the base pipeline)"),
        (audio, audio / "run", "is inside the audio folder"),
        (audio / "manifest.jsonl", audio / "out", "is inside the folder of files in manifest.jsonl"),
    ]
    for source, out, fragment in cases:
        result = _finetune(source, out, base)
        assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
        assert "error: " in result.output and fragment in result.output, result.output
    assert (_snapshot(base), _snapshot(audio)) == before  # nothing written into the inputs
    assert not (audio / "run").exists() and not (base / "sub").exists()


def test_finetune_refuses_a_foreign_folder_and_a_pipeline_that_is_not_its_run(base, tmp_path):
    audio = tmp_path / "audio"
    _manifest(audio, [0.3])
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.pdf").write_bytes(b"%PDF")
    result = _finetune(audio, foreign, base)
    assert result.exit_code == 2 and "not an audiogen run folder (it holds thesis.pdf)" in result.output
    other_pipeline = tmp_path / "other"
    import shutil

    shutil.copytree(base, other_pipeline)
    result = _finetune(audio, other_pipeline, base)
    assert result.exit_code == 2 and "not an audiogen run folder" in result.output
    assert sorted(p.name for p in foreign.iterdir()) == ["thesis.pdf"]  # left as it was


def test_temp_folder_prefix_names_this_process():
    prefix = temp_folder_prefix(".latent-abc")
    assert prefix == f".latent-abc-pid{os.getpid()}@{socket.gethostname()}@"
