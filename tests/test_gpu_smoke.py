"""``tools/gpu_smoke.sh`` stops at once, with a clear message, where CUDA is not available."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_smoke_without_cuda_says_so(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHON": sys.executable}  # hides any GPU
    proc = subprocess.run(
        ["bash", str(ROOT / "tools" / "gpu_smoke.sh"), str(tmp_path / "smoke")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: tools/gpu_smoke.sh needs a CUDA GPU"), proc.stderr
    assert not (tmp_path / "smoke" / "report.md").exists()
