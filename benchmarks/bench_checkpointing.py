"""Cost of the latent denoiser's gradient checkpointing: training-step time (and peak GPU memory on CUDA).

Builds the bundled model's denoiser (random weights; speed does not depend on them), and times a
forward + backward pass of ``--batch`` latents of ``--frames`` latent frames with and without
``enable_gradient_checkpointing()``, interleaved in the same process, after ``--warmup`` passes.
Prints the median seconds per step of each and their ratio; on CUDA also the peak allocated
memory of each. Example::

    .venv/bin/python benchmarks/bench_checkpointing.py --batch 16 --frames 44 --repeats 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> None:
    """Command-line entry (see the module docstring)."""
    from audiogen.models.denoiser import DiffusionConfig, LatentDenoiser
    from audiogen.pipelines.audiogen import default_model_dir

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=44, help="latent frames (44 = 2 s)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config_path = Path(default_model_dir()) / "denoiser" / "config.json"
    fields = json.loads(config_path.read_text())["config"]
    model = LatentDenoiser(DiffusionConfig(**fields)).to(args.device).train()
    x = torch.randn(args.batch, model.config.latent_dim, args.frames, device=args.device)
    t = torch.randint(0, 1000, (args.batch,), device=args.device)

    def step() -> float:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        model(x, t).square().mean().backward()
        model.zero_grad(set_to_none=True)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - start

    times: dict[bool, list[float]] = {False: [], True: []}
    memory: dict[bool, int] = {}
    for i in range(args.warmup + args.repeats):
        for checkpointing in (False, True):
            model.enable_gradient_checkpointing(checkpointing)
            if args.device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            seconds = step()
            if args.device.startswith("cuda"):
                memory[checkpointing] = torch.cuda.max_memory_allocated()
            if i >= args.warmup:
                times[checkpointing].append(seconds)
    plain, ckpt = statistics.median(times[False]), statistics.median(times[True])
    print(f"denoiser {config_path.parent}, batch {args.batch} x {args.frames} latent frames, {args.device}, "
          f"{args.threads} threads, median of {args.repeats}")
    print(f"  plain                  {plain * 1000:8.1f} ms/step")
    print(f"  gradient checkpointing {ckpt * 1000:8.1f} ms/step   ({ckpt / plain:.2f}x the time)")
    if memory:
        plain_mib, ckpt_mib = memory[False] / 2**20, memory[True] / 2**20
        ratio = ckpt_mib / plain_mib
        print(f"  peak memory: plain {plain_mib:.0f} MiB, checkpointing {ckpt_mib:.0f} MiB ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
