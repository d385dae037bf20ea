"""Two or more pipeline folders side by side: time for a 10 s clip, each at its own sampler steps.

Usage::

    tools/v1_bundle.sh runs/bundle-v1
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_bundles.py audiogen/assets/default runs/bundle-v1 \\
        --threads 1 --rounds 7

Every folder is loaded once in this process; then ``--rounds`` rounds each generate one clip with
every folder in turn (style ``--style``, each folder's own default steps and CFG scale unless
``--steps`` gives one count per folder), so load on the machine falls on all of them alike. After
``--warmup`` rounds, the median wall time per stage (denoise, decode, vocode, total) is printed per
folder, with each folder's total as a ratio to the first folder's (below 1: faster than the first).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

# bench_generate (beside this script) puts this checkout's audiogen first on the path and sets
# OMP_WAIT_POLICY=PASSIVE before torch is imported; its STAGES are the timings' keys
from bench_generate import STAGES


def main() -> None:
    """Parse arguments, time every folder round by round and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folders", type=Path, nargs="+", help="pipeline folders (the first is the reference)")
    parser.add_argument("--steps", type=int, nargs="*", default=None,
                        help="sampler steps, one per folder (default: each folder's own)")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--style", default="choir", help="style label ('': unconditional)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    if args.steps is not None and len(args.steps) != len(args.folders):
        parser.error(f"--steps: give one count per folder ({len(args.folders)}), got {len(args.steps)}")
    for folder in args.folders:
        if not (folder / "model_index.json").is_file():
            parser.error(f"{folder}: not a pipeline folder (no model_index.json)")

    import torch

    from audiogen.pipelines import load_pretrained

    torch.set_num_threads(args.threads)
    pipes = [load_pretrained(folder, device="cpu") for folder in args.folders]
    steps = args.steps or [pipe.steps for pipe in pipes]
    style = args.style or None
    runs: list[list[dict[str, float]]] = [[] for _ in pipes]
    for r in range(args.warmup + args.rounds):
        for k, pipe in enumerate(pipes):
            result = pipe(args.seconds, num=1, seed=r, steps=steps[k], style=style, progress=False)
            if r >= args.warmup:
                runs[k].append(result.timings.to_dict())
    medians = [{stage: statistics.median(run[stage] for run in rs) for stage in STAGES} for rs in runs]

    print(f"{args.seconds:g} s clip, style {args.style}, {args.threads} thread(s), median of {args.rounds} "
          f"rounds after {args.warmup}, folders interleaved")  # fmt: skip
    header = f"{'folder':<32}{'steps':>6}" + "".join(f"{s + ' (s)':>12}" for s in STAGES)
    print(header + f"{'x realtime':>12}{'/ first':>9}")
    for folder, k, m in zip(args.folders, steps, medians, strict=True):
        ratio = m["total"] / medians[0]["total"]
        print(f"{str(folder):<32}{k:>6}" + "".join(f"{m[s]:>12.3f}" for s in STAGES)
              + f"{args.seconds / m['total']:>12.1f}{ratio:>9.2f}")  # fmt: skip
    if args.json:
        rows = [
            {"folder": str(f), "steps": k, **m} for f, k, m in zip(args.folders, steps, medians, strict=True)
        ]
        report = {"seconds": args.seconds, "threads": args.threads, "style": args.style, "rows": rows}
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
