"""The Fine-tune tab in Chromium: a fine-tune started in one page belongs to the server; closing the
page leaves it running, and a page opened later follows it until it is done and offers its result."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ui import browser

pytest.importorskip("gradio")


def _fill(page, elem_id: str, value: str) -> None:
    from selenium.webdriver.common.by import By

    box = page.find_element(By.CSS_SELECTOR, f"#{elem_id} input, #{elem_id} textarea")
    box.clear()
    box.send_keys(value)


@pytest.mark.browser
def test_finetune_survives_closing_the_page_and_shows_on_a_new_one(served, new_page, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    host, url = served
    sounds = browser.sound_collection(tmp_path / "sounds")
    run = (host.runs_dir / "mine").resolve()
    first = new_page()
    browser.load(first, url)
    browser.open_tab(first, "Fine-tune")
    _fill(first, "finetune-source", str(sounds))
    _fill(first, "finetune-out", str(run))
    _fill(first, "finetune-style", "mine")
    browser.set_number(first, "finetune-steps", 2)
    first.find_element(By.ID, "finetune-run").click()
    WebDriverWait(first, 60, poll_frequency=0.25).until(
        lambda d: "Started fine-tuning" in d.find_element(By.ID, "finetune-status").text
    )
    first.quit()  # the tab and its browser are gone

    job = host.finetunes.jobs[run]
    assert job.running  # still fine-tuning, owned by the server
    later = new_page()
    browser.load(later, url)
    browser.open_tab(later, "Fine-tune")
    seen = []

    def progress(d):
        text = d.find_element(By.ID, "finetune-progress").text
        table = d.find_element(By.ID, "finetune-runs").text
        seen.append((text.split(":")[0], str(run) in table))
        return text.startswith("done") and text

    done = WebDriverWait(later, 900, poll_frequency=0.5).until(progress)
    assert ("running", True) in seen  # the new page listed it while it ran
    assert "denoiser 2/2 steps" in done and str(run) in done
    assert job.wait() == 0 and (run / "model_index.json").is_file()
    assert (run / "finetune.log").read_text().strip()  # the command's output, kept in the run folder
    assert str(run) in [path for _, path in host.models()]

    from gradio_client import Client

    client = Client(url, verbose=False)
    client.predict(str(run), api_name="/select_model")  # as choosing it in Model: its styles are offered
    out = client.predict(str(run), "wav", "mine", 0, 4, 1.0, "dpm++", "", 1.0, 1, api_name="/generate")
    assert Path(out[1]["value"]).name == "mine_seed000000.wav"
    assert f"--checkpoint {run}" in out[-1]
