"""Seam check of seamless loops from a pipeline (default: the bundled model).

For each (seed, bars, bpm, style) case it renders ``pipe.loop(..., repeat=2)`` and prints the exact
length and :func:`audiogen.loops.seam_report`: the log-mel frame change across the seam (end
joined to start, and the joint between the two repeats) against the 95th percentile of the same
change within the loop, and the sample step across the seam against the largest step within::

    .venv/bin/python tools/check_loops.py [--checkpoint DIR]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

CASES = [
    (0, 2, 120, "strings"),
    (1, 3, 97, "piano"),
    (2, 4, 140, "organ"),
    (3, 1, 90, "flute"),
    (4, 2, 75, "choir"),
    (5, 2, 128, "guitar"),
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default=None, help="pipeline folder (default: the bundled model)")
    args = parser.parse_args()

    from audiogen.loops import loop_samples, seam_report
    from audiogen.pipeline import load_pretrained

    pipe = load_pretrained(args.checkpoint, device="cpu")
    passed = 0
    for seed, bars, bpm, style in CASES:
        exact = loop_samples(bars, bpm, pipe.mel_config.sample_rate)
        result = pipe.loop(samples=exact, repeat=2, seed=seed, style=style, progress=False)
        report = seam_report(result.waveforms[0], pipe.mel_config, period_samples=result.loop_samples)
        passed += report.ok
        print(
            f"seed {seed} {bars} bars @ {bpm} bpm {style:8s} samples {result.loop_samples} (exact {exact}) | "
            f"seam mel change {report.seam_mel_change:.3f} vs within p95 {report.within_mel_p95:.3f} "
            f"({'ok' if report.mel_ok else 'over'}) | seam sample step {report.seam_sample_step:.4f} vs "
            f"within max {report.within_max_sample_step:.4f} ({'ok' if report.sample_ok else 'over'})"
        )
    print(f"{passed} of {len(CASES)} loops pass both seam criteria")


if __name__ == "__main__":
    main()
