"""Training-step cost of LoRA vs full fine-tuning of the bundled denoiser: time, trainable parameters, memory.

Builds the bundled denoiser (its saved weights) twice: one trains every weight, the other carries a
peft LoRA adapter (``--rank``, the default targets of :mod:`audiogen.models.lora`) and trains only
it. Times a training step (forward, backward, AdamW step) on ``--batch`` latents of ``--frames``
latent frames, the two interleaved in one process, after ``--warmup`` steps; prints the median
seconds per step, the trainable parameters and the AdamW state each needs. ``--mode full`` or
``--mode lora`` runs one of them alone, for a process-level peak-memory reading with
``/usr/bin/time -v`` (its "Maximum resident set size")::

    .venv/bin/python benchmarks/bench_lora.py --rank 8 --batch 16 --frames 44 --repeats 20
    /usr/bin/time -v .venv/bin/python benchmarks/bench_lora.py --mode full --repeats 20
    /usr/bin/time -v .venv/bin/python benchmarks/bench_lora.py --mode lora --repeats 20
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def main(argv: list[str] | None = None) -> None:
    """Command-line entry (see the module docstring)."""
    from audiogen.models.denoiser import LatentDenoiser
    from audiogen.models.lora import attach_for_training, lora_config
    from audiogen.pipelines.audiogen import default_model_dir

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=("both", "full", "lora"), default="both")
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=44, help="latent frames (44 = 2 s)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    folder = default_model_dir() / "denoiser"
    models = {}
    for mode in ("full", "lora") if args.mode == "both" else (args.mode,):
        model = LatentDenoiser.from_pretrained(folder).train()
        if mode == "lora":
            attach_for_training(model, lora_config(args.rank), [])
        params = [p for p in model.parameters() if p.requires_grad]
        models[mode] = (model, params, torch.optim.AdamW(params, lr=1e-4))
    x = torch.randn(args.batch, 64, args.frames)
    t = torch.randint(0, 1000, (args.batch,))
    labels = torch.randint(0, 7, (args.batch,))

    times: dict[str, list[float]] = {m: [] for m in models}
    for i in range(args.warmup + args.repeats):
        for mode, (model, _, optimizer) in models.items():
            start = time.perf_counter()
            model(x, t, labels).square().mean().backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if i >= args.warmup:
                times[mode].append(time.perf_counter() - start)
    print(f"denoiser {folder}, batch {args.batch} x {args.frames} latent frames, {args.threads} thread(s), "
          f"median of {args.repeats}")
    for mode, (model, params, _) in models.items():
        n = sum(p.numel() for p in params)
        total = sum(p.numel() for p in model.parameters())
        ms = statistics.median(times[mode]) * 1000
        print(f"  {mode:5s} {ms:8.1f} ms/step   trainable {n:,} of {total:,} parameters; "
              f"AdamW state {2 * n * 4 / 2**20:.2f} MiB, gradients {n * 4 / 2**20:.2f} MiB")
    if len(models) == 2:
        ratio = statistics.median(times["lora"]) / statistics.median(times["full"])
        print(f"  LoRA / full step time: {ratio:.2f}")


if __name__ == "__main__":
    main()
