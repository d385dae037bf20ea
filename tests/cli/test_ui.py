"""``audiogen ui``: registered without importing gradio, warns for other interfaces, serves the page."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from audiogen.ui.host import is_loopback


def test_help_lists_ui_without_importing_gradio():
    code = "import sys; from audiogen.cli import app; print('gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    helptext = subprocess.run(
        [sys.executable, "-m", "audiogen.cli", "ui", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--host" in helptext and "127.0.0.1" in helptext


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("192.168.1.5", False),
        ("example", False),
    ],
)
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def _ui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "audiogen.cli", "ui", *args], capture_output=True, text=True, timeout=300
    )


def test_other_interfaces_warn_and_bad_flags_exit_2(tmp_path):
    missing = str(tmp_path / "missing")
    wide = _ui("--host", "0.0.0.0", "--checkpoint", missing)
    assert wide.returncode == 2
    assert "warning: serving on 0.0.0.0" in wide.stderr
    assert wide.stderr.strip().splitlines()[-1] == f"error: --checkpoint {missing}: no such folder"
    local = _ui("--checkpoint", missing)
    assert local.returncode == 2 and "warning" not in local.stderr
    port = _ui("--port", "0")
    assert port.returncode == 2 and port.stderr.strip() == "error: --port must be in [1, 65535], got 0"


def test_serves_the_page_on_localhost(tmp_path):
    pytest.importorskip("gradio")
    from tests.ui.browser import free_port

    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "audiogen.cli",
            "ui",
            "--port",
            str(port),
            "--runs-dir",
            str(tmp_path / "runs"),
            "--out",
            str(tmp_path / "out"),
            "--device",
            "cpu",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        page, end = None, time.monotonic() + 300  # a hang guard, not a timing check
        while page is None and proc.poll() is None and time.monotonic() < end:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as response:
                    page = response.read().decode()
            except OSError:
                time.sleep(0.5)
        assert page is not None, f"no page (exit {proc.poll()})"
        assert "<title>audiogen</title>" in page or "audiogen" in page
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out = proc.communicate(timeout=60)[0]
    assert f"audiogen ui: http://127.0.0.1:{port}" in out
