"""Continuity and drift of one long stream: joins against the stream's own mel changes, and level,
spectral centroid and the style classifier's verdict minute by minute.

Usage::

    .venv/bin/python benchmarks/check_stream.py --sequence runs/sequence --style organ --seconds 600 \\
        --json docs/reports/stream/organ.json [--out organ.wav]

Joins: every place where two streamed vocoder chunks meet (the centre of their crossfade) and every
decoder chunk edge. At each, the largest adjacent-frame log-mel change within ``n_fft / 2`` of it
(:func:`audiogen.evaluation.boundaries.boundary_report`) is compared with the 99th percentile of the same
quantity over every frame of the stream; the report counts the joins above it (the issue's bar:
none).

``--recording FILE ...``: the streamed vocoder alone on the log-mel of real recordings (their first
``--seconds``), the same join measure: what the chunking itself does, without a sequence model.

``--latent-fd CACHE``: how close the streamed latent frames are to real ones, per flow-head step
count (``--head-steps 2,4,8``): the Fréchet distance between the frames (as ``latent_dim`` vectors)
of one ``--seconds`` stream per style and those of 300 random 10 s crops of the latent cache's
``valid`` split.

Drift, per minute of audio: RMS level (dBFS), mean spectral centroid (Hz, of the magnitude STFT at
the model's ``n_fft``), and the style classifier's verdict on 4 s crops (the fraction of crops
classified as the stream's style, and the most frequent class). Minute 10 against minute 1 is the
issue's check; the last lines print the differences.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402


def stream_with_joins(
    pipe, model, style: str, seconds: float, seed: int
) -> tuple[torch.Tensor, list[tuple[str, int]]]:
    """The whole stream ``(samples,)`` and its joins ``(kind, sample)``."""
    from audiogen.pipelines import stream as stream_module

    joins: list[tuple[str, int]] = []
    decoder_push = stream_module.StreamingDecoder._decode
    vocoder_render = stream_module.StreamingVocoder._render
    spl = pipe.samples_per_latent_frame

    def decode(self, stop, end):  # records each decoder chunk's right edge
        out = decoder_push(self, stop, end)
        if not end:
            joins.append(("decoder", stop * spl))
        return out

    def render(self, stop, last):  # records each vocoder chunk's right joint (crossfade centre)
        out = vocoder_render(self, stop, last)
        if not last:
            joins.append(("vocoder", stop * self.hop_length))
        return out

    stream_module.StreamingDecoder._decode = decode
    stream_module.StreamingVocoder._render = render
    try:
        chunks = list(pipe.stream(style=style, seconds=seconds, seed=seed, sequence=model))
    finally:
        stream_module.StreamingDecoder._decode = decoder_push
        stream_module.StreamingVocoder._render = vocoder_render
    audio = torch.cat(chunks, dim=-1)[0]
    return audio, [(k, p) for k, p in joins if 0 < p < audio.shape[-1]]


def join_report(audio: torch.Tensor, mel_config, joins: list[tuple[str, int]]) -> dict:
    from audiogen.evaluation.boundaries import boundary_report

    hop = mel_config.hop_length
    grid = [("frame", t * hop) for t in range(1, audio.shape[-1] // hop - 1)]
    stats = boundary_report(audio, mel_config, joins + grid)
    at_joins, everywhere = stats[: len(joins)], torch.tensor([s.mel_change for s in stats[len(joins) :]])
    p99 = float(torch.quantile(everywhere, 0.99))
    over = [s for s in at_joins if s.mel_change > p99]
    return {
        "joins": len(at_joins),
        "stream_p99": p99,
        "joins_above_p99": len(over),
        "largest_join": max((s.mel_change for s in at_joins), default=0.0),
        "above": [s.to_dict() for s in over],
    }


def minute_report(audio: torch.Tensor, rate: int, n_fft: int, embedder, style: str) -> list[dict]:
    labels = list(embedder.labels)
    rows = []
    crop = 4 * rate
    for m in range(audio.shape[-1] // (60 * rate)):
        x = audio[m * 60 * rate : (m + 1) * 60 * rate]
        rms = float(x.pow(2).mean().sqrt())
        spec = torch.stft(x, n_fft, n_fft // 4, window=torch.hann_window(n_fft), return_complex=True).abs()
        freqs = torch.linspace(0, rate / 2, spec.shape[0])
        centroid = float(((freqs[:, None] * spec).sum(0) / spec.sum(0).clamp_min(1e-8)).mean())
        crops = x[: x.shape[-1] // crop * crop].reshape(-1, crop)
        with torch.no_grad():
            verdict = embedder.predict(crops, rate).argmax(-1)
        counts = torch.bincount(verdict, minlength=len(labels))
        rows.append({
            "minute": m + 1,
            "level_dbfs": 20 * torch.log10(torch.tensor(max(rms, 1e-8))).item(),
            "centroid_hz": centroid,
            "style_fraction": float(counts[labels.index(style)]) / len(verdict) if style in labels else None,
            "most_heard": labels[int(counts.argmax())],
        })  # fmt: skip
    return rows


def vocoder_joins(pipe, path: Path, seconds: float) -> dict:
    """The streamed vocoder alone on a recording's log-mel: its joins against the result's own p99."""
    from audiogen.audio.features import LogMelSpectrogram
    from audiogen.audio.io import load_audio
    from audiogen.pipelines import stream as stream_module

    wave = load_audio(path, sample_rate=pipe.sample_rate, channels=1).waveform
    mel = LogMelSpectrogram(pipe.mel_config)(wave[:, : round(seconds * pipe.sample_rate)]).mel
    vocoder = stream_module.StreamingVocoder(
        pipe.vocoder, pipe.hop_length, first_chunk=stream_module.STREAM_VOCODER_FIRST
    )
    joins, pieces = [], []
    for i in range(0, mel.shape[-1], 8):  # a latent frame's worth of mel at a time, as in a stream
        before = vocoder.start
        pieces += vocoder.push(mel[..., i : i + 8])
        if vocoder.start != before:
            joins.append(("vocoder", vocoder.start * pipe.hop_length))
    audio = torch.cat(pieces + vocoder.finish(), dim=-1)[0]
    return join_report(audio, pipe.mel_config, [(k, p) for k, p in joins if p < audio.shape[-1]])


def latent_fd(
    model, cache: Path, head_steps: list[int], seconds: float, crops: int = 300
) -> dict[int, float]:
    """Fréchet distance of streamed latent frames to the validation split's, per head step count.

    ``crops`` random 10 s crops of the cache's ``valid`` split give the real frames; one stream of
    ``seconds`` per style (seed = its index) gives the generated ones (frames as 64-dim vectors).
    """
    from itertools import islice

    from audiogen.data.cache import FeatureCacheDataset
    from audiogen.evaluation.frechet import embedding_stats
    from audiogen.pipelines.stream_latent import latent_stream, parse_schedule

    labels = list(model.config.class_labels or [])
    data = FeatureCacheDataset(cache, model.config.context_frames, train=False, split="valid", key="latent")
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:crops].tolist()
    real = embedding_stats(torch.cat([data[i]["latent"] for i in order], dim=-1).T)
    steps_per_stream = round(seconds * 21.533203125 / model.config.frames_per_step)
    out = {}
    for steps in head_steps:
        frames = []
        for k, style in enumerate(labels or [None]):
            tokens = latent_stream(model, parse_schedule(style, labels), seed=k, head_steps=steps)
            frames.append(torch.cat(list(islice(tokens, steps_per_stream)), dim=-1)[0])
        out[steps] = embedding_stats(torch.cat(frames, dim=-1).T).frechet_distance(real)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequence", help="sequence model (run, checkpoint or model folder)")
    parser.add_argument(
        "--recording",
        type=Path,
        nargs="*",
        help="instead: the streamed vocoder alone on these recordings' mels",
    )
    parser.add_argument("--checkpoint", default=None, help="pipeline folder (default: the bundled one)")
    parser.add_argument("--style")
    parser.add_argument(
        "--latent-fd",
        type=Path,
        default=None,
        metavar="CACHE",
        help="instead: latent-frame FD of streams against this latent cache's valid split, per --head-steps",
    )
    parser.add_argument("--head-steps", default="2,4,8", help="with --latent-fd: comma-separated counts")
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="also write the stream as a WAV")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from audiogen.evaluation.embedders import default_embedder, load_embedder
    from audiogen.pipelines import load_pretrained
    from audiogen.pipelines.stream import load_sequence_model

    pipe = load_pretrained(args.checkpoint, device="cpu")
    if args.recording:
        for path in args.recording:
            r = vocoder_joins(pipe, path, args.seconds)
            print(
                f"{path}: {r['joins']} vocoder joins, {r['joins_above_p99']} above the 99th percentile "
                f"of mel change ({r['stream_p99']:.3f} nats); largest join {r['largest_join']:.3f}"
            )
        return
    if args.latent_fd is not None:
        steps = [int(x) for x in args.head_steps.split(",")]
        for k, value in latent_fd(
            load_sequence_model(args.sequence), args.latent_fd, steps, args.seconds
        ).items():
            print(f"head steps {k}: latent-frame FD {value:.2f}")
        return
    if not args.sequence or not args.style:
        parser.error("--sequence and --style are needed (or --recording)")
    model = load_sequence_model(args.sequence)
    audio, joins = stream_with_joins(pipe, model, args.style, args.seconds, args.seed)
    if args.out is not None:
        from audiogen.audio.io import save_audio

        save_audio(args.out, audio[None], pipe.sample_rate)
    joined = join_report(audio, pipe.mel_config, joins)
    print(
        f"joins: {joined['joins']}, above the stream's 99th percentile of mel change "
        f"({joined['stream_p99']:.3f} nats): {joined['joins_above_p99']}; "
        f"largest {joined['largest_join']:.3f}"
    )
    embedder = load_embedder(default_embedder(args.checkpoint))
    minutes = minute_report(audio, pipe.sample_rate, pipe.mel_config.n_fft, embedder, args.style)
    print(f"{'minute':>6}{'level (dBFS)':>14}{'centroid (Hz)':>15}{'style share':>13}  most heard")
    for r in minutes:
        share = "-" if r["style_fraction"] is None else f"{r['style_fraction']:.2f}"
        print(
            f"{r['minute']:>6}{r['level_dbfs']:>14.1f}{r['centroid_hz']:>15.0f}{share:>13}  {r['most_heard']}"
        )
    if len(minutes) > 1:
        a, b = minutes[0], minutes[-1]
        print(
            f"minute {b['minute']} - minute 1: level {b['level_dbfs'] - a['level_dbfs']:+.1f} dB, centroid "
            f"{b['centroid_hz'] / a['centroid_hz']:.2f}x"
        )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"args": vars(args), "joins": joined, "minutes": minutes}, indent=2,
                                        default=str) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
