"""Add up ``benchmarks/check_editing.py`` reports: per setting and edit kind, style agreement and boundaries.

Usage::

    .venv/bin/python benchmarks/summarize_editing.py docs/reports/editing/*.json [--json summary.json]

Reports with the same setting (``--style-from``, ``--crossfade``, ``--harmonize``, ``--ramp``,
``--steps``, ``--no-match-level`` of the run; crop offsets and seeds are pooled) are added up. Per
setting and edit kind (extend, inpaint) it prints: edits, style agreement (kept vs new part),
boundaries within the clip's own 95th percentile, how many of the original recordings are within
theirs at the same places, the boundaries over the p95 where the original recording is *not* (a
seam the edit made, not a note onset on the cut), the boundaries with such a place anywhere across
their crossfade, the mean of boundary change / clip p95, and for extensions the level of the new
part (and of the recording's true continuation) against the input's last 3 s.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import median


@dataclass
class Totals:
    """Pooled counts of one setting and edit kind (see the module docstring)."""

    reports: int = 0
    edits: int = 0
    style_agree: int = 0
    boundaries: int = 0
    boundaries_ok: int = 0
    original_ok: int = 0
    over_where_original_ok: int = 0
    crossfade_seams: int = 0
    ratio_sum: float = 0.0
    level_changes: list = field(default_factory=list)
    original_level_changes: list = field(default_factory=list)

    @property
    def mean_ratio(self) -> float:
        return self.ratio_sum / max(1, self.boundaries)


def setting(args: dict) -> str:
    """The setting a report was run with (library defaults shown as ``default``)."""
    parts = {
        "style": args.get("style_from", "none"),
        "crossfade": args.get("crossfade"),
        "level": "off" if args.get("no_match_level", True) else "matched",  # reports before it: off
        "harmonize": args.get("harmonize"),
        "ramp": args.get("ramp"),
        "steps": args.get("steps"),
    }
    return " ".join(f"{k}={'default' if v is None else v}" for k, v in parts.items())


def summarize(paths: list[Path]) -> dict[tuple[str, str], Totals]:
    """Pool the reports at ``paths`` by (setting, edit kind).

    Raises:
        ValueError: a file that is not a check_editing report (names it).
    """
    totals: dict[tuple[str, str], Totals] = defaultdict(Totals)
    for path in paths:
        try:
            report = json.loads(Path(path).read_text())
            args, rows = report["args"], report["rows"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: not a benchmarks/check_editing.py report ({e})") from e
        key = setting(args)
        for kind in {r["edit"] for r in rows}:
            totals[(key, kind)].reports += 1
        for row in rows:
            t = totals[(key, row["edit"])]
            t.edits += 1
            t.style_agree += bool(row["agree"])
            originals = row.get("original_at_boundaries") or [None] * len(row["boundaries"])
            t.crossfade_seams += sum(bool(z) for z in row.get("seam_in_crossfade") or [])
            levels = row.get("levels") or {}
            if "new_minus_kept_db" in levels:
                t.level_changes.append(levels["new_minus_kept_db"])
            if "original_minus_kept_db" in levels:
                t.original_level_changes.append(levels["original_minus_kept_db"])
            for b, o in zip(row["boundaries"], originals, strict=True):
                t.boundaries += 1
                t.boundaries_ok += bool(b["ok"])
                t.ratio_sum += b["mel_change"] / b["clip_p95"]
                if o is not None:
                    t.original_ok += bool(o["ok"])
                    t.over_where_original_ok += (not b["ok"]) and bool(o["ok"])
    return dict(totals)


def _levels(t: Totals) -> str:
    """Median and mean absolute level change of the new part (and of the real continuation), dB."""
    parts = []
    for name, values in (("new", t.level_changes), ("real", t.original_level_changes)):
        if values:
            mean_abs = sum(abs(v) for v in values) / len(values)
            parts.append(f"{name} - kept level median {median(values):+.1f} dB, mean |.| {mean_abs:.1f}")
    return ("  " + "; ".join(parts)) if parts else ""


def main(argv: list[str] | None = None) -> None:
    """Print one line per setting and edit kind (and ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", type=Path, nargs="+")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        totals = summarize(args.reports)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    for (key, kind), t in sorted(totals.items()):
        print(
            f"{key:<48} {kind:<8} reports {t.reports:2d}  style {t.style_agree}/{t.edits} "
            f"({t.style_agree / max(1, t.edits):.1%})  boundaries ok {t.boundaries_ok}/{t.boundaries}  "
            f"original ok {t.original_ok}  over where original ok {t.over_where_original_ok}  "
            f"seams in the crossfade {t.crossfade_seams}  "
            f"mean change/p95 {t.mean_ratio:.3f}" + _levels(t)
        )
    if args.json is not None:
        payload = [
            {"setting": key, "edit": kind, **asdict(t), "mean_ratio": t.mean_ratio}
            for (key, kind), t in sorted(totals.items())
        ]
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
