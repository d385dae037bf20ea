"""Two "machines" on this host: two ``accelerate launch --num_machines 2 --machine_rank R`` commands
(127.0.0.1, CPU / gloo, one process each, each with its own cache and run folder, as machines without
a shared disk) train the debug autoencoder, and must end with exactly the weights of a one-machine,
two-process run of the same recipe and seed; a machine whose process is killed mid-run stops the
other with a clear message, and the same commands with ``--resume`` finish the run with those weights.

``accelerate launch --cpu`` starts one process without a rank (Accelerate 1.16 needs mpirun for more
on CPU), so the processes come from the torchrun launcher (``--multi_gpu``) and the recipe's
``train.cpu: true`` keeps them on the CPU.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from audiogen.training import TrainingError
from audiogen.training.checkpoint import write_checkpoint
from audiogen.training.distributed import (
    agree_on_checkpoint,
    checkpoint_view,
    is_communication_error,
    lost_contact_message,
)
from tests.training.tasks.test_autoencoder import SAMPLE_RATE, _tone

ROOT = Path(__file__).resolve().parents[2]
DEBUG_RECIPE = ROOT / "recipes" / "debug" / "autoencoder.yaml"
STEPS = 24
TIMEOUT_S = 60  # train.dist_timeout_s of these runs: no process may wait longer for a lost peer
LAUNCH_GUARD_S = 600  # a launch that has not ended by then hangs (the test fails, its processes are killed)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory) -> Path:
    from audiogen.audio.io import save_audio

    folder = tmp_path_factory.mktemp("audio")
    for i, freq in enumerate([110, 147, 196, 262, 330, 392, 440, 523]):
        save_audio(folder / f"tone_{i:02d}.wav", _tone(freq, 1.0 + 0.1 * i), SAMPLE_RATE)
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accelerate(log: Path, port: int, machine_rank: int | None, *cli: str) -> subprocess.Popen:
    """``accelerate launch ... -m audiogen.cli CLI...``: a machine of two (``machine_rank`` 0 / 1), or one
    machine with both processes (``None``); output to ``log``."""
    if machine_rank is None:
        machines = ["--num_machines", "1", "--main_process_port", str(port)]
    else:
        machines = [
            "--num_machines", "2", "--machine_rank", str(machine_rank),
            "--main_process_ip", "127.0.0.1", "--main_process_port", str(port),
        ]  # fmt: skip
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", *machines,
        "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "audiogen.cli", *cli,
    ]  # fmt: skip
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    with open(log, "w") as f:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
        )


def _launch(
    audio_dir: Path, log: Path, run: Path, cache: Path, port: int, machine_rank: int | None, *extra: str
) -> subprocess.Popen:
    """``audiogen train autoencoder`` on the debug recipe, reading a log-mel cache."""
    return _accelerate(
        log, port, machine_rank,
        "train", "autoencoder", str(DEBUG_RECIPE),
        f"data.audio_dir={audio_dir}", "data.valid_fraction=0.25",
        "data.source=mel_cache", f"data.mel_cache={cache}",
        f"train.max_steps={STEPS}", "train.checkpoint_every=2", "train.validate_every=0",
        "train.log_with=null", "train.num_samples=0", f"train.dist_timeout_s={TIMEOUT_S}",
        *extra, "--out", str(run),
    )  # fmt: skip


def _wait(procs: list[subprocess.Popen], logs: list[Path], guard_s: float) -> list[int]:
    """Return codes; a launch still running after ``guard_s`` seconds is a hang: kill everything, fail."""
    deadline = time.monotonic() + guard_s
    try:
        return [p.wait(timeout=max(1.0, deadline - time.monotonic())) for p in procs]
    except subprocess.TimeoutExpired:
        tails = "\n".join(f"== {log}\n{log.read_text()[-2000:]}" for log in logs)
        pytest.fail(f"a launch did not end within {guard_s} s (hang)\n{tails}")
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def _two_machines(
    audio_dir: Path, tmp: Path, tag: str, *extra: str
) -> tuple[list[subprocess.Popen], list[Path]]:
    """Machines 0 and 1, each with its own run and cache folder (no shared disk)."""
    port = _free_port()
    logs = [tmp / f"{tag}{r}.log" for r in (0, 1)]
    own = "train.shared_cache=false"
    procs = [
        _launch(audio_dir, logs[r], tmp / f"run{r}", tmp / f"cache{r}", port, r, own, *extra) for r in (0, 1)
    ]
    return procs, logs


def _weights(run: Path) -> dict[str, torch.Tensor]:
    last = run / "checkpoints" / f"checkpoint-{STEPS:08d}"
    return {
        f"{kind}/{k}": v
        for kind in ("models", "ema")
        for k, v in load_file(last / kind / "autoencoder" / "model.safetensors").items()
    }


def _assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{len(differ)} tensors differ, e.g. {differ[:3]}"


@pytest.fixture(scope="module")
def one_machine(audio_dir, tmp_path_factory) -> dict[str, torch.Tensor]:
    """The reference: one machine, two processes, one (shared) cache."""
    tmp = tmp_path_factory.mktemp("one-machine")
    log = tmp / "launch.log"
    proc = _launch(audio_dir, log, tmp / "run", tmp / "cache", _free_port(), None)
    assert _wait([proc], [log], LAUNCH_GUARD_S) == [0], log.read_text()[-3000:]
    assert len(list((tmp / "cache").iterdir())) == 1
    return _weights(tmp / "run")


def test_two_machines_train_like_one(audio_dir, one_machine, tmp_path):
    procs, logs = _two_machines(audio_dir, tmp_path, "launch")
    codes = _wait(procs, logs, LAUNCH_GUARD_S)
    assert codes == [0, 0], "\n".join(log.read_text()[-3000:] for log in logs)
    for r in (0, 1):  # train.shared_cache=false: each machine built its own copy of the cache
        caches = list((tmp_path / f"cache{r}").iterdir())
        assert len(caches) == 1 and (caches[0] / "index.json").is_file(), caches
    assert not (tmp_path / "run1" / "checkpoints").exists()  # only the global main process writes
    assert not (tmp_path / "run1" / "metrics.jsonl").exists()
    last = tmp_path / "run0" / "checkpoints" / f"checkpoint-{STEPS:08d}"
    state = json.loads((last / "trainer_state.json").read_text())
    assert state["num_processes"] == 2 and state["step"] == STEPS
    _assert_same_weights(_weights(tmp_path / "run0"), one_machine)


def test_killed_machine_stops_both_then_resumes(audio_dir, one_machine, tmp_path):
    import psutil

    procs, logs = _two_machines(audio_dir, tmp_path, "killed")
    first = tmp_path / "run0" / "checkpoints" / "checkpoint-00000002"
    deadline = time.monotonic() + LAUNCH_GUARD_S
    while not first.is_dir() and all(p.poll() is None for p in procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = psutil.Process(procs[1].pid).children() if procs[1].poll() is None else []
    assert first.is_dir() and workers, "\n".join(log.read_text()[-3000:] for log in logs)
    for w in workers:  # rank 1's training process (its launcher stays, as on a real machine)
        w.kill()
    codes = _wait(procs, logs, TIMEOUT_S + 60)  # no process may wait for the lost one past the timeout
    out0 = logs[0].read_text()
    assert codes[0] != 0 and codes[1] != 0, out0[-3000:]
    assert "error: lost contact with another training process" in out0, out0[-3000:]
    assert "--resume" in out0 and f"train.dist_timeout_s={TIMEOUT_S}" in out0
    assert not (tmp_path / "run0" / "checkpoints" / f"checkpoint-{STEPS:08d}").exists()  # stopped mid-run

    procs, logs = _two_machines(audio_dir, tmp_path, "resumed", "--resume")
    codes = _wait(procs, logs, LAUNCH_GUARD_S)
    assert codes == [0, 0], "\n".join(log.read_text()[-3000:] for log in logs)
    out1 = logs[1].read_text()
    assert "copied checkpoint-" in out1 and "resumed from" in out1, out1[-3000:]  # machine 1 had no copy
    _assert_same_weights(_weights(tmp_path / "run0"), one_machine)  # exactly as if never stopped


def test_two_machines_finetune_every_stage(audio_dir, tmp_path):
    """``audiogen finetune --stages all --no-shared-cache``: each stage's final checkpoint reaches the
    machine without it (the next stage encodes its latents with the fine-tuned autoencoder there)."""
    from audiogen.pipelines.audiogen import AudioGenPipeline
    from tests.pipelines.test_audiogen import write_tiny_pipeline

    base = write_tiny_pipeline(tmp_path / "base", cfg_scale=2.0)
    port, logs = _free_port(), [tmp_path / f"finetune{r}.log" for r in (0, 1)]
    procs = [
        _accelerate(
            logs[r], port, r,
            "finetune", str(audio_dir), "--out", str(tmp_path / f"out{r}"), "--from", str(base),
            "--steps", "2", "--batch-size", "2", "--segment-seconds", "0.5", "--style", "chimes", "--cpu",
            "--stages", "all", "--vocoder-steps", "1", "--autoencoder-steps", "1",
            "--no-shared-cache", "--dist-timeout", str(TIMEOUT_S),
        )  # fmt: skip
        for r in (0, 1)
    ]
    codes = _wait(procs, logs, LAUNCH_GUARD_S)
    assert codes == [0, 0], "\n".join(log.read_text()[-3000:] for log in logs)
    assert AudioGenPipeline.from_pretrained(tmp_path / "out0").styles[-1] == "chimes"
    assert not (tmp_path / "out1" / "model_index.json").exists()  # the pipeline is written by process 0
    assert "fine-tuned" in logs[0].read_text() and "fine-tuned" not in logs[1].read_text()
    for stage in ("autoencoder", "denoiser", "vocoder"):
        sent, received = (sorted((tmp_path / f"out{r}/train/{stage}/checkpoints").iterdir()) for r in (0, 1))
        assert [p.name for p in received] == [sent[-1].name], stage
        assert (received[0] / "COMPLETE").read_bytes() == (sent[-1] / "COMPLETE").read_bytes(), stage


# ------------------------------------------------------------------ single-process behaviour


def _fake_checkpoint(folder: Path, step: int, payload: bytes = b"x") -> Path:
    return write_checkpoint(folder, step, lambda tmp: (tmp / "trainer_state.json").write_bytes(payload))


class _OneProcess:
    process_index = 0
    is_local_main_process = True

    def wait_for_everyone(self) -> None:
        pass


def test_agree_on_checkpoint_single_process(tmp_path):
    state = _OneProcess()
    assert agree_on_checkpoint(state, tmp_path / "checkpoints", resume=False) is None
    assert agree_on_checkpoint(state, tmp_path / "checkpoints", resume=True) is None
    _fake_checkpoint(tmp_path / "checkpoints", 2)
    newest = _fake_checkpoint(tmp_path / "checkpoints", 4)
    with pytest.raises(TrainingError, match="already holds checkpoints; pass --resume"):
        agree_on_checkpoint(state, tmp_path / "checkpoints", resume=False)
    assert agree_on_checkpoint(state, tmp_path / "checkpoints", resume=True) == newest
    view = checkpoint_view(tmp_path / "checkpoints")
    other = checkpoint_view(_fake_checkpoint(tmp_path / "other", 4, b"y").parent)
    assert view.step == other.step == 4 and view.digest != other.digest  # another copy is told apart


def test_communication_errors_are_told_apart():
    gloo = RuntimeError("[gloo/tcp/pair.cc:538] Read error [127.0.0.1]:1234: Connection reset by peer")
    assert is_communication_error(gloo)
    assert not is_communication_error(RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x3 and 5x6)"))
    assert not is_communication_error(TrainingError("stopping at step 3: timeout"))
    message = lost_contact_message(gloo, 7, Path("run/checkpoints/checkpoint-00000006"), 90)
    assert "step 7" in message and "checkpoint-00000006" in message and "dist_timeout_s=90" in message
    assert "Connection reset by peer" in message and "--resume" in message
    assert "no checkpoint was written yet" in lost_contact_message(gloo, 1, None, 90)
