"""Per-page state of the web app: LoRA adapters loaded in one browser session change that session's
output only; the other sessions keep getting the base model's files, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ui import browser

pytest.importorskip("gradio")


def _generate(session, seed=0, style="piano") -> tuple[bytes, str]:
    from audiogen.ui import jobs

    result = jobs.generate(session, None, jobs.Sampling(style, seed, 4), 1.0)
    return result.audio[0].read_bytes(), result.command


def test_adapters_are_per_session_and_loading_twice_is_a_no_op(served, chimes_adapter):
    from audiogen.ui.host import UIError
    from audiogen.ui.session import SessionHost, SessionState

    host, _ = served
    mine, other = SessionHost(host, SessionState()), SessionHost(host, SessionState())
    base, _ = _generate(other)
    with host.job():
        name = mine.add_lora(host.default_path, chimes_adapter)
    with host.job():
        assert (
            mine.add_lora(host.default_path, f"{chimes_adapter}/../chimes") == name
        )  # the same folder again
    assert list(mine.state.loras) == [name] and mine.state.loras[name].strength == 1.0
    adapted, command = _generate(mine)
    assert adapted != base and f"--lora {chimes_adapter}:1 " in command
    again, command = _generate(other)  # after the other session's job: the base model again
    assert again == base and "--lora" not in command
    with pytest.raises(UIError, match="unknown style 'chimes'"):
        _generate(other, style="chimes")
    mine.set_strength(0, 0.0)
    assert _generate(mine)[0] == base  # strength 0 is the base, bit for bit
    mine.clear_loras()
    assert _generate(mine)[0] == base
    assert host.pipeline.loras == {}


@pytest.mark.browser
def test_two_pages_at_once_adapter_in_one_only(served, chimes_adapter, new_page):
    """Two Chromium sessions: page A loads an adapter; page B's file is the same before and after."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    host, url = served
    a, b = new_page(), new_page()
    for page in (a, b):
        browser.load(page, url)
        browser.set_number(page, "generate-seconds", 1)
        browser.choose(page, "generate-style", "piano")

    def generate(page) -> bytes:
        """Click Generate; the bytes of the file the job wrote (a new file in the output folder)."""
        before = set(host.out_dir.rglob("*.wav"))
        page.find_element(By.ID, "generate-run").click()
        WebDriverWait(page, 300, poll_frequency=0.25).until(
            lambda d: set(host.out_dir.rglob("*.wav")) - before
        )
        (written,) = set(host.out_dir.rglob("*.wav")) - before
        WebDriverWait(page, 60, poll_frequency=0.25).until(  # the page plays that file, complete
            lambda d: browser.fetch(browser.wait_for_audio(d, "generate-audio-0")) == written.read_bytes()
        )
        return written.read_bytes()

    b_before = generate(b)
    a.find_element(By.CSS_SELECTOR, "#lora button").click()  # open the accordion
    box = WebDriverWait(a, 30).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#lora-path input, #lora-path textarea")
    )
    box.send_keys(str(chimes_adapter))
    a.find_element(By.ID, "lora-load").click()
    WebDriverWait(a, 120, poll_frequency=0.25).until(
        lambda d: "Loaded" in d.find_element(By.ID, "lora-status").text
    )
    a_out = generate(a)
    b_after = generate(b)
    assert a_out != b_before  # the adapter changes page A's clip
    assert b_after == b_before  # and not page B's
    assert "--lora" in a.find_element(By.ID, "generate-command").text
    assert "--lora" not in b.find_element(By.ID, "generate-command").text
    assert Path(chimes_adapter).is_dir()
