"""Seam check of seamless loops from a pipeline (default: the bundled model).

For each (seed, bars, bpm, style) case it renders ``pipe.loop(..., repeat=2)`` and prints the exact
length and :func:`audiogen.evaluation.boundaries.seam_report`: the log-mel frame change across the seam (end
joined to start, and the joint between the two repeats) against the 95th percentile of the same
change within the loop, and the sample step across the seam against the largest step within::

    .venv/bin/python benchmarks/check_loops.py [--checkpoint DIR] [--interior N]

``--interior N`` also measures the seam quantity at ``N`` random places inside each loop, analysed
exactly as the seam is: one copy is rolled by a whole number of hops so that the joint falls on
that place. It prints the seam's rank among them (a seamless loop's seam ranks anywhere, at
random; a seam that stands out ranks at the top).
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
    parser.add_argument(
        "--interior", type=int, default=0, help="also rank the seam among N interior places (default 0: off)"
    )
    args = parser.parse_args()

    import torch

    from audiogen.evaluation.boundaries import seam_report
    from audiogen.pipelines.audiogen import load_pretrained
    from audiogen.pipelines.loop import loop_samples

    pipe = load_pretrained(args.checkpoint, device="cpu")
    passed = 0
    for seed, bars, bpm, style in CASES:
        exact = loop_samples(bars, bpm, pipe.mel_config.sample_rate)
        result = pipe.loop(samples=exact, repeat=2, seed=seed, style=style, progress=False)
        report = seam_report(result.waveforms[0], pipe.mel_config, period_samples=result.loop_samples)
        passed += report.ok
        rank = ""
        if args.interior:
            one = result.waveforms[0][..., : result.loop_samples]
            hop, frames = pipe.mel_config.hop_length, result.loop_samples // pipe.mel_config.hop_length
            shifts = torch.randint(1, frames, (args.interior,), generator=torch.Generator().manual_seed(seed))
            inside = torch.tensor(
                [
                    seam_report(torch.roll(one, k * hop, -1), pipe.mel_config).seam_mel_change
                    for k in shifts.tolist()
                ]
            )
            seam = seam_report(one, pipe.mel_config).seam_mel_change
            rank = (
                f" | seam ranks {(inside < seam).float().mean():.2f} among {args.interior} interior places "
                f"(their median {inside.median():.3f}, p95 {inside.quantile(0.95):.3f})"
            )
        print(
            f"seed {seed} {bars} bars @ {bpm} bpm {style:8s} samples {result.loop_samples} (exact {exact}) | "
            f"seam mel change {report.seam_mel_change:.3f} vs within p95 {report.within_mel_p95:.3f} "
            f"({'ok' if report.mel_ok else 'over'}) | seam sample step {report.seam_sample_step:.4f} vs "
            f"within max {report.within_max_sample_step:.4f} ({'ok' if report.sample_ok else 'over'}){rank}"
        )
    print(f"{passed} of {len(CASES)} loops pass both seam criteria")


if __name__ == "__main__":
    main()
