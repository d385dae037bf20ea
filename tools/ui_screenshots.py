#!/usr/bin/env python
"""Screenshots of every tab of the web app for docs/ui.md: docs/images/ui_<tab>.png.

Serves the app with the bundled model on a free local port and drives it from headless Chromium
(the browser tests' setup, tests/ui/browser.py): each tab runs its job with short settings (a 2 s
piano clip, a 1-bar loop, a variation of the freedesktop theme's 2.2 s login sound, a 2-step fine-tune
on three of the theme's sounds) before its screenshot.

    .venv/bin/python tools/ui_screenshots.py [--out docs/images]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.ui import browser  # noqa: E402

UPLOAD = Path("/usr/share/sounds/freedesktop/stereo/service-login.oga")  # 2.2 s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    if not browser.have_browser():
        sys.exit("error: needs /usr/bin/chromium, /usr/bin/chromedriver and the selenium and gradio packages")
    app, _, url = browser.start_app()
    driver = browser.chromium(Path(tempfile.mkdtemp(prefix="audiogen-chromium-")))
    try:
        upload = UPLOAD if UPLOAD.is_file() else None
        work = Path(tempfile.mkdtemp(prefix="audiogen-ui-shots-"))
        finetune = None
        if upload is not None:
            (work / "sounds").mkdir()
            for f in sorted(upload.parent.glob("*.oga"))[:3]:
                shutil.copy(f, work / "sounds" / f.name)
            finetune = (work / "sounds", work / "runs" / "sounds")
        for path in browser.screenshot_tabs(driver, url, args.out, upload=upload, finetune=finetune):
            print(f"wrote {path}")
    finally:
        driver.quit()
        app.close()


if __name__ == "__main__":
    main()
