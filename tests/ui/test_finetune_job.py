"""Fine-tuning from the web app: ``audiogen finetune`` as a subprocess, its progress and samples read
from the run folder, cancel, and (through the Gradio API) a LoRA run loaded under LoRA adapters."""

from __future__ import annotations

import json
import time

import pytest

from audiogen.ui.finetune_job import FinetuneJob
from audiogen.ui.host import UIError
from tests.ui.browser import sound_collection as _collection


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


@pytest.mark.slow
def test_lora_finetune_and_strength_sliders(tmp_path):
    """A LoRA fine-tune from the Fine-tune tab, loaded under LoRA adapters, its strength on the command."""
    pytest.importorskip("gradio")
    from gradio_client import Client

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
        started = client.predict(str(sounds), str(run), "bells", 1, "generator", 4, api_name="/finetune")
        assert started[0].startswith("Started fine-tuning"), started[0]
        end = time.monotonic() + 900  # a hang guard
        while host.finetunes.status(run).state == "running" and time.monotonic() < end:
            time.sleep(1)
        runs = client.predict(str(run.resolve()), api_name="/finetune_runs")
        assert runs[2].startswith("**done**") and "LoRA adapters" in runs[2], runs[2]
        assert "--lora 4" in runs[-3]  # the CLI command
        assert runs[-1] == str(run.resolve())  # the adapter box, filled for the page that started it
        d = str(host.default_path)
        loaded = client.predict(d, str(run), api_name="/lora_load")
        assert loaded[-4]["label"] == "LoRA bells" and loaded[-4]["visible"]
        client.predict(0.5, api_name="/lora_strength_0")
        out = client.predict(d, "wav", "bells", 0, 4, 1.0, "dpm++", "", 1.0, 1, api_name="/generate")
        assert f"--lora {run.resolve()}:0.5 " in out[-1]
        assert host.pipeline.loras == {"bells": 0.5}
        client.predict(d, api_name="/lora_unload_all")
        assert host.pipeline.loras == {}
        refused = client.predict(d, str(tmp_path / "missing"), api_name="/lora_load")
        assert refused[0].startswith("**Error:** Adapter folder ") and "missing: no such" in refused[0]
    finally:
        host.finetunes.close()
        app.close()
