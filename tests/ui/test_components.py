"""The page's forms: a refused value stays on the tab's status line (in the page's words) long after the
click, and the style box takes the model's styles only (in Chromium); the style and negative style
boxes follow the model's styles."""

from __future__ import annotations

import time

import pytest

from tests.ui import browser

pytest.importorskip("gradio")


@pytest.mark.browser
def test_error_stays_next_to_the_form_and_styles_are_a_fixed_list(served, new_page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    host, url = served
    page = new_page()
    browser.load(page, url)
    browser.set_number(page, "generate-seconds", 0)
    page.find_element(By.ID, "generate-run").click()
    status = WebDriverWait(page, 120, poll_frequency=0.25).until(
        lambda d: d.find_element(By.ID, "generate-status").text or False
    )
    assert status.startswith("Error: Seconds must be in (0, 600]"), status
    time.sleep(10)
    assert page.find_element(By.ID, "generate-status").text == status  # still on screen
    assert "--" not in status

    box = page.find_element(By.CSS_SELECTOR, "#generate-style input")
    box.click()
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("banjo", Keys.ENTER)
    box.send_keys(Keys.TAB)
    time.sleep(0.5)
    assert box.get_attribute("value") != "banjo"  # no free text: the box goes back to a style
    browser.choose(page, "generate-style", "organ")
    browser.set_number(page, "generate-seconds", 1)
    page.find_element(By.ID, "generate-run").click()
    browser.wait_for_audio(page, "generate-audio-0")
    assert "--style organ" in page.find_element(By.ID, "generate-command").text
    assert page.find_element(By.ID, "generate-status").text == ""  # the next run clears it


def test_style_updates_refresh_the_style_and_negative_style_choices():
    import gradio as gr

    from audiogen.ui.components import SamplingControls, style_boxes, style_updates

    with gr.Blocks():
        g = SamplingControls.build("generate", ["piano", "flute"], 1.0)
        e = SamplingControls.build("edit", ["piano", "flute"], 1.0, auto=True)
    assert g.negative.elem_id == "generate-negative-style" and g.negative in g.inputs
    assert g.inputs.index(g.negative) == e.inputs.index(e.negative) == len(g.inputs) - 1
    assert g.negative.value == "" and [v for _, v in g.negative.choices] == ["", "piano", "flute"]
    assert style_boxes([g, e]) == [g.style, g.negative, e.style, e.negative]
    # an adapter adds chimes: every value is kept, chimes offered
    new = style_updates([g, e], ["piano", "flute", "chimes"], ["piano", "flute", "auto", "piano"])
    assert [u.value for u in new] == ["piano", "flute", "auto", "piano"]
    negatives = [[v for _, v in u.choices] for u in new[1::2]]
    assert negatives == [["", "piano", "flute", "chimes"]] * 2
    # another model without flute: a negative style it lacks goes back to none
    new = style_updates([g, e], ["piano", "organ"], ["flute", "flute", "auto", "piano"])
    assert [u.value for u in new] == ["piano", "", "auto", "piano"]
    assert [v for _, v in new[1].choices] == ["", "piano", "organ"]
    assert [v for _, v in new[2].choices] == ["auto", "", "piano", "organ"]
