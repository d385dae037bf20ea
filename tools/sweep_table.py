"""Collect the latent sweep's reports (``tools/latent_sweep.sh eval NAME``) into one table and JSON.

For each NAME: reconstruction of the held-out test pieces and of the Wesnoth tracks by VAE + vocoder
(mel L1 dB, MR-STFT, time gradient against the true mel's), the Wesnoth floor against real-vs-real
(style classifier and hand-made features), and the generated clips' FD (classifier, seeds 0 and 1000;
features, seed 0)::

    .venv/bin/python tools/sweep_table.py runs/sweep v1 64x4 64x2 80x2 --json docs/reports/sweep/sweep.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _fd(report: Path, row: str) -> float | None:
    """FD of one row (``generated``, ``reconstructed``, ``real_other_half``) of an eval generate report."""
    if not report.is_file():
        return None
    rows = json.loads(report.read_text())["rows"]
    return next(r["frechet_distance"] for r in rows if r["name"] == row)


def _recon(report: Path) -> dict | None:
    """VAE + vocoder scores of an eval reconstruct report, with the true mel's time gradient."""
    if not report.is_file():
        return None
    data = json.loads(report.read_text())
    vae = next(s for s in data["scores"] if s["method"] == "vae_vocoder")
    return {
        "mel_l1_db": vae["mel_l1_db"],
        "mrstft": vae["mrstft"],
        "time_gradient_db": data["sharpness"]["vae_vocoder"]["time_gradient_db"],
        "true_time_gradient_db": data["sharpness"]["true"]["time_gradient_db"],
        "griffin_lim_mrstft": next(s["mrstft"] for s in data["scores"] if s["method"] == "griffin_lim"),
    }


def collect(root: Path, name: str) -> dict:
    """Every number of one sweep entry (``None`` where its report is missing)."""
    r = root / name
    seeds = [_fd(r / f"gen_seed{s}.json", "generated") for s in (0, 1000)]
    return {
        "name": name,
        "recon_test": _recon(r / "recon_corpus.json"),
        "recon_wesnoth": _recon(r / "recon_wesnoth.json"),
        "generated_fd_classifier": {"seed0": seeds[0], "seed1000": seeds[1]},
        "generated_fd_classifier_mean": sum(seeds) / 2 if None not in seeds else None,
        "floor_test_classifier": _fd(r / "gen_seed0.json", "reconstructed"),
        "generated_fd_features": _fd(r / "gen_features_seed0.json", "generated"),
        "floor_test_features": _fd(r / "gen_features_seed0.json", "reconstructed"),
        "wesnoth_floor_classifier": _fd(r / "floor_wesnoth.json", "reconstructed"),
        "wesnoth_real_classifier": _fd(r / "floor_wesnoth.json", "real_other_half"),
        "wesnoth_floor_features": _fd(r / "floor_wesnoth_features.json", "reconstructed"),
        "wesnoth_real_features": _fd(r / "floor_wesnoth_features.json", "real_other_half"),
    }


def _f(x: float | None, digits: int = 3) -> str:
    """``x`` with ``digits`` decimals, ``-`` for a missing number."""
    return "-" if x is None else f"{x:.{digits}f}"


def main() -> None:
    """Print the Markdown table of the named entries; with ``--json``, write every number."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("root", type=Path, help="reports folder (REPORTS of latent_sweep.sh)")
    parser.add_argument("names", nargs="+", help="sweep entries, e.g. v1 64x4 64x2 80x2")
    parser.add_argument("--json", type=Path, default=None, help="also write every number here")
    args = parser.parse_args()
    entries = [collect(args.root, n) for n in args.names]
    print("| latent | test: mel L1 dB / MR-STFT / time grad | Wesnoth: mel L1 dB / MR-STFT / time grad "
          "| Wesnoth floor / real (classifier; features) "
          "| generated FD, classifier: seed 0 / 1000 / mean (floor) "
          "| generated FD, features (floor) |")
    print("|---|---|---|---|---|---|")
    for e in entries:
        t, w = e["recon_test"] or {}, e["recon_wesnoth"] or {}
        g = e["generated_fd_classifier"]
        print(
            f"| {e['name']} | {_f(t.get('mel_l1_db'))} / {_f(t.get('mrstft'), 4)} "
            f"/ {_f(t.get('time_gradient_db'))} "
            f"| {_f(w.get('mel_l1_db'))} / {_f(w.get('mrstft'), 4)} / {_f(w.get('time_gradient_db'))} "
            f"| {_f(e['wesnoth_floor_classifier'], 2)} / {_f(e['wesnoth_real_classifier'], 2)}; "
            f"{_f(e['wesnoth_floor_features'], 0)} / {_f(e['wesnoth_real_features'], 0)} "
            f"| {_f(g['seed0'])} / {_f(g['seed1000'])} / {_f(e['generated_fd_classifier_mean'])} "
            f"({_f(e['floor_test_classifier'])}) "
            f"| {_f(e['generated_fd_features'], 0)} ({_f(e['floor_test_features'], 0)}) |"
        )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(entries, indent=1) + "\n")


if __name__ == "__main__":
    main()
