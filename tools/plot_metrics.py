"""Plot a logged metric of one or more training runs against step, into a PNG.

Reads each run folder's ``metrics.jsonl`` (what the trainer logs beside TensorBoard), e.g. the
bundled VAE's validation mel L1 through its decoder run and the whole-VAE fine-tuning that
continued from it::

    .venv/bin/python tools/plot_metrics.py runs/autoencoder-decoder-wide runs/autoencoder-finetune \\
        --key val/mel_l1_db --offset 0 --offset 12000 --ylabel "val mel L1 (dB)" \\
        --out docs/images/vae_val_mel_l1.png

``--offset`` (once per run, in order) shifts a run's steps, so that a run that continued another
is drawn where that one stopped. The values are also printed as a table.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", type=Path, help="training run folders (or metrics.jsonl files)")
    parser.add_argument("--key", default="val/mel_l1_db", help="logged metric name [val/mel_l1_db]")
    parser.add_argument("--offset", type=int, action="append", default=None, help="step offset per run")
    parser.add_argument("--label", action="append", default=None, help="legend entry per run [folder name]")
    parser.add_argument("--ylabel", default=None, help="y-axis label [the key]")
    parser.add_argument("--out", type=Path, required=True, help="output PNG")
    args = parser.parse_args()

    from audiogen.evaluation.plotting import read_metric_curve, save_curves_png

    try:
        curves = [read_metric_curve(run, args.key) for run in args.runs]
        save_curves_png(args.out, curves, labels=args.label, step_offsets=args.offset, ylabel=args.ylabel)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    offsets = args.offset or [0] * len(curves)
    for curve, offset in zip(curves, offsets, strict=True):
        print(f"{curve.source}  ({args.key})")
        for step, value in zip(curve.steps, curve.values, strict=True):
            print(f"  step {step + offset:>7d}  {value:.4f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
