"""Streaming speed and memory: ``benchmarks/bench_generate.py --stream ...`` runs this.

Usage::

    .venv/bin/python benchmarks/bench_generate.py --stream 30 --threads 2
    .venv/bin/python benchmarks/bench_generate.py --stream 30 --stream-context 108,216 \\
        --stream-head-steps 2,4,8
    .venv/bin/python benchmarks/bench_generate.py --stream-memory 60,600 --threads 2

Speed (``--stream SECONDS``): the bundled pipeline's VAE decoder and vocoder with a sequence model
(``--sequence DIR``, else randomly initialised at the size of ``recipes/sequence.yaml``: speed does
not depend on the weights), loaded first; then, per context length and head step count, one warm-up
stream of 3 s and one timed stream of ``SECONDS`` seconds (style: the first label). Reported: time
to first audio (from the call to the first waveform chunk, the model already loaded), the
real-time factor of the whole stream (sequence model + chunked decoder + chunked vocoder:
audio seconds per wall second, > 1 is faster than real time) and of the sequence model alone.

Memory (``--stream-memory S1,S2``): a fresh process per length streams that many seconds (the
chunks are dropped as a player would) and reports its peak resident memory (``ru_maxrss``) and
after loading only; the last line gives the ratio of the longest to the shortest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def random_sequence_model(pipe, context_frames: int | None = None, head_steps: int | None = None):
    """A randomly initialised sequence model of ``recipes/sequence.yaml``'s size for ``pipe``'s latent."""
    from audiogen.config import from_dict, load_recipe
    from audiogen.models.sequence import LatentSequenceModel, SequenceConfig

    recipe = load_recipe(ROOT / "recipes" / "sequence.yaml")
    labels = tuple(recipe["data"]["labels"])
    section = {**recipe["model"], "latent_dim": pipe.autoencoder.latent_dim, "num_classes": len(labels)}
    section["class_labels"] = labels
    if context_frames:
        section["context_frames"] = context_frames
    if head_steps:
        section["head_steps"] = head_steps
    torch.manual_seed(0)
    return LatentSequenceModel(from_dict(SequenceConfig, section)).eval()


def _load(args):
    from audiogen.pipelines import load_pretrained
    from audiogen.pipelines.stream import load_sequence_model

    pipe = load_pretrained(args.checkpoint, device="cpu")
    if args.sequence is not None:
        return pipe, load_sequence_model(args.sequence), f"sequence model {args.sequence}"
    return pipe, random_sequence_model(pipe), "RANDOM sequence model of recipes/sequence.yaml's size"


def _peak_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_stream(pipe, model, seconds: float, head_steps: int | None) -> dict:
    """Time to first audio and real-time factors of one stream of ``seconds``."""
    from audiogen.pipelines.stream_latent import latent_stream, parse_schedule

    style = (model.config.class_labels or [None])[0]
    list(pipe.stream(style=style, seconds=3.0, seed=1, sequence=model, head_steps=head_steps))  # warm-up
    start = time.perf_counter()
    chunks = pipe.stream(style=style, seconds=seconds, seed=0, sequence=model, head_steps=head_steps)
    first = None
    samples = 0
    for chunk in chunks:
        if first is None:
            first = time.perf_counter() - start
        samples += chunk.shape[-1]
    total = time.perf_counter() - start
    steps = round(seconds * pipe.sample_rate / pipe.samples_per_latent_frame / model.config.frames_per_step)
    frame_rate = pipe.sample_rate / pipe.hop_length / pipe.time_downsample
    tokens = latent_stream(model, parse_schedule(style, list(model.config.class_labels or [])),
                           head_steps=head_steps, frame_rate=frame_rate)  # fmt: skip
    t0 = time.perf_counter()
    for _ in islice(tokens, steps):
        pass
    latent_only = time.perf_counter() - t0
    audio = samples / pipe.sample_rate
    return {
        "seconds": audio,
        "first_audio_s": first,
        "wall_s": total,
        "x_realtime": audio / total,
        "sequence_x_realtime": audio / latent_only,
    }


def speed(args) -> None:
    pipe, model, source = _load(args)
    contexts = [int(x) for x in args.stream_context.split(",")] if args.stream_context else [None]
    steps_list = [int(x) for x in args.stream_head_steps.split(",")] if args.stream_head_steps else [None]
    print(f"model: {source}; bundled decoder and vocoder")
    print(
        f"  {args.threads} threads, load average {os.getloadavg()[0]:.1f}, {args.stream:g} s stream, "
        f"one warm-up stream of 3 s first"
    )
    print(
        f"{'context (frames)':>17}{'head steps':>11}{'first audio (s)':>16}{'x realtime':>12}"
        f"{'model only':>12}"
    )
    rows = []
    for context in contexts:
        if args.sequence is None:
            model = random_sequence_model(pipe, context)
        for steps in steps_list:
            row = time_stream(pipe, model, args.stream, steps)
            row |= {
                "context_frames": model.config.context_frames,
                "head_steps": steps or model.config.head_steps,
            }
            rows.append(row)
            print(
                f"{row['context_frames']:>17}{row['head_steps']:>11}{row['first_audio_s']:>16.3f}"
                f"{row['x_realtime']:>12.2f}{row['sequence_x_realtime']:>12.2f}"
            )
    # the same load's yardstick: one 10 s clip of `audiogen generate`'s default path (8 steps)
    style = (model.config.class_labels or [None])[0]
    start = time.perf_counter()
    pipe(seconds=10.0, style=style if style in pipe.styles else None, seed=0, progress=False)
    reference = 10.0 / (time.perf_counter() - start)
    print(
        f"for comparison, under the same load: a 10 s clip of `audiogen generate`: {reference:.2f}x realtime"
    )
    if args.json is not None:
        args.json.write_text(
            json.dumps({"model": source, "stream": rows, "generate_x_realtime": reference}, indent=2) + "\n"
        )


def memory_child(args) -> None:
    """Stream ``args.stream_memory_child`` seconds in this process; print one JSON line."""
    pipe, model, source = _load(args)
    style = (model.config.class_labels or [None])[0]
    loaded = _peak_mib()
    start = time.perf_counter()
    samples = sum(
        c.shape[-1] for c in pipe.stream(style=style, seconds=args.stream_memory_child, sequence=model)
    )
    print(json.dumps({
        "seconds": samples / pipe.sample_rate, "wall_s": time.perf_counter() - start,
        "peak_mib": _peak_mib(), "peak_after_load_mib": loaded, "model": source,
    }))  # fmt: skip


def memory(args) -> None:
    lengths = [float(x) for x in args.stream_memory.split(",")]
    print(f"stream memory: {args.threads} threads, one fresh process per length")
    print(f"{'seconds':>8}{'wall (s)':>10}{'peak RSS (MiB)':>16}{'after load':>12}")
    rows = []
    for seconds in lengths:
        command = [sys.executable, str(ROOT / "benchmarks" / "bench_generate.py"), "--stream-memory-child",
                   str(seconds), "--threads", str(args.threads)]  # fmt: skip
        if args.sequence is not None:
            command += ["--sequence", str(args.sequence)]
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": str(args.threads)}
        proc = subprocess.run(command, capture_output=True, text=True, env=env)
        if proc.returncode:
            raise SystemExit(f"error: the {seconds:g} s stream failed:\n{proc.stderr[-3000:]}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"{row['seconds']:>8g}{row['wall_s']:>10.1f}{row['peak_mib']:>16.0f}{row['peak_after_load_mib']:>12.0f}"
        )
    print(f"model: {rows[0]['model']}")
    print(
        f"peak memory ratio {lengths[-1]:g} s / {lengths[0]:g} s: "
        f"{rows[-1]['peak_mib'] / rows[0]['peak_mib']:.3f}x"
    )
    if args.json is not None:
        args.json.write_text(json.dumps({"stream_memory": rows}, indent=2) + "\n")


def add_arguments(parser) -> None:
    """The ``--stream*`` options of ``benchmarks/bench_generate.py``."""
    import argparse

    parser.add_argument(
        "--stream", type=float, default=None, metavar="SECONDS", help="stream speed (see bench_stream)"
    )
    parser.add_argument("--stream-context", default=None, help="comma-separated context_frames to compare")
    parser.add_argument(
        "--stream-head-steps", default=None, help="comma-separated flow head steps to compare"
    )
    parser.add_argument(
        "--stream-memory", default=None, metavar="S1,S2", help="stream peak memory per length"
    )
    parser.add_argument("--sequence", type=Path, default=None, help="sequence model (default: random)")
    parser.add_argument("--stream-memory-child", type=float, default=None, help=argparse.SUPPRESS)


def run(args) -> bool:
    """Run the stream mode the arguments ask for; ``False`` if they ask for none."""
    if args.stream_memory_child is not None:
        memory_child(args)
    elif args.stream_memory is not None:
        memory(args)
    elif args.stream is not None:
        speed(args)
    else:
        return False
    return True
