"""The denoiser's FD-vs-training curve of model v2 (``tools/model_v2.sh fd KIND STEP`` reports).

For each KIND (``vpred``, ``flow``) and each evaluated checkpoint: the generated clips' FD on the
held-out test pieces in the style classifier's embedding and in hand-made features, per seed
(0 / 1000 / 2000 / 3000), their mean and spread, and the floor (VAE + vocoder reconstructions)::

    .venv/bin/python tools/fd_curve.py runs/v2 vpred flow --json docs/reports/v2/fd_curve.json \\
        --png docs/images/v2_fd_curve.png
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

SEEDS = (0, 1000, 2000, 3000)
EMBEDDINGS = {"classifier": "gen_seed{}.json", "features": "gen_features_seed{}.json"}


def _rows(report: Path) -> dict[str, float] | None:
    """``{row name: FD}`` of an ``eval generate`` report, ``None`` when it is missing."""
    if not report.is_file():
        return None
    return {r["name"]: r["frechet_distance"] for r in json.loads(report.read_text())["rows"]}


def collect(folder: Path) -> dict:
    """Per embedding: FD per seed, mean, sample standard deviation and floor of one checkpoint."""
    out: dict = {"step": int(folder.name.removeprefix("step-"))}
    for name, pattern in EMBEDDINGS.items():
        rows = [_rows(folder / pattern.format(s)) for s in SEEDS]
        fds = [r["generated"] for r in rows if r is not None]
        floors = [r["reconstructed"] for r in rows if r is not None and "reconstructed" in r]
        out[name] = {
            "seeds": [s for s, r in zip(SEEDS, rows, strict=True) if r is not None],
            "fd": fds,
            "mean": statistics.fmean(fds) if fds else None,
            "std": statistics.stdev(fds) if len(fds) > 1 else None,
            "floor": statistics.fmean(floors) if floors else None,
        }
    return out


def curve(root: Path, kind: str) -> list[dict]:
    """Every evaluated checkpoint of ``kind``, in training order."""
    return sorted((collect(p) for p in (root / kind).glob("step-*") if p.is_dir()), key=lambda e: e["step"])


def _f(x: float | None, digits: int) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def plot(curves: dict[str, list[dict]], path: Path) -> None:
    """FD (mean over seeds, bars: one standard deviation) against the step, one panel per embedding."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(EMBEDDINGS), figsize=(9, 3.2))
    for ax, name in zip(axes, EMBEDDINGS, strict=True):
        for kind, points in curves.items():
            pts = [p for p in points if p[name]["mean"] is not None]
            ax.errorbar(
                [p["step"] for p in pts],
                [p[name]["mean"] for p in pts],
                yerr=[p[name]["std"] or 0.0 for p in pts],
                marker="o",
                capsize=3,
                label=kind,
            )
        ax.set_title(f"generated FD, {name} (4 seeds)")
        ax.set_xlabel("denoiser step")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)


def main() -> None:
    """Print the Markdown table; with ``--json`` / ``--png``, write every number / the curve."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("root", type=Path, help="reports folder (REPORTS of model_v2.sh)")
    parser.add_argument("kinds", nargs="+", help="denoiser runs, e.g. vpred flow")
    parser.add_argument("--json", type=Path, default=None, help="also write every number here")
    parser.add_argument("--png", type=Path, default=None, help="also draw the curve here")
    args = parser.parse_args()
    curves = {k: curve(args.root, k) for k in args.kinds}
    print("| denoiser | step | FD classifier: mean ± std (floor) | FD features: mean ± std (floor) | seeds |")
    print("|---|---:|---|---|---:|")
    for kind, points in curves.items():
        for p in points:
            c, f = p["classifier"], p["features"]
            print(
                f"| {kind} | {p['step']} | {_f(c['mean'], 3)} ± {_f(c['std'], 3)} ({_f(c['floor'], 3)}) "
                f"| {_f(f['mean'], 0)} ± {_f(f['std'], 0)} ({_f(f['floor'], 0)}) "
                f"| {len(c['fd'])} / {len(f['fd'])} |"
            )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(curves, indent=1) + "\n")
    if args.png is not None:
        plot(curves, args.png)


if __name__ == "__main__":
    main()
