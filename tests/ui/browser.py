"""Shared by the web app's tests and tools/ui_screenshots.py: serve the app on a free local port and
drive it from headless Debian Chromium through Selenium (chromedriver at /usr/bin/chromedriver)."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path
from typing import Any

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
