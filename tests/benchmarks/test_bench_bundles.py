"""benchmarks/bench_bundles.py: pipeline folders timed side by side, each at its own steps."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.pipelines.test_audiogen import write_tiny_pipeline

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "bench_bundles.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT)


def test_two_folders_give_one_row_each_and_the_ratio_to_the_first(tmp_path):
    a = write_tiny_pipeline(tmp_path / "a")
    b = write_tiny_pipeline(tmp_path / "b")
    out = tmp_path / "bench.json"
    done = _run(str(a), str(b), "--steps", "2", "4", "--seconds", "0.5", "--style", "",
                "--rounds", "2", "--warmup", "0", "--json", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [r["steps"] for r in rows] == [2, 4]
    assert all(0 < r["denoise"] <= r["total"] for r in rows)
    assert "/ first" in done.stdout and done.stdout.splitlines()[-2].rstrip().endswith("1.00")


def test_a_folder_without_model_index_is_one_line_error(tmp_path):
    done = _run(str(tmp_path), "--rounds", "1")
    assert done.returncode == 2 and "not a pipeline folder" in done.stderr
    assert "Traceback" not in done.stderr
