"""Fréchet distance of streamed clips against the diffusion model's, same seeds and styles, one process.

For every style of the sequence model and seeds ``--seed .. --seed + --per-style - 1``: a stream of
``--warmup + --seconds`` seconds whose last ``--seconds`` are kept (the stream past its start), and
the diffusion pipeline's clip of ``--seconds`` with the same seed and style. Both sets and the
held-out crops of MANIFEST's ``--split`` (``--crops-per-file`` evenly spaced crops per file) are
mixed to mono, peak-normalised as ``audiogen eval generate`` does, embedded by the style classifier
(the pipeline folder's ``classifier/``) and compared by FD; the classifier's style accuracy is
printed beside. Example::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/stream_fd.py CORPUS/manifest.jsonl --per-style 16 \\
        --json docs/reports/stream/stream_fd.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    """Parse arguments, generate both sets, print the FD table and optionally write JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("manifest", type=Path, help="manifest with the held-out split (JSON lines)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--checkpoint", default=None, help="pipeline folder (default: the bundled one)")
    parser.add_argument("--sequence", default=None, help="sequence model (default: the pipeline's)")
    parser.add_argument("--per-style", type=int, default=16, help="clips per style and per set")
    parser.add_argument("--seconds", type=float, default=4.0, help="clip length")
    parser.add_argument("--warmup", type=float, default=4.0, help="streamed seconds dropped before each clip")
    parser.add_argument("--crops-per-file", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--head-temperature", type=float, default=None,
        help="the flow head's noise scale (default: the model's)",
    )  # fmt: skip
    parser.add_argument(
        "--stats-guard", type=float, default=None,
        help="strength of the stream's latent statistics guard (default: the model's)",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import torch

    from audiogen import load_pretrained
    from audiogen.audio.levels import peak_normalize
    from audiogen.data.manifest import read_manifest
    from audiogen.evaluation.clips import _fit_length, load_crops
    from audiogen.evaluation.embedders import default_embedder, load_embedder
    from audiogen.evaluation.frechet import embedding_stats, frechet_distance
    from audiogen.pipelines.stream import load_sequence_model

    pipe = load_pretrained(args.checkpoint) if args.checkpoint else load_pretrained()
    sequence = load_sequence_model(args.sequence if args.sequence else args.checkpoint)
    styles = list(sequence.config.class_labels)
    sr = pipe.sample_rate
    samples = round(args.seconds * sr)
    plan = [(style, args.seed + k) for style in styles for k in range(args.per_style)]

    def mono(waveform: torch.Tensor) -> torch.Tensor:
        return _fit_length(waveform.float().reshape(-1, waveform.shape[-1]).mean(0), samples)

    timings = {}
    start = time.perf_counter()
    streamed = []
    for style, seed in plan:
        chunks = list(
            pipe.stream(
                args.warmup + args.seconds, style=style, seed=seed, sequence=sequence,
                head_temperature=args.head_temperature, stats_guard=args.stats_guard,
            )
        )  # fmt: skip
        audio = torch.cat([c.reshape(-1, c.shape[-1]) for c in chunks], dim=-1)
        streamed.append(mono(audio[..., -samples:]))
    timings["stream"] = time.perf_counter() - start
    start = time.perf_counter()
    diffused = [mono(pipe(args.seconds, style=s, seed=seed, progress=False).waveforms[0]) for s, seed in plan]
    timings["diffusion"] = time.perf_counter() - start

    entries = [e for e in read_manifest(args.manifest) if e.split == args.split]
    real, real_labels = load_crops(entries, args.seconds, sr, args.crops_per_file, "held-out crops", True)
    embedder = load_embedder(default_embedder(args.checkpoint))
    labels = list(getattr(embedder, "labels", []))

    def row(name: str, clips: torch.Tensor, clip_styles: list[str | None]) -> dict:
        emb = embedder.embed(clips, sr).double().numpy()
        out = {"set": name, "clips": len(clips)}
        if name != "real":
            ref = embedding_stats(real_emb)
            stats = embedding_stats(emb)
            out["fd"] = frechet_distance(ref.mean, ref.cov, stats.mean, stats.cov)
        if labels and hasattr(embedder, "predict"):
            heard = embedder.predict(clips, sr).argmax(-1).tolist()
            right = sum(labels[h] == s for h, s in zip(heard, clip_styles, strict=True))
            out["style_accuracy"] = right / len(heard)
        return out

    real_emb = embedder.embed(real, sr).double().numpy()
    style_of = [s for s, _ in plan]
    rows = [
        row("real", real, real_labels),
        row("diffusion", peak_normalize(torch.stack(diffused)), style_of),
        row("stream", peak_normalize(torch.stack(streamed)), style_of),
    ]
    for r in rows:
        fd = f"{r['fd']:.2f}" if "fd" in r else "-"
        acc = f"{r['style_accuracy']:.3f}" if "style_accuracy" in r else "-"
        print(f"{r['set']:>9}: {r['clips']:4d} clips  FD {fd:>7}  style accuracy {acc}")
    stream_fd, diffusion_fd = rows[2]["fd"], rows[1]["fd"]
    print(f"stream / diffusion FD: {stream_fd / diffusion_fd:.2f}x; seconds: {json.dumps(timings)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows, "seconds": timings}
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
