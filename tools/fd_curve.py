"""The denoiser's FD-vs-training curve of model v2 (``tools/model_v2.sh fd KIND STEP`` reports).

For each KIND (``vpred``, ``flow``) and each evaluated checkpoint: the generated clips' FD on the
held-out test pieces in the style classifier's embedding and in hand-made features, per seed
(0 / 1000 / 2000 / 3000), their mean and spread, and the floor (VAE + vocoder reconstructions)::

    .venv/bin/python tools/fd_curve.py runs/v2 vpred flow --json docs/reports/v2/fd_curve.json \\
        --png docs/images/v2_fd_curve.png --runs runs

With ``--runs RUNS`` each checkpoint also gets its hours of training, read from the run's own log
(``RUNS/dn-v2-KIND/metrics.jsonl``: the sum of each logging interval's steps over its logged
``train/steps_per_second``; validation and checkpoint writing excluded), and the curve is drawn
against them. A run continued on another machine from a checkpoint's weights
(``INIT=... DN_FROM=STEP tools/model_v2.sh dn KIND``) logs its steps from 0 again: ``--continued
KIND=STEP`` counts them on from STEP, and its hours on from that point's hours in ``--previous``
(this tool's earlier ``--json``), which also gives the earlier points their hours.

With ``--reference DIR`` (the bundled model's reports, ``tools/model_v2.sh fd v1``) the table ends
with its row and, per KIND, the ratio of the last point's mean FD to the reference's in each
embedding (the rebundling rule's first condition: both below 1); the plot draws it as a dashed line.
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
    step = folder.name.removeprefix("step-")  # a reference folder (e.g. ``v1``) has no step
    out: dict = {"step": int(step) if step.isdigit() else None}
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


def training_hours(metrics: Path) -> list[tuple[int, float]]:
    """``(step, hours of training up to it)`` at every logged step of a run's ``metrics.jsonl``."""
    out, hours, last = [], 0.0, 0
    for line in metrics.read_text().splitlines():
        row = json.loads(line)
        rate = row.get("train/steps_per_second")
        if rate:
            hours += (row["step"] - last) / rate / 3600
            last = row["step"]
            out.append((last, hours))
    return out


def add_hours(points: list[dict], metrics: Path, start_step: int = 0, start_hours: float = 0.0) -> None:
    """Set each point's ``hours`` from ``metrics``, a run whose step 0 is ``start_step`` after
    ``start_hours`` of training; a point the log does not reach keeps its ``hours`` (or ``None``)."""
    log = training_hours(metrics) if metrics.is_file() else []
    logged = {start_step + s: start_hours + h for s, h in log}
    for p in points:
        p["hours"] = logged.get(p["step"], p.get("hours"))


def continued_from(text: str) -> tuple[str, int]:
    """``KIND=STEP`` of ``--continued`` as ``(kind, step)``."""
    kind, sep, step = text.partition("=")
    if not sep or not step.isdigit():
        raise argparse.ArgumentTypeError(f"--continued: expected KIND=STEP, got '{text}'")
    return kind, int(step)


def ratios_to(point: dict, reference: dict) -> dict[str, float | None]:
    """Per embedding, ``point``'s mean FD over ``reference``'s (``None`` where either is missing)."""
    out: dict[str, float | None] = {}
    for name in EMBEDDINGS:
        a, b = point[name]["mean"], reference[name]["mean"]
        out[name] = a / b if a is not None and b else None
    return out


def _f(x: float | None, digits: int) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _row(label: str, p: dict) -> str:
    """One Markdown table row of a ``collect`` result."""
    c, f = p["classifier"], p["features"]
    step = "-" if p["step"] is None else p["step"]
    return (
        f"| {label} | {step} | {_f(p.get('hours'), 2)} "
        f"| {_f(c['mean'], 3)} ± {_f(c['std'], 3)} ({_f(c['floor'], 3)}) "
        f"| {_f(f['mean'], 0)} ± {_f(f['std'], 0)} ({_f(f['floor'], 0)}) "
        f"| {len(c['fd'])} / {len(f['fd'])} |"
    )


def plot(curves: dict[str, list[dict]], path: Path, reference: dict | None = None) -> None:
    """FD (mean over seeds, bars: one standard deviation) against the hours of training where every
    point has them, else against the step; one panel per embedding; ``reference`` (a ``collect``
    result) as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = all(p.get("hours") is not None for points in curves.values() for p in points)
    x = "hours" if hours else "step"
    fig, axes = plt.subplots(1, len(EMBEDDINGS), figsize=(9, 3.2))
    for ax, name in zip(axes, EMBEDDINGS, strict=True):
        for kind, points in curves.items():
            pts = [p for p in points if p[name]["mean"] is not None]
            ax.errorbar(
                [p[x] for p in pts],
                [p[name]["mean"] for p in pts],
                yerr=[p[name]["std"] or 0.0 for p in pts],
                marker="o",
                capsize=3,
                label=kind,
            )
        if reference is not None and reference[name]["mean"] is not None:
            ax.axhline(reference[name]["mean"], color="gray", linestyle="--", label="bundled (v1)")
        ax.set_title(f"generated FD, {name} (4 seeds)")
        ax.set_xlabel("hours of training (one CPU thread)" if hours else "denoiser step")
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
    parser.add_argument("--runs", type=Path, default=None, help="RUNS of model_v2.sh: hours of training")
    parser.add_argument("--previous", type=Path, default=None, help="an earlier --json: hours the logs lack")
    parser.add_argument(
        "--continued", type=continued_from, action="append", default=[], metavar="KIND=STEP",
        help="the run of KIND in RUNS went on from the weights of step STEP (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--reference", type=Path, default=None,
        help="the bundled model's reports (model_v2.sh fd v1): its row and the ratios to it",
    )  # fmt: skip
    args = parser.parse_args()
    reference = collect(args.reference) if args.reference is not None else None
    curves = {k: curve(args.root, k) for k in args.kinds}
    previous = json.loads(args.previous.read_text()) if args.previous is not None else {}
    continued = dict(args.continued)
    for kind, points in curves.items():
        prior = {p["step"]: p.get("hours") for p in previous.get(kind, [])}
        for p in points:
            p["hours"] = prior.get(p["step"])
        start = continued.get(kind, 0)
        if start and prior.get(start) is None:
            parser.error(f"--continued {kind}={start}: --previous has no hours for that step")
        if args.runs is not None:
            add_hours(points, args.runs / f"dn-v2-{kind}" / "metrics.jsonl", start, prior.get(start) or 0.0)
    head = "| denoiser | step | hours | FD classifier: mean ± std (floor) | FD features: mean ± std (floor) |"
    print(head + " seeds |")
    print("|---|---:|---:|---|---|---:|")
    for kind, points in curves.items():
        for p in points:
            print(_row(kind, p))
    if reference is not None:
        print(_row("reference", reference))
        for kind, points in curves.items():
            if points:
                ratios = ratios_to(points[-1], reference)
                text = ", ".join(f"{k} {_f(r, 3)}" for k, r in ratios.items())
                print(f"{kind} step {points[-1]['step']} / reference: {text}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(curves, indent=1) + "\n")
    if args.png is not None:
        plot(curves, args.png, reference)


if __name__ == "__main__":
    main()
