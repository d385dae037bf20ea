"""Fine-tuning from the web app: ``audiogen finetune`` as a subprocess, its progress and samples, cancel,
and (through the Gradio API) the finished run selectable as the model of the other tabs."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from audiogen.ui.finetune_job import FinetuneJob
from audiogen.ui.host import UIError

SOUNDS = Path("/usr/share/sounds/freedesktop/stereo")


def _collection(folder: Path, n: int = 3) -> Path:
    files = sorted(SOUNDS.glob("*.oga"))[:n]
    if len(files) < n:
        pytest.skip("needs the freedesktop sound theme (tools/setup.sh installs it)")
    folder.mkdir()
    for f in files:
        shutil.copy(f, folder / f.name)
    return folder


def test_bad_settings_are_refused_before_starting(tmp_path):
    with pytest.raises(UIError, match="no such folder"):
        FinetuneJob(tmp_path / "missing", tmp_path / "run", 10)
    with pytest.raises(UIError, match="--steps must be >= 1"):
        FinetuneJob(tmp_path, tmp_path / "run", 0)
    with pytest.raises(UIError, match="--stages must be one of"):
        FinetuneJob(tmp_path, tmp_path / "run", 5, stages="vocoder")


def test_status_reads_the_run_folder(tmp_path):
    job = FinetuneJob(tmp_path, tmp_path / "run", 8, stages="generator+vocoder", style="mine")
    assert (
        job.command.startswith("audiogen finetune ")
        and "--stages generator+vocoder --style mine" in job.command
    )
    stage = tmp_path / "run" / "train" / "denoiser"
    (stage / "samples" / "step-00000002").mkdir(parents=True)
    (stage / "samples" / "step-00000004").mkdir(parents=True)
    for name in ("a.wav", "a.png", "a.txt"):
        (stage / "samples" / "step-00000004" / name).write_bytes(b"x")
    (stage / "metrics.jsonl").write_text(
        "\n".join(json.dumps(r) for r in ({"step": 2, "train/total": 1.0}, {"step": 4}, {"step": 3})) + "\n"
    )
    st = job.status()
    assert st.steps == {"denoiser": 4, "vocoder": 0}
    assert st.totals == {"denoiser": 8, "vocoder": 8}
    assert st.fraction == pytest.approx(4 / 16)
    assert [p.name for p in st.samples] == ["a.png", "a.wav"]


def test_cancel_stops_the_run(tmp_path):
    job = FinetuneJob(_collection(tmp_path / "sounds"), tmp_path / "run", 1000, style="mine")
    job.start()
    end = time.monotonic() + 300  # a hang guard
    while job.running and not job.status().log and time.monotonic() < end:
        time.sleep(0.2)
    assert job.running
    job.cancel()
    assert not job.running
    assert job.wait() != 0
    assert job.status().steps["denoiser"] < 1000


def test_finetune_tab_trains_and_offers_the_result(tmp_path):
    pytest.importorskip("gradio")
    import soundfile as sf
    from gradio_client import Client

    from tests.ui import browser

    sounds = _collection(tmp_path / "sounds")
    app, host, url = browser.start_app(runs_dir=tmp_path / "runs", out_dir=tmp_path / "out")
    try:
        client = Client(url, verbose=False)
        run = tmp_path / "runs" / "mine"
        job = client.submit(str(sounds), str(run), "mine", 2, "generator", 0, api_name="/finetune")
        final = job.result(timeout=900)
        # a LoRA-capable app adds the adapter folder box as an eighth output (empty for a full run)
        status, log, gallery, sample, files, command, model = final[:7]
        assert len(final) == (8 if hasattr(host.pipeline, "load_lora") else 7)
        assert status.startswith("**done**"), status
        assert model["value"] == str(run.resolve())
        assert str(run.resolve()) in [path for _, path in host.models()]
        assert sample and Path(sample).suffix == ".wav"
        assert gallery and ".png" in json.dumps(gallery)  # the newest validation's spectrograms
        assert job.outputs()[0][0].startswith("**running**")  # progress was streamed while it ran
        assert command.startswith("audiogen finetune ") and "--steps 2" in command
        out = client.predict(str(run), "wav", "mine", 0, 4, 1.0, "dpm++", 1.0, 1, api_name="/generate")
        assert Path(out[0]["value"]).name == "mine_seed000000.wav"
        assert sf.info(out[0]["value"]).frames == host.pipeline.sample_rate
        assert f"--checkpoint {run.resolve()}" in out[-1]
    finally:
        app.close()


@pytest.mark.slow
def test_lora_finetune_and_strength_sliders(tmp_path):
    """A LoRA fine-tune from the Fine-tune tab, loaded under LoRA adapters, its strength on the command."""
    pytest.importorskip("gradio")
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from audiogen.pipelines.audiogen import AudioGenPipeline
    from audiogen.ui.finetune_job import lora_supported
    from tests.ui import browser

    if not (hasattr(AudioGenPipeline, "load_lora") and lora_supported()):
        pytest.skip("this audiogen has no LoRA adapters")
    sounds = _collection(tmp_path / "sounds")
    app, host, url = browser.start_app(runs_dir=tmp_path / "runs", out_dir=tmp_path / "out")
    try:
        client = Client(url, verbose=False)
        run = tmp_path / "runs" / "bells"
        final = client.submit(str(sounds), str(run), "bells", 1, "generator", 4, api_name="/finetune").result(
            timeout=900
        )
        assert "load the adapter" in final[0] and final[-1] == str(run.resolve())
        assert "--lora 4" in final[5]
        d = str(host.default_path)
        loaded = client.predict(d, str(run), api_name="/lora_load")
        assert loaded[-4]["label"] == "LoRA bells" and loaded[-4]["visible"]
        client.predict(0.5, api_name="/lora_strength_0")
        out = client.predict(d, "wav", "bells", 0, 4, 1.0, "dpm++", 1.0, 1, api_name="/generate")
        assert f"--lora {run.resolve()}:0.5 " in out[-1]
        assert host.pipeline.loras == {"bells": 0.5}
        client.predict(d, api_name="/lora_unload_all")
        assert host.pipeline.loras == {}
        with pytest.raises(AppError, match="^error: --lora .*missing: no such adapter folder"):
            client.predict(d, str(tmp_path / "missing"), api_name="/lora_load")
    finally:
        app.close()
