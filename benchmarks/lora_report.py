"""Checks of trained LoRA adapters on a real base pipeline (the numbers of docs/finetune.md's LoRA section).

1. strength 0 is the base: clips of a base style with the adapter loaded at strength 0 vs without it
   (bit-for-bit);
2. strength 1 is the adapter as trained: the run's last validation samples (same sampler, steps, CFG
   scale, seed and length as the trainer used) regenerated through ``pipe.load_lora`` (max sample
   difference vs the 16-bit quantum of the WAV files);
3. with two adapters (``--lora A --lora B``): clips of A's style with A alone, of B's style with B
   alone, and of the blended style ``A+B`` with both at 0.5, embedded with the style classifier and
   compared with the held-out (``test``) files of both collections: Fréchet distance, distance of
   the mean embeddings, and where the stack's mean falls on the line from A's clips to B's
   (0 = A's mean, 1 = B's).

    .venv/bin/python benchmarks/lora_report.py --lora runs/ft-drums-lora --lora runs/ft-chimes-lora \
        --num 128 --seconds 2 --json docs/reports/finetune/lora_report.json
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from audiogen.evaluation.clips import generate_clips, load_crops
from audiogen.evaluation.embedders import default_embedder, load_embedder
from audiogen.evaluation.frechet import embedding_stats
from audiogen.models.lora import SIDECAR_NAME, find_adapter_folder
from audiogen.pipelines.audiogen import AudioGenPipeline, default_model_dir
from audiogen.pipelines.denoise import sample_latents
from audiogen.samplers.factory import make_sampler
from audiogen.training.checkpoint import find_latest_checkpoint


def strength_zero(pipe: AudioGenPipeline, run: Path, seconds: float) -> dict:
    style = pipe.styles[0]
    base = pipe(seconds, num=2, seed=0, style=style, progress=False).waveforms
    name = pipe.load_lora(run, strength=0.0)
    with_adapter = pipe(seconds, num=2, seed=0, style=style, progress=False).waveforms
    pipe.unload_lora(name)
    return {
        "style": style,
        "bit_identical": bool(torch.equal(base, with_adapter)),
        "max_abs_difference": float((base - with_adapter).abs().max()),
    }


def strength_one(pipe: AudioGenPipeline, run: Path) -> dict:
    checkpoint = find_latest_checkpoint(run / "train" / "denoiser" / "checkpoints")
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    data, step = state["task_config"]["data"], state["step"]
    folder = run / "train" / "denoiser" / "samples" / f"step-{step:08d}"
    wavs = sorted(folder.glob("sample_*.wav"))
    wavs = [w for w in wavs if not w.stem.endswith("_reference")]
    expected = torch.stack([torch.from_numpy(sf.read(w, dtype="float32")[0]) for w in wavs])
    name = pipe.load_lora(run, strength=1.0)
    styles = data["sample_styles"] or pipe.styles
    labels = [pipe.style_label(styles[i % len(styles)]) for i in range(len(wavs))]
    rate = pipe.sample_rate / pipe.samples_per_latent_frame
    m = pipe.length_multiple
    seconds = data["sample_seconds"] or data["segment_seconds"]
    frames = max(m, math.ceil(round(seconds * rate) / m) * m)
    shape = (len(wavs), pipe.denoiser.config.latent_dim, frames)
    z = sample_latents(
        pipe.denoiser, make_sampler(data["sampler"], pipe.scheduler), shape, labels=labels,
        cfg_scale=data["cfg_scale"], generator=torch.Generator().manual_seed(0), progress=False,
        num_inference_steps=data["sample_steps"],
    )  # fmt: skip
    with torch.no_grad():
        audio = pipe.vocoder(pipe.autoencoder.decode(z).float())[:, 0].clamp(-1, 1)
    pipe.unload_lora(name)
    return {
        "samples": [str(w) for w in wavs],
        "step": step,
        "max_abs_difference": float((audio - expected).abs().max()),
        "wav_quantum": 1 / 32768,
    }


def placement(pipe: AudioGenPipeline, runs: list[Path], num: int, seconds: float) -> dict:
    names = [pipe.load_lora(run) for run in runs]
    styles = [json.loads((find_adapter_folder(r) / SIDECAR_NAME).read_text())["styles"][0] for r in runs]
    embedder = load_embedder(default_embedder(), "cpu", batch_size=16)
    sets = {}
    for i, name in enumerate(names):  # each adapter alone (the other at strength 0: switched off)
        for other in names:
            pipe.set_lora_strength(other, 1.0 if other == name else 0.0)
        clips = generate_clips(pipe, num, seconds, [styles[i]], progress=False)[0]
        sets[f"{styles[i]} (adapter alone)"] = clips
    for other in names:
        pipe.set_lora_strength(other, 0.5)
    blend = "+".join(styles)
    sets[f"{blend} (both at 0.5)"] = generate_clips(pipe, num, seconds, [blend], progress=False)[0]
    for name in names:
        pipe.unload_lora(name)
    real = {}
    for run, style in zip(runs, styles, strict=True):
        from audiogen.data.manifest import read_manifest

        entries = [e for e in read_manifest(run / "data" / "manifest.jsonl") if e.split == "test"]
        real[style] = load_crops(entries, seconds, pipe.sample_rate, 1, "real", False)[0]
    emb = {k: np.asarray(embedder.embed(v, pipe.sample_rate)) for k, v in {**sets, **real}.items()}
    stats = {k: embedding_stats(v) for k, v in emb.items()}
    means = {k: v.mean(0) for k, v in emb.items()}
    a, b = means[list(sets)[0]], means[list(sets)[1]]
    rows = {}
    for k in sets:
        rows[k] = {
            "clips": int(emb[k].shape[0]),
            **{f"fd_to_real_{s}": float(stats[k].frechet_distance(stats[s])) for s in styles},
            **{f"mean_distance_to_real_{s}": float(np.linalg.norm(means[k] - means[s])) for s in styles},
            "position_between_adapters": float(np.dot(means[k] - a, b - a) / np.dot(b - a, b - a)),
        }
    reals = {s: {"clips": int(emb[s].shape[0])} for s in styles}
    for s in styles:
        for t in styles:
            if s != t:
                reals[s][f"fd_to_real_{t}"] = float(stats[s].frechet_distance(stats[t]))
                reals[s][f"mean_distance_to_real_{t}"] = float(np.linalg.norm(means[s] - means[t]))
    return {"generated": rows, "real": reals, "embedding_dims": int(emb[styles[0]].shape[1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=Path, default=default_model_dir(), help="base pipeline folder")
    parser.add_argument("--lora", type=Path, action="append", required=True, help="fine-tuning run (1 or 2)")
    parser.add_argument("--num", type=int, default=128, help="clips per generated set")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    pipe = AudioGenPipeline.from_pretrained(args.base, device="cpu")
    report: dict = {"base": str(args.base), "adapters": [str(r) for r in args.lora]}
    for run in args.lora:
        report[f"strength_0_vs_base:{run}"] = strength_zero(pipe, run, args.seconds)
        report[f"strength_1_vs_validation_samples:{run}"] = strength_one(pipe, run)
    if len(args.lora) == 2:
        report["stack"] = placement(pipe, args.lora, args.num, args.seconds)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
