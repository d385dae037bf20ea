"""Where a pipeline's FD floor comes from: VAE + vocoder against the vocoder alone on the true mel.

``audiogen eval generate`` reports the floor (half B of a held-out split through log-mel → VAE →
vocoder, against half A) beside real-vs-real (half B as it is). This script splits that floor in two
for each pipeline folder given: the whole path, and the vocoder alone on half B's true log-mel (no
VAE), both as Fréchet distances to half A in one embedding, with the same crops as ``eval generate``
(:func:`audiogen.evaluation.clips.split_halves`, evenly spaced peak-normalised crops). With
``--shifts N`` it also prints the N embedding dimensions whose mean moves most from half B's, in
units of half A's standard deviation (named when the embedder has ``dimension_names``)::

    PYTHONPATH=benchmarks .venv/bin/python benchmarks/floor_diagnostics.py data/wesnoth/manifest.jsonl \\
        audiogen/assets/default runs/pipe-v2 --embedder feature_embedder:make --crops-per-file 4 \\
        --shifts 8 --json docs/reports/v2/floor_diagnostics.json

A floor set by the vocoder (the two rows close) cannot be lowered by a better latent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def _embed(embedder, waveform: torch.Tensor, sample_rate: int) -> np.ndarray:
    return embedder.embed(waveform, sample_rate).double().cpu().numpy()


def main(argv: list[str] | None = None) -> dict:
    from audiogen.data.manifest import read_manifest
    from audiogen.evaluation.clips import load_crops, reconstruct_clips, split_halves
    from audiogen.evaluation.embedders import default_embedder, load_embedder
    from audiogen.evaluation.frechet import embedding_stats
    from audiogen.hub import load_model

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("manifest", type=Path)
    p.add_argument("pipelines", nargs="+", type=Path, help="pipeline folders (autoencoder/ and vocoder/)")
    p.add_argument("--split", default="test")
    p.add_argument("--embedder", default=None, help="as eval generate --embedder (default: the classifier)")
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--crops-per-file", type=int, default=4)
    p.add_argument("--shifts", type=int, default=0, help="print the N dimensions whose mean moves most")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    embedder = load_embedder(args.embedder or default_embedder(args.pipelines[0]))
    names = list(getattr(embedder, "dimension_names", []))
    entries = [e for e in read_manifest(args.manifest) if e.split == args.split]
    half_a, half_b = split_halves(entries)
    vocoder0 = load_model(args.pipelines[0], "vocoder", "cpu")
    sample_rate = int(vocoder0.mel_config.sample_rate)
    ref, _ = load_crops(half_a, args.seconds, sample_rate, args.crops_per_file, "real A", False)
    real_b, _ = load_crops(half_b, args.seconds, sample_rate, args.crops_per_file, "real B", False)
    emb_a, emb_b = _embed(embedder, ref, sample_rate), _embed(embedder, real_b, sample_rate)
    stats_a, scale = embedding_stats(emb_a), emb_a.std(axis=0) + 1e-12
    rows = {"real: other half (half B)": emb_b}
    for folder in args.pipelines:
        vocoder = load_model(folder, "vocoder", "cpu")
        autoencoder = load_model(folder, "autoencoder", "cpu")
        rows[f"{folder}: VAE + vocoder"] = _embed(
            embedder, reconstruct_clips(real_b, autoencoder, vocoder, "cpu", 8, False), sample_rate
        )
        rows[f"{folder}: vocoder on the true mel"] = _embed(
            embedder, reconstruct_clips(real_b, None, vocoder, "cpu", 8, False), sample_rate
        )

    report: dict = {
        "manifest": str(args.manifest), "split": args.split, "embedder": str(args.embedder or "classifier"),
        "clips": {"A": len(emb_a), "B": len(emb_b)}, "rows": [],
    }  # fmt: skip
    print(f"{len(emb_a)} crops of half A (reference), {len(emb_b)} of half B; embedder {report['embedder']}")
    for name, emb in rows.items():
        fd = embedding_stats(emb).frechet_distance(stats_a)
        shift = (emb.mean(axis=0) - emb_b.mean(axis=0)) / scale
        top = np.argsort(-np.abs(shift))[: args.shifts] if name != "real: other half (half B)" else []
        shifts = [
            {"dim": int(i), "name": names[i] if i < len(names) else str(i), "shift_sd": float(shift[i])}
            for i in top
        ]
        report["rows"].append({"name": name, "frechet_distance": fd, "largest_mean_shifts": shifts})
        print(f"{name:60s} FD {fd:10.4f}")
        for s in shifts:
            print(f"    {s['name']:28s} mean {s['shift_sd']:+.2f} sd of half A")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
