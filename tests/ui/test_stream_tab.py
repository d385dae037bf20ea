"""The web app's Stream tab: streamed audio in Chromium and through the Gradio API, errors as the
CLI's line (a small random sequence model over the bundled model's latent)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.ui import browser

gradio = pytest.importorskip("gradio")
pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None, reason="Gradio's streaming audio output needs FFmpeg (tools/setup.sh)"
)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from audiogen.models.sequence import LatentSequenceModel, SequenceConfig

    app, host, url = browser.start_app(
        runs_dir=tmp_path_factory.mktemp("runs"), out_dir=tmp_path_factory.mktemp("out")
    )
    styles = tuple(host.pipeline.styles)
    config = SequenceConfig(
        latent_dim=host.pipeline.autoencoder.latent_dim, dim=32, layers=1, heads=2, context_frames=32,
        num_classes=len(styles), class_labels=styles, head_width=32, head_layers=1, head_steps=2,
    )  # fmt: skip
    folder = LatentSequenceModel(config).save_pretrained(tmp_path_factory.mktemp("seq") / "sequence")
    yield host, url, str(folder)
    app.close()


def _client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


def test_stream_through_the_api_and_errors(served):
    from gradio_client.exceptions import AppError

    host, url, folder = served
    result = _client(url).predict(
        str(host.default_path), "organ@0,piano@1", 2.0, 3, folder, api_name="/stream"
    )
    # Gradio streams audio as an HLS playlist of AAC segments; their durations add up to the stream's
    lines = Path(result).read_text().splitlines()
    seconds = sum(float(x.split(":")[1].rstrip(",")) for x in lines if x.startswith("#EXTINF"))
    assert abs(seconds - 2.0) < 0.1, lines
    for style, expect in [
        ("organ@0,violin@1", "unknown style 'violin'"),
        ("organ@0,piano@2,flute@1", "increase"),
    ]:
        with pytest.raises(AppError, match=expect) as caught:
            _client(url).predict(str(host.default_path), style, 2.0, 0, folder, api_name="/stream")
        assert str(caught.value).startswith("error: style:")


@pytest.mark.browser
@pytest.mark.skipif(not browser.have_browser(), reason="needs /usr/bin/chromium, chromedriver, selenium")
def test_stream_tab_plays_in_chromium(served, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    host, url, folder = served
    driver = browser.chromium(tmp_path / "profile")
    try:
        browser.load(driver, url)
        browser.open_tab(driver, "Stream")
        driver.find_element(By.CSS_SELECTOR, "#stream-sequence textarea").send_keys(folder)
        browser.set_number(driver, "stream-seconds", 3)
        driver.find_element("id", "stream-run").click()
        WebDriverWait(driver, 300, poll_frequency=0.25).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#stream-audio audio")
        )
    finally:
        driver.quit()
