"""benchmarks/floor_diagnostics.py: the floor split into VAE + vocoder and the vocoder alone."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import torch

from tests.cli.test_eval_generate import write_style_manifest, write_tiny_pipeline

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    path = ROOT / "benchmarks" / "floor_diagnostics.py"
    spec = importlib.util.spec_from_file_location("floor_diagnostics", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_vocoder_row_does_not_depend_on_the_autoencoder(tmp_path, capsys):
    manifest = write_style_manifest(tmp_path / "data", test_per_style=4)
    a = write_tiny_pipeline(tmp_path / "a", with_classifier=True)
    b = tmp_path / "b"
    shutil.copytree(a, b)
    from audiogen.hub import load_model

    vae = load_model(b, "autoencoder", "cpu")
    with torch.no_grad():  # another autoencoder, the same vocoder
        for p in vae.parameters():
            p.add_(0.5 * torch.randn_like(p))
    vae.save_pretrained(b / "autoencoder")

    out = tmp_path / "report.json"
    args = [manifest, a, b, "--crops-per-file", 2, "--shifts", 3, "--json", out]
    _tool().main([str(x) for x in args])
    rows = {r["name"]: r for r in json.loads(out.read_text())["rows"]}
    fd = {name: r["frechet_distance"] for name, r in rows.items()}
    assert len(fd) == 5 and all(v >= 0 for v in fd.values())
    assert fd[f"{a}: vocoder on the true mel"] == fd[f"{b}: vocoder on the true mel"]
    assert fd[f"{a}: VAE + vocoder"] != fd[f"{b}: VAE + vocoder"]
    assert len(rows[f"{a}: VAE + vocoder"]["largest_mean_shifts"]) == 3
    assert rows["real: other half (half B)"]["largest_mean_shifts"] == []
    assert "vocoder on the true mel" in capsys.readouterr().out
