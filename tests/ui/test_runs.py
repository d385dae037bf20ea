"""The server's fine-tuning runs (audiogen.ui.runs): listed from the run folders, their totals read from
finetune.json, cancelled on purpose with a message on how to resume, one command per run folder."""

from __future__ import annotations

import json
import time

import pytest

from audiogen.ui.finetune_job import LOG_NAME, FinetuneJob
from audiogen.ui.host import UIError
from audiogen.ui.runs import FinetuneRuns
from tests.ui.browser import sound_collection


def test_a_run_folder_written_elsewhere_is_listed_with_its_progress(tmp_path):
    run = tmp_path / "runs" / "older"
    stage = run / "train" / "vocoder"
    stage.mkdir(parents=True)
    settings = {"steps": 8, "vocoder_steps": 3, "autoencoder_steps": None, "stages": "generator+vocoder"}
    (run / "finetune.json").write_text(json.dumps({**settings, "lora_rank": None}))
    (stage / "metrics.jsonl").write_text(json.dumps({"step": 2}) + "\n")
    (run / LOG_NAME).write_text("== fine-tuning the denoiser\nerror: something\n")
    (tmp_path / "runs" / "not-a-run").mkdir()
    runs = FinetuneRuns(tmp_path / "runs")
    assert runs.folders() == [run.resolve()]
    st = runs.status(run)
    assert (st.steps, st.totals) == ({"denoiser": 0, "vocoder": 2}, {"denoiser": 8, "vocoder": 3})
    assert st.state == "stopped" and st.log.endswith("error: something")
    (run / "model_index.json").write_text("{}")
    assert runs.status(run).state == "done" and runs.status(run).result == run
    with pytest.raises(UIError, match="no fine-tune of this server is running"):
        runs.cancel(run)


def test_cancel_stops_the_run_and_says_how_to_resume(tmp_path):
    runs = FinetuneRuns(tmp_path / "runs")
    sounds = sound_collection(tmp_path / "sounds")
    job = runs.start(FinetuneJob(sounds, tmp_path / "runs" / "r", 1000, style="mine"))
    with pytest.raises(UIError, match="already fine-tuning"):
        runs.start(FinetuneJob(sounds, tmp_path / "runs" / "r", 1000, style="mine"))
    end = time.monotonic() + 300  # a hang guard
    while job.running and not job.status().log and time.monotonic() < end:
        time.sleep(0.2)
    assert runs.status(job.out).state == "running"
    message = runs.cancel(job.out)
    assert not job.running and job.wait() != 0
    assert message.startswith(f"Cancelled {job.out} at denoiser ") and "same settings to resume" in message
    st = runs.status(job.out)
    assert st.state == "cancelled" and st.steps["denoiser"] < 1000
    assert runs.folders() == [job.out]
