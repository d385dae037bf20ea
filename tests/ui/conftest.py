"""Fixtures of the web app's tests: one server (bundled model, CPU, in a thread) shared by the test
modules, headless Chromium pages, and an adapter for the bundled model."""

from __future__ import annotations

import pytest

from tests.ui import browser


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    pytest.importorskip("gradio")
    app, host, url = browser.start_app(
        runs_dir=tmp_path_factory.mktemp("runs"), out_dir=tmp_path_factory.mktemp("out")
    )
    yield host, url
    host.finetunes.close()
    app.close()


@pytest.fixture
def new_page(tmp_path_factory):
    """``new_page()``: a fresh headless Chromium (its own profile: its own browser session); all quit
    at the end of the test."""
    if not browser.have_browser():
        pytest.skip("needs /usr/bin/chromium, chromedriver, selenium")
    drivers = []

    def make():
        drivers.append(browser.chromium(tmp_path_factory.mktemp("chromium-profile")))
        return drivers[-1]

    yield make
    for d in drivers:
        d.quit()


@pytest.fixture(scope="session")
def chimes_adapter(served, tmp_path_factory):
    """A LoRA adapter for the bundled model with random weights and the new style ``chimes``."""
    from audiogen.pipelines.audiogen import AudioGenPipeline
    from tests.models.test_lora import make_adapter

    host, _ = served
    folder = tmp_path_factory.mktemp("adapters") / "chimes"
    make_adapter(AudioGenPipeline.from_pretrained(host.default_path), folder, "chimes", seed=1)
    return folder
