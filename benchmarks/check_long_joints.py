"""Vocoder chunk joints of a long generation: chunked vs one-piece vocoding at the same places.

Usage::

    .venv/bin/python benchmarks/check_long_joints.py --seconds 60 --style strings --seed 2

Generates one clip with :class:`~audiogen.pipelines.audiogen.AudioGenPipeline` (windowed above
one 10 s window, as ``audiogen generate``), then vocodes its decoded mel twice, in chunks
(:func:`audiogen.pipelines.windows.vocode_chunked`, what the command writes) and in one piece, and
prints the log-mel change at each chunk joint against the clip's own 95th percentile for both
(:func:`audiogen.evaluation.boundaries.boundary_report`): a joint that stands out in both is the music
changing there, one that stands out only when chunked is the joint.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    """Run the check and print two lines."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="pipeline folder (default: bundled)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--style", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from audiogen.evaluation.boundaries import boundary_report
    from audiogen.pipelines.audiogen import load_pretrained
    from audiogen.pipelines.windows import vocode_chunked

    pipe = load_pretrained(args.checkpoint, device="cpu")
    result = pipe(args.seconds, seed=args.seed, steps=args.steps, style=args.style, progress=False)
    with torch.no_grad():
        whole = pipe.vocoder(result.mels)[..., : result.num_samples]
        chunked, joints = vocode_chunked(pipe, result.mels)
    marks = [("vocoder", j) for j in joints if 0 < j < result.num_samples]
    for name, wave in (
        ("chunked (as generate writes it)", chunked[..., : result.num_samples]),
        ("one piece", whole),
    ):
        stats = boundary_report(wave[0], pipe.mel_config, marks)
        print(f"{name}: " + ", ".join(
            f"{s.seconds:.3f} s {s.mel_change:.3f}/{s.clip_p95:.3f}{'' if s.ok else ' OVER'}" for s in stats
        ))  # fmt: skip


if __name__ == "__main__":
    main()
