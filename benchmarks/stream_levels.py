"""Level of streams over time, per seed and inference setting, and what the sequence model feeds back.

For seeds ``--seed .. --seed + --seeds - 1``: a stream of ``--seconds`` of ``--style`` and its RMS
level (dBFS) in consecutive windows of ``--window`` seconds, for each ``--head-temperature`` value.
``--stats-guard`` takes strengths of the latent statistics guard too (every pair is run); ``--png``
writes the log-mel spectrogram of the first seed's stream of each setting.
``--prime SECONDS`` starts each stream from the diffusion model's clip of that length (same seed
and style) as its prompt. ``--tokens`` also prints the RMS of the generated latent frames per
window (the data's latent frames have an RMS near 1; smaller ones decode quieter and smoother).
Real held-out organ files of the default corpus lie at -17.0 to -14.2 dBFS
(docs/reports/stream/organ_drift_bounds.json). Example::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/stream_levels.py --style organ --seconds 60 \\
        --head-temperature 1.0,1.3 --json levels.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch


def window_db(x: torch.Tensor, size: int) -> list[float]:
    """RMS in dB of consecutive windows of ``size`` samples along the last axis (full windows only)."""
    return [
        round(10 * torch.log10(x[..., i : i + size].pow(2).mean() + 1e-12).item(), 1)
        for i in range(0, x.shape[-1] - size + 1, size)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default=None, help="pipeline folder (default: the bundled one)")
    parser.add_argument("--sequence", default=None, help="sequence model (default: the pipeline's)")
    parser.add_argument("--style", default="organ")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--window", type=float, default=20.0, help="seconds per level")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--head-temperature", default="1.0", help="comma-separated values")
    parser.add_argument(
        "--stats-guard", default=None, help="comma-separated strengths of the latent statistics guard"
    )
    parser.add_argument("--head-steps", type=int, default=None)
    parser.add_argument("--cfg-scale", type=float, default=1.0)
    parser.add_argument("--inference-noise", type=float, default=None, help="default: the model's")
    parser.add_argument("--prime", type=float, default=None, help="seconds of diffusion clip as prompt")
    parser.add_argument("--tokens", action="store_true", help="also the RMS of the latent frames")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--png", type=Path, default=None, help="log-mel spectrograms of the first seed's stream per setting"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from audiogen.pipelines import load_pretrained
    from audiogen.pipelines.stream import load_sequence_model

    pipe = load_pretrained(args.checkpoint, device="cpu")
    model = load_sequence_model(args.sequence or args.checkpoint).eval()
    if args.inference_noise is not None:
        model.config = dataclasses.replace(model.config, inference_noise=args.inference_noise)
    rate, size = pipe.sample_rate, round(args.window * pipe.sample_rate)
    frames: list[torch.Tensor] = []
    if args.tokens:  # record the latent frames the decoder is given
        from audiogen.pipelines import stream as stream_module

        push = stream_module.StreamingDecoder.push

        def recording(self, latent):
            frames.append(latent.detach().cpu())
            return push(self, latent)

        stream_module.StreamingDecoder.push = recording
    results = []
    pictures: list[tuple[torch.Tensor, str]] = []  # (first seed's audio, title) per setting
    guards = [None] if args.stats_guard is None else [float(g) for g in args.stats_guard.split(",")]
    settings = [(float(t), g) for t in args.head_temperature.split(",") for g in guards]
    for temperature, guard in settings:
        for seed in range(args.seed, args.seed + args.seeds):
            prompt = None
            if args.prime:
                clip = pipe(args.prime, style=args.style, seed=seed, progress=False).waveforms[0]
                prompt = (clip, rate)
            frames.clear()
            chunks = pipe.stream(
                args.seconds, style=args.style, seed=seed, sequence=model, cfg_scale=args.cfg_scale,
                head_steps=args.head_steps, head_temperature=temperature, prompt=prompt,
                stats_guard=guard,
            )  # fmt: skip
            audio = torch.cat(list(chunks), dim=-1).mean(0)
            row = {"head_temperature": temperature, "stats_guard": guard, "seed": seed}
            row["level_dbfs"] = window_db(audio, size)
            if args.tokens:
                latent = torch.cat(frames, dim=-1)
                per = int(args.window * rate / pipe.samples_per_latent_frame)
                row["latent_rms"] = [
                    round(latent[..., i : i + per].pow(2).mean().sqrt().item(), 3)
                    for i in range(0, latent.shape[-1] - per + 1, per)
                ]
            print(json.dumps(row), flush=True)
            results.append(row)
            if seed == args.seed:
                shown = "model's" if guard is None else guard
                title = f"{args.style}, seed {seed}, head temperature {temperature}, stats guard {shown}"
                pictures.append((audio, title))
    if args.png is not None:
        from audiogen.audio.features import LogMelSpectrogram
        from audiogen.evaluation.plotting import save_mel_png

        frontend = LogMelSpectrogram(pipe.mel_config)
        mels = [frontend(a[None]).mel[0] for a, _ in pictures]
        save_mel_png(args.png, mels, pipe.mel_config, [t for _, t in pictures])
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {"args": vars(args), "streams": results}
        args.json.write_text(json.dumps(report, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
