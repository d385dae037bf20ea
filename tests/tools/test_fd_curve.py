"""tools/fd_curve.py collects the FD of every evaluated checkpoint, per seed and embedding."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tools import ROOT, load_tool


def _report(path: Path, generated: float, floor: float) -> None:
    rows = [
        {"name": "generated", "frechet_distance": generated},
        {"name": "reconstructed", "frechet_distance": floor},
    ]
    path.write_text(json.dumps({"rows": rows}))


def test_curve_per_step_seed_and_embedding(tmp_path):
    fd_curve = load_tool("fd_curve")
    for step, base in ((22000, 5.0), (11000, 8.0)):
        folder = tmp_path / "vpred" / f"step-{step:08d}"
        folder.mkdir(parents=True)
        for i, seed in enumerate(fd_curve.SEEDS):
            _report(folder / f"gen_seed{seed}.json", base + i, 1.0)
            if seed != 3000:  # one features report missing
                _report(folder / f"gen_features_seed{seed}.json", 100 * base + i, 50.0)
    points = fd_curve.curve(tmp_path, "vpred")
    assert [p["step"] for p in points] == [11000, 22000]
    c, f = points[1]["classifier"], points[1]["features"]
    assert c["fd"] == [5.0, 6.0, 7.0, 8.0] and c["mean"] == 6.5 and c["floor"] == 1.0
    assert c["std"] == statistics.stdev([5.0, 6.0, 7.0, 8.0])
    assert f["seeds"] == [0, 1000, 2000] and f["mean"] == 501.0
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "fd_curve.py"), str(tmp_path), "vpred", "flow",
         "--json", str(tmp_path / "c.json")],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "| vpred | 11000 | - | 9.500 ± 1.291 (1.000) |" in out
    assert json.loads((tmp_path / "c.json").read_text())["flow"] == []


def test_hours_of_training_from_the_runs_log(tmp_path):
    fd_curve = load_tool("fd_curve")
    folder = tmp_path / "reports" / "vpred" / "step-00000400"
    folder.mkdir(parents=True)
    _report(folder / "gen_seed0.json", 5.0, 1.0)
    run = tmp_path / "runs" / "dn-v2-vpred"
    run.mkdir(parents=True)
    logs = [{"step": 100, "train/steps_per_second": 0.1}, {"step": 200, "val/loss": 1.0},
            {"step": 400, "train/steps_per_second": 0.05}]  # fmt: skip
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in logs))
    hours = fd_curve.training_hours(run / "metrics.jsonl")
    assert [s for s, _ in hours] == [100, 400]
    assert [h * 3600 for _, h in hours] == pytest.approx([1000, 7000])
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "fd_curve.py"), str(tmp_path / "reports"), "vpred",
         "--runs", str(tmp_path / "runs"), "--png", str(tmp_path / "c.png")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "| vpred | 400 | 1.94 | 5.000 ± - (1.000) |" in out
    assert (tmp_path / "c.png").stat().st_size > 0


def test_a_continued_run_counts_on_from_its_starting_point(tmp_path):
    """A run started from step 32's weights on another machine logs from 0: its points follow the
    earlier ones, in steps and in hours."""
    reports, run = tmp_path / "reports", tmp_path / "runs" / "dn-v2-flow"
    for step in (32, 48):
        folder = reports / "flow" / f"step-{step:08d}"
        folder.mkdir(parents=True)
        _report(folder / "gen_seed0.json", 5.0, 1.0)
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text(json.dumps({"step": 16, "train/steps_per_second": 16 / 3600}) + "\n")
    previous = tmp_path / "previous.json"
    previous.write_text(json.dumps({"flow": [{"step": 32, "hours": 1.5}]}))
    tool = [sys.executable, str(ROOT / "tools" / "fd_curve.py"), str(reports), "flow", "--runs",
            str(tmp_path / "runs"), "--previous", str(previous)]  # fmt: skip
    out = subprocess.run(tool + ["--continued", "flow=32"], capture_output=True, text=True, check=True).stdout
    assert "| flow | 32 | 1.50 |" in out and "| flow | 48 | 2.50 |" in out
    # without --continued the log's step 16 is no evaluated point: step 48 has no hours
    out = subprocess.run(tool, capture_output=True, text=True, check=True).stdout
    assert "| flow | 48 | - |" in out
    bad = subprocess.run(tool + ["--continued", "flow=16"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--previous has no hours for that step" in bad.stderr


def test_reference_row_and_ratios_of_the_last_point(tmp_path):
    """--reference: the bundled model's row, and each kind's last point over it per embedding."""
    reports = tmp_path / "reports"
    for folder, (c, f) in {"vpred/step-00000010": (9.0, 900.0), "vpred/step-00000020": (3.0, 1200.0),
                           "v1": (4.0, 1000.0)}.items():  # fmt: skip
        (reports / folder).mkdir(parents=True)
        _report(reports / folder / "gen_seed0.json", c, 1.0)
        _report(reports / folder / "gen_features_seed0.json", f, 50.0)
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "fd_curve.py"), str(reports), "vpred",
         "--reference", str(reports / "v1"), "--png", str(tmp_path / "c.png")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "| reference | - | - | 4.000 ± - (1.000) | 1000 ± - (50) | 1 / 1 |" in out
    assert "vpred step 20 / reference: classifier 0.750, features 1.200" in out
