"""The web app (audiogen ui): driven from headless Chromium (marked ``browser``), and through the Gradio
API for queueing, cancellation and errors. The bundled model makes 2 s clips in about a second on CPU.

Every generating endpoint returns the tab's status line first (empty, or the error in the page's words),
then the players, downloads, spectrogram, seeds, summary and CLI command."""

from __future__ import annotations

import io
import re
import threading
import time
from pathlib import Path

import pytest

from tests.ui import browser

gradio = pytest.importorskip("gradio")
needs_browser = pytest.mark.skipif(
    not browser.have_browser(), reason="needs /usr/bin/chromium, chromedriver, selenium"
)


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    if not browser.have_browser():
        pytest.skip("needs /usr/bin/chromium, chromedriver, selenium")
    d = browser.chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield d
    d.quit()


def _decode(data: bytes) -> tuple[int, int]:
    import soundfile as sf

    audio, rate = sf.read(io.BytesIO(data))
    return audio.shape[0], rate


def _wait(condition, what: str, guard: float = 300.0) -> None:
    """Poll ``condition`` (a hang guard, not a timing check: ``guard`` is far beyond the expected time)."""
    end = time.monotonic() + guard
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"still waiting for {what} after {guard:g} s")
        time.sleep(0.1)


@pytest.mark.browser
@needs_browser
def test_generate_and_loop_in_chromium(served, driver, tmp_path):
    host, url = served
    rate = host.pipeline.sample_rate
    browser.load(driver, url)
    browser.choose(driver, "generate-style", "piano")
    browser.set_number(driver, "generate-seconds", 2)
    driver.find_element("id", "generate-run").click()
    frames, sr = _decode(browser.fetch(browser.wait_for_audio(driver, "generate-audio-0")))
    assert (frames, sr) == (2 * rate, rate)
    command = driver.find_element("id", "generate-command").text
    assert "audiogen generate --seconds 2 --num 1 --style piano" in command

    browser.open_tab(driver, "Loop")
    browser.choose(driver, "loop-style", "organ")
    browser.set_number(driver, "loop-bars", 1)  # 1 bar of 4 beats at 120 bpm = 2 s
    browser.set_number(driver, "loop-bpm", 120)
    driver.find_element("id", "loop-run").click()
    frames, sr = _decode(browser.fetch(browser.wait_for_audio(driver, "loop-audio-0")))
    assert (frames, sr) == (2 * rate, rate)

    shots = browser.screenshot_tabs(driver, url, tmp_path / "shots")
    assert {p.name for p in shots} >= {
        "ui_generate.png",
        "ui_loop.png",
        "ui_variation.png",
        "ui_finetune.png",
    }
    assert all(p.stat().st_size > 10_000 for p in shots)


@pytest.mark.browser
@needs_browser
def test_negative_style_on_the_generate_tab_in_chromium(served, driver):
    host, url = served
    browser.load(driver, url)
    browser.choose(driver, "generate-style", "piano")
    browser.choose(driver, "generate-negative-style", "organ")
    browser.set_number(driver, "generate-seconds", 1)
    browser.set_number(driver, "generate-cfg", 3)
    driver.find_element("id", "generate-run").click()
    browser.wait_for_audio(driver, "generate-audio-0")
    command = driver.find_element("id", "generate-command").text
    assert "--style piano " in command and "--cfg-scale 3 " in command
    assert "--negative-style organ " in command


def test_every_generating_tab_has_a_negative_style_box(served):
    """Generate, Loop, Variation and Extend / Inpaint have one (the model's styles, none picked); the
    Stream tab has none (a stream refuses a negative style)."""
    from audiogen.ui.app import build_app

    host, _ = served
    boxes = {b.elem_id: b for b in build_app(host).blocks.values() if getattr(b, "elem_id", None)}
    for tab in ("generate", "loop", "variation", "edit"):
        box = boxes[f"{tab}-negative-style"]
        assert isinstance(box, gradio.Dropdown) and box.label == "Negative style" and box.value == ""
        assert [v for _, v in box.choices] == ["", *host.pipeline.styles]
    assert not [name for name in boxes if name.startswith("stream") and "negative" in name]


def _client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


def _generate_args(host, style="piano", seed=0, steps=8, seconds=2.0, num=1, fmt="wav", cfg=1.0, negative=""):
    return (str(host.default_path), fmt, style, seed, steps, cfg, "dpm++", negative, seconds, num)


def test_two_concurrent_generate_requests_both_complete(served):
    import soundfile as sf

    host, url = served
    jobs = [
        _client(url).submit(*_generate_args(host, seed=seed, fmt=fmt), api_name="/generate")
        for seed, fmt in ((1, "wav"), (2, "flac"))
    ]
    results = [job.result(timeout=600) for job in jobs]
    for (seed, fmt), result in zip(((1, "wav"), (2, "flac")), results, strict=True):
        path = Path(result[1]["value"])
        assert path.name == f"piano_seed{seed:06d}.{fmt}"
        info = sf.info(str(path))
        assert (info.frames, info.samplerate) == (2 * host.pipeline.sample_rate, host.pipeline.sample_rate)
        assert result[-3] == str(seed)  # the seed shown
        assert f"--seed {seed} " in result[-1] and f"--format {fmt}" in result[-1]


def test_negative_style_through_the_api(served):
    """The negative style (after the sampler among the inputs) reaches the pipeline and the command;
    one equal to the style is refused with the command line's line in the page's words."""
    host, url = served
    client = _client(url)
    plain = client.predict(*_generate_args(host, steps=2, seconds=1.0, cfg=3.0), api_name="/generate")
    away = client.predict(
        *_generate_args(host, steps=2, seconds=1.0, cfg=3.0, negative="organ"), api_name="/generate"
    )
    assert away[0] == "" and "--sampler dpm++ --negative-style organ --format wav" in away[-1]
    assert "--negative-style" not in plain[-1]
    assert Path(away[1]["value"]).read_bytes() != Path(plain[1]["value"]).read_bytes()
    refused = client.predict(*_generate_args(host, negative="piano"), api_name="/generate")
    assert refused[0] == "**Error:** Negative style must differ from Style (both 'piano')"


def test_cancel_stops_the_running_job_and_frees_the_worker(served):
    host, url = served
    calls = []
    handle = host.pipeline.denoiser.register_forward_hook(lambda *args: calls.append(1))
    try:
        steps = 1000
        before = set(host.out_dir.rglob("*"))
        client = _client(url)
        long_job = client.submit(*_generate_args(host, steps=steps, seconds=10.0), api_name="/generate")
        _wait(lambda: len(calls) >= 2, "the long job to start")
        long_job.cancel()
        _wait(lambda: not host.busy, "the cancelled job to stop")
        stopped_at = len(calls)
        assert stopped_at < steps  # it stopped, well before its last denoiser call
        assert set(host.out_dir.rglob("*")) == before  # and wrote nothing
        quick = _client(url).predict(*_generate_args(host, seed=5), api_name="/generate")
        assert Path(quick[1]["value"]).name == "piano_seed000005.wav"
    finally:
        handle.remove()


@pytest.mark.parametrize(
    ("bars", "bpm", "seed", "expect", "shown"),
    [
        (0.01, 120.0, 0, "shortest loop", "shortest loop"),
        (1.0, 5000.0, 0, "--bpm must be", "BPM must be"),
        (1.0, 120.0, -1, "--seed must be", "Seed must be"),
    ],
)
def test_errors_show_the_cli_line_in_the_page_words(served, tmp_path, bars, bpm, seed, expect, shown):
    """The status line says what the CLI says, with field names for flags; the last result stays."""
    from typer.testing import CliRunner

    from audiogen.cli import app

    host, url = served
    args = (str(host.default_path), "wav", "piano", seed, 8, 1.0, "dpm++", "", bars, bpm, 4, 1)
    out = _client(url).predict(*args, api_name="/loop")
    flags = ["--bars", str(bars), "--bpm", str(bpm), "--seed", str(seed), "--style", "piano"]
    cli = CliRunner().invoke(app, ["loop", *flags, "--out", str(tmp_path / "x.wav")])
    assert cli.exit_code == 2
    line = cli.output.strip().splitlines()[-1]
    assert line.startswith("error: ") and expect in line
    status = out[0]
    assert status.startswith("**Error:** ") and shown in status and "--" not in status
    assert status.removeprefix("**Error:** ") == line.removeprefix("error: ").replace(expect, shown)
    assert out[-1] is None or "audiogen loop" not in str(out[-1])  # no result was made


def test_upload_is_checked_before_decoding(served, tmp_path):
    from gradio_client import handle_file

    host, url = served
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("not audio at all")
    out = _client(url).predict(
        str(host.default_path),
        "wav",
        "piano",
        0,
        8,
        1.0,
        "dpm++",
        "",
        handle_file(str(not_audio)),
        0.5,
        api_name="/variation",
    )
    assert re.match(r"^\*\*Error:\*\* .*notes\.wav", out[0]), out[0]


def test_variation_of_an_upload(served, tmp_path):
    import soundfile as sf
    import torch
    from gradio_client import handle_file

    host, url = served
    source = tmp_path / "tone.wav"
    sf.write(source, (0.3 * torch.sin(torch.arange(16000) * 0.05)).numpy(), 16000)  # 1 s at 16 kHz
    result = _client(url).predict(
        str(host.default_path),
        "wav",
        "piano",
        3,
        8,
        1.0,
        "dpm++",
        "",
        handle_file(str(source)),
        0.5,
        api_name="/variation",
    )
    info = sf.info(result[1]["value"])
    assert (info.frames, info.samplerate) == (host.pipeline.sample_rate, host.pipeline.sample_rate)
    assert result[-1].startswith("audiogen variation ") and "--strength 0.5" in result[-1]


def test_jobs_wait_for_each_other(served):
    """Two jobs on the host never run at once (the lock behind the queue)."""
    host, _ = served
    from audiogen.ui import jobs

    active, seen = [], []

    def hook(*args):
        active.append(threading.get_ident())
        seen.append(len(set(active)))
        active.remove(threading.get_ident())

    handle = host.pipeline.denoiser.register_forward_pre_hook(hook)
    try:
        threads = [
            threading.Thread(target=jobs.generate, args=(host, None, jobs.Sampling("flute", k, 4), 1.0))
            for k in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        handle.remove()
    assert seen and max(seen) == 1


def test_extend_and_inpaint_tab(served, tmp_path):
    """The Extend / Inpaint tab (present once the pipeline has extend / inpaint)."""
    import soundfile as sf
    from gradio_client import handle_file

    from audiogen.pipelines.audiogen import AudioGenPipeline

    if not hasattr(AudioGenPipeline, "extend"):
        pytest.skip("this audiogen's pipeline has no extend / inpaint")
    host, url = served
    rate = host.pipeline.sample_rate
    source = tmp_path / "clip.wav"
    sf.write(source, [0.1 * ((i // 50) % 2) for i in range(rate)], rate)  # 1 s square wave
    client = _client(url)
    d = str(host.default_path)
    extended = client.predict(
        d,
        "wav",
        "piano",
        0,
        8,
        1.0,
        "dpm++",
        "",
        handle_file(str(source)),
        "extend",
        0.5,
        1.0,
        0.0,
        0.0,
        api_name="/edit",
    )
    assert sf.info(extended[1]["value"]).frames == round(2.5 * rate)
    assert " --before 0.5 --seconds 1 " in extended[-1]
    inpainted = client.predict(
        d,
        "flac",
        "piano",
        0,
        8,
        1.0,
        "dpm++",
        "",
        handle_file(str(source)),
        "inpaint",
        0,
        0,
        0.25,
        0.75,
        api_name="/edit",
    )
    assert sf.info(inpainted[1]["value"]).frames == rate
    refused = client.predict(
        d,
        "wav",
        "piano",
        0,
        8,
        1.0,
        "dpm++",
        "",
        handle_file(str(source)),
        "inpaint",
        0,
        0,
        0.75,
        0.25,
        api_name="/edit",
    )
    assert refused[0] == "**Error:** Span start (0.75 s) must be before Span end (0.25 s)"
    # style "auto" (the tab's default) names the style it heard; empty is unconditional: --style none
    for style, check in (
        ("auto", lambda word: word in host.pipeline.styles),
        ("", lambda word: word == "none"),
    ):
        out = client.predict(
            d, "wav", style, 0, 2, 1.0, "dpm++", "", handle_file(str(source)), "extend", 0.0, 0.5, 0.0, 0.0,
            api_name="/edit",
        )  # fmt: skip
        words = out[-1].split()
        assert words.count("--style") == 1 and check(words[words.index("--style") + 1]), out[-1]
        if style == "auto":
            heard = words[words.index("--style") + 1]
    # a negative style with auto: checked against the style heard (the command names both)
    for negative in (heard, next(s for s in host.pipeline.styles if s != heard)):
        out = client.predict(
            d, "wav", "auto", 0, 2, 3.0, "dpm++", negative, handle_file(str(source)), "extend", 0.0, 0.5,
            0.0, 0.0, api_name="/edit",
        )  # fmt: skip
        if negative == heard:
            assert out[0] == (
                f"**Error:** Style auto -> {heard}: Negative style must differ from Style (both '{heard}')"
            )
        else:
            assert out[0] == "", out[0]
            assert f"--style {heard} " in out[-1] and f"--negative-style {negative} " in out[-1]


def test_progress_follows_the_sampler_steps(served):
    host, url = served
    job = _client(url).submit(*_generate_args(host, steps=60, seconds=10.0), api_name="/generate")
    seen = []
    while not job.done():
        status = job.status()
        seen += [(p.index, p.length, p.desc) for p in status.progress_data or []]
        time.sleep(0.2)
    assert job.result()[-3] == "0"
    assert seen and all(length == 60 and desc == "denoise" for _, length, desc in seen)
    assert all(0 <= index <= 60 for index, _, _ in seen)
