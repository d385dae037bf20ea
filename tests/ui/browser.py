"""Shared by the web app's tests and tools/ui_screenshots.py: serve the app on a free local port and
drive it from headless Debian Chromium through Selenium (chromedriver at /usr/bin/chromedriver)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

SOUNDS = Path("/usr/share/sounds/freedesktop/stereo")
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# flags that run Chromium with no display, no sandbox (containers) and no outside network
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def have_browser() -> bool:
    """Whether Chromium, chromedriver and the selenium and gradio packages are installed."""
    try:
        import gradio  # noqa: F401
        import selenium  # noqa: F401
    except ImportError:
        return False
    return CHROMIUM.is_file() and CHROMEDRIVER.exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(runs_dir: Path | None = None, out_dir: Path | None = None) -> tuple[Any, Any, str]:
    """Serve the app with the bundled model on a free 127.0.0.1 port in this process (a thread).

    Returns:
        ``(app, host, url)``; stop with ``app.close()``.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from audiogen.ui.app import launch
    from audiogen.ui.host import ModelHost

    runs_dir = runs_dir or Path(tempfile.mkdtemp(prefix="audiogen-ui-runs-"))
    out_dir = out_dir or Path(tempfile.mkdtemp(prefix="audiogen-ui-out-"))
    host = ModelHost(None, "cpu", runs_dir, out_dir)
    port = free_port()
    app = launch(host, server_name="127.0.0.1", server_port=port, block=False)
    return app, host, f"http://127.0.0.1:{port}/"


def chromium(profile: Path, width: int = 1280, height: int = 1400) -> Any:
    """A headless Chromium WebDriver with a fresh profile folder ``profile``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


# ---------------------------------------------------------------------------------------------- driving
def load(driver: Any, url: str, timeout: float = 120.0) -> None:
    """Open the app at ``url`` and wait until its page has been built."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, timeout, poll_frequency=0.25).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#generate-style input")
    )


def open_tab(driver: Any, label: str) -> None:
    """Click the tab button named ``label``."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.XPATH, f"//button[@role='tab' and normalize-space()='{label}']").click()


def set_number(driver: Any, elem_id: str, value: float) -> None:
    """Type ``value`` into the number box of component ``elem_id`` (a gr.Number or a gr.Slider)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.CSS_SELECTOR, f"#{elem_id} input[type=number]")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(f"{value:g}", Keys.TAB)


def choose(driver: Any, elem_id: str, value: str) -> None:
    """Pick ``value`` in the gr.Dropdown ``elem_id``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.CSS_SELECTOR, f"#{elem_id} input")
    box.click()
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(value, Keys.ENTER)


def wait_for_audio(driver: Any, elem_id: str, previous: str | None = None, timeout: float = 300.0) -> str:
    """Wait for the gr.Audio ``elem_id`` to show an ``<audio>`` element with a file other than
    ``previous``; returns the file's URL (the player's download link)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(d: Any) -> str | bool:
        found = d.find_elements(By.CSS_SELECTOR, f"#{elem_id} audio")
        links = d.find_elements(By.CSS_SELECTOR, f"#{elem_id} a[download]")
        if not found or not links:
            return False
        url = found[0].get_attribute("src") or links[0].get_attribute("href")
        return url if url and url != previous else False

    return WebDriverWait(driver, timeout, poll_frequency=0.25).until(ready)


def fetch(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url) as response:  # noqa: S310 (a local http URL of the test server)
        return response.read()


def screenshot_tabs(
    driver: Any, url: str, folder: Path, upload: Path | None = None, finetune: tuple[Path, Path] | None = None
) -> list[Path]:
    """Open every tab of the app at ``url``, run its job with short settings where it has one, and
    save ``folder/ui_<tab>.png``. ``upload``: an audio file for the Variation and Extend / Inpaint tabs;
    ``finetune``: ``(audio folder, run folder)`` for a 2-step fine-tune shown when it has finished.

    Returns:
        The PNG paths.
    """
    from selenium.webdriver.common.by import By

    folder.mkdir(parents=True, exist_ok=True)
    load(driver, url)
    shots = []

    def shot(name: str) -> None:
        import base64

        driver.execute_script("window.scrollTo(0, 0);")
        size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        png = driver.execute_cdp_cmd(  # the whole page, not only the window
            "Page.captureScreenshot",
            {
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
            },
        )["data"]
        path = folder / f"ui_{name}.png"
        path.write_bytes(base64.b64decode(png))
        shots.append(path)

    jobs = [("Generate", "generate"), ("Loop", "loop"), ("Variation", "variation")]
    if driver.find_elements(By.XPATH, "//button[@role='tab' and normalize-space()='Extend / Inpaint']"):
        jobs.append(("Extend / Inpaint", "edit"))
    for label, name in jobs:
        open_tab(driver, label)
        if name != "edit":  # the edit tab keeps its default, auto: the style heard in the upload
            choose(driver, f"{name}-style", "piano")
        if name == "generate":
            set_number(driver, "generate-seconds", 2)
        elif name == "loop":
            set_number(driver, "loop-bars", 1)
        elif upload is not None:
            driver.find_element(By.CSS_SELECTOR, f"#{name}-input input[type=file]").send_keys(str(upload))
        else:
            shot(name)
            continue
        driver.find_element(By.ID, f"{name}-run").click()
        wait_for_audio(driver, f"{name}-audio-0")
        shot(name)
    open_tab(driver, "Fine-tune")
    if finetune is not None:
        from selenium.webdriver.support.ui import WebDriverWait

        for elem_id, value in zip(("finetune-source", "finetune-out"), finetune, strict=True):
            box = driver.find_element(By.CSS_SELECTOR, f"#{elem_id} input, #{elem_id} textarea")
            box.clear()
            box.send_keys(str(value))
        set_number(driver, "finetune-steps", 2)
        driver.find_element(By.ID, "finetune-run").click()
        WebDriverWait(driver, 900, poll_frequency=1).until(
            lambda d: "done" in d.find_element(By.ID, "finetune-progress").text
        )
    shot("finetune")
    return shots


def sound_collection(folder: Path, n: int = 3) -> Path:
    """``n`` sounds of the freedesktop theme copied into ``folder`` (a tiny collection to fine-tune on)."""
    files = sorted(SOUNDS.glob("*.oga"))[:n]
    if len(files) < n:
        import pytest

        pytest.skip("needs the freedesktop sound theme (tools/setup.sh installs it)")
    folder.mkdir()
    for f in files:
        shutil.copy(f, folder / f.name)
    return folder
