"""Continuity and drift of one long stream: joins against the stream's own mel changes, and level,
spectral centroid and the style classifier's verdict minute by minute.

Usage::

    .venv/bin/python benchmarks/check_stream.py --sequence runs/sequence --style organ --seconds 600 \\
        --json docs/reports/stream/organ.json [--out organ.wav]

Joins: every place where two streamed vocoder chunks meet (the centre of their crossfade) and every
decoder chunk edge. At each, the largest adjacent-frame log-mel change within ``n_fft / 2`` of it
(:func:`audiogen.evaluation.boundaries.boundary_report`) is compared with the 99th percentile of the same
quantity over every frame of the stream; the report counts the joins above it. A join can be above
it because the music changes there (a note starting on a chunk edge), so the same latent frames are
also rendered without any join (decoded in one piece, vocoded in one piece). A join's *excess* is
its change minus the one-piece rendering's change at the same place; streaming moves every frame a
little (the 99th percentile of ``|stream - one-piece|`` over every frame is the yardstick). A join
*stands out* when it is above the stream's 99th percentile and its excess is above that yardstick:
among the stream's largest changes, and made so by the join rather than by the music.

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
    pipe,
    model,
    style: str,
    seconds: float,
    seed: int,
    temperature: float | None = None,
    stats_guard: float | None = None,
) -> tuple[torch.Tensor, list[tuple[str, int]]]:
    """The whole stream ``(samples,)`` and its joins ``(kind, sample)`` (``temperature``: the flow
    head's noise scale, ``stats_guard``: the guard's strength; ``None``: the model's)."""
    from audiogen.pipelines import stream as stream_module

    joins: list[tuple[str, int]] = []
    latents: list[torch.Tensor] = []
    decoder_take = stream_module.StreamingDecoder.push
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

    def take(self, latent):  # records the latent frames the decoder is given
        latents.append(latent.detach().cpu())
        return decoder_take(self, latent)

    stream_module.StreamingDecoder.push = take
    stream_module.StreamingDecoder._decode = decode
    stream_module.StreamingVocoder._render = render
    try:
        chunks = list(
            pipe.stream(
                style=style, seconds=seconds, seed=seed, sequence=model, head_temperature=temperature,
                stats_guard=stats_guard,
            )  # fmt: skip
        )
    finally:
        stream_module.StreamingDecoder.push = decoder_take
        stream_module.StreamingDecoder._decode = decoder_push
        stream_module.StreamingVocoder._render = vocoder_render
    audio = torch.cat(chunks, dim=-1)[0]
    return audio, [(k, p) for k, p in joins if 0 < p < audio.shape[-1]], torch.cat(latents, dim=-1)


@torch.no_grad()
def one_piece(pipe, mel: torch.Tensor, samples: int) -> torch.Tensor:
    """``mel (1, n_mels, frames)`` vocoded in one piece, ``(channels, samples)`` cropped to ``samples``."""
    return pipe.vocoder(mel.to(pipe.device)).float().cpu()[0, :, :samples]


def reference_audio(pipe, latent: torch.Tensor, samples: int) -> torch.Tensor:
    """Latent frames ``(1, latent_dim, frames)`` rendered with no join: ``(channels, samples)``.

    Decoded in chunks with the decoder's whole reach as context (equal to one-piece decoding up to
    float rounding, :func:`audiogen.pipelines.windows.decode_chunked`), vocoded in one piece.
    """
    from audiogen.pipelines.windows import decode_chunked

    mel = decode_chunked(pipe, latent.to(pipe.device))
    return one_piece(pipe, mel, samples)


def join_report(
    audio: torch.Tensor, mel_config, joins: list[tuple[str, int]], reference: torch.Tensor | None = None
) -> dict:
    """Mel change at each join against the stream's 99th percentile (and the one-piece ``reference``'s)."""
    from audiogen.evaluation.boundaries import boundary_report

    hop = mel_config.hop_length
    grid = [("frame", t * hop) for t in range(1, audio.shape[-1] // hop - 1)]

    def changes(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list]:
        stats = boundary_report(x, mel_config, joins + grid)
        at = torch.tensor([s.mel_change for s in stats[: len(joins)]])
        return at, torch.tensor([s.mel_change for s in stats[len(joins) :]]), stats[: len(joins)]

    at_joins, everywhere, stats = changes(audio)
    p99 = float(torch.quantile(everywhere, 0.99))
    over = (at_joins > p99).nonzero().flatten().tolist()
    report = {
        "joins": len(joins),
        "stream_p99": p99,
        "joins_above_p99": len(over),
        "largest_join": float(at_joins.max()) if len(joins) else 0.0,
        "above": [stats[i].to_dict() for i in over],
    }
    if reference is not None:
        ref_joins, ref_everywhere, _ = changes(reference)
        excess = at_joins - ref_joins
        yardstick = float(torch.quantile((everywhere - ref_everywhere).abs(), 0.99))
        for row, i in zip(report["above"], over, strict=True):
            row["one_piece_change"] = float(ref_joins[i])
            row["stands_out"] = bool(excess[i] > yardstick)
        report.update(
            one_piece_p99=float(torch.quantile(ref_everywhere, 0.99)),
            joins_standing_out=sum(r["stands_out"] for r in report["above"]),
            joins_excess_above_yardstick=int((excess > yardstick).sum()),
            largest_excess=float(excess.max()) if len(joins) else 0.0,
            excess_p99_everywhere=yardstick,
        )
    return report


def print_joins(label: str, r: dict) -> None:
    print(
        f"{label}{r['joins']} joins, {r['joins_above_p99']} above the 99th percentile of mel change "
        f"({r['stream_p99']:.3f} nats); largest join {r['largest_join']:.3f}"
    )
    if "joins_standing_out" in r:
        print(
            f"  one-piece rendering of the same frames: 99th percentile {r['one_piece_p99']:.3f}; "
            f"|stream - one-piece| 99th percentile over every frame {r['excess_p99_everywhere']:.3f}; "
            f"joins with an excess above it: {r['joins_excess_above_yardstick']} (largest "
            f"{r['largest_excess']:+.3f}); joins standing out (above the stream's p99 and with such an "
            f"excess): {r['joins_standing_out']}"
        )
        for row in r["above"]:
            print(
                f"  {row['kind']:<8} at {row['seconds']:8.2f} s: {row['mel_change']:.3f} "
                f"(one piece {row['one_piece_change']:.3f}){' STANDS OUT' if row['stands_out'] else ''}"
            )


def minute_report(audio: torch.Tensor, rate: int, n_fft: int, embedder, style: str) -> list[dict]:
    labels = list(embedder.labels)
    rows = []
    crop = 4 * rate
    for m in range(audio.shape[-1] // (60 * rate)):
        x = audio[m * 60 * rate : (m + 1) * 60 * rate]
        level, centroid = level_and_centroid(x, rate, n_fft)
        crops = x[: x.shape[-1] // crop * crop].reshape(-1, crop)
        with torch.no_grad():
            verdict = embedder.predict(crops, rate).argmax(-1)
        counts = torch.bincount(verdict, minlength=len(labels))
        rows.append({
            "minute": m + 1,
            "level_dbfs": level,
            "centroid_hz": centroid,
            "style_fraction": float(counts[labels.index(style)]) / len(verdict) if style in labels else None,
            "most_heard": labels[int(counts.argmax())],
        })  # fmt: skip
    return rows


def level_and_centroid(x: torch.Tensor, rate: int, n_fft: int) -> tuple[float, float]:
    """RMS level (dBFS) and mean spectral centroid (Hz) of ``x (samples,)``."""
    rms = float(x.pow(2).mean().sqrt())
    spec = torch.stft(x, n_fft, n_fft // 4, window=torch.hann_window(n_fft), return_complex=True).abs()
    freqs = torch.linspace(0, rate / 2, spec.shape[0])
    centroid = float(((freqs[:, None] * spec).sum(0) / spec.sum(0).clamp_min(1e-8)).mean())
    return 20 * torch.log10(torch.tensor(max(rms, 1e-8))).item(), centroid


def real_drift(manifest: Path, style: str, rate: int, n_fft: int, window: float = 20.0) -> dict:
    """How much real music of ``style`` moves: first against last ``window`` s of each held-out file.

    Files of the manifest's ``test`` split labelled ``style`` and at least ``3 * window`` long; per
    file the level difference (dB) and centroid ratio, last window against the first. Returns the
    files and the 5th / 95th percentiles: the bounds a stream's minute 10 against minute 1 is held to
    (how much one piece moves). Also the 5th / 95th percentiles of every such file's own level and
    centroid (whole file, every held-out file of the style): the range the style spans across
    pieces, which each minute is held to.
    """
    from audiogen.audio.io import load_audio
    from audiogen.data.manifest import read_manifest

    levels, ratios, whole = [], [], []
    for e in read_manifest(manifest):
        if e.split != "test" or e.label != style:
            continue
        x = load_audio(e.path, sample_rate=rate, channels=1).waveform[0]
        whole.append(level_and_centroid(x, rate, n_fft))
        if e.duration < 3 * window:
            continue
        n = round(window * rate)
        (la, ca), (lb, cb) = (level_and_centroid(x[:n], rate, n_fft), level_and_centroid(x[-n:], rate, n_fft))
        levels.append(lb - la)
        ratios.append(cb / ca)
    if not levels:
        raise SystemExit(f"error: no test file labelled {style!r} of at least {3 * window:g} s in {manifest}")

    def p5_p95(values: list[float]) -> list[float]:
        v = torch.tensor(values)
        return [float(torch.quantile(v, 0.05)), float(torch.quantile(v, 0.95))]

    return {
        "files": len(levels),
        "window_seconds": window,
        "level_db_p5_p95": p5_p95(levels),
        "centroid_ratio_p5_p95": p5_p95(ratios),
        "file_level_dbfs_p5_p95": p5_p95([w[0] for w in whole]),
        "file_centroid_hz_p5_p95": p5_p95([w[1] for w in whole]),
    }


def drift_bounds(manifest: Path, style: str, pipe, minutes: list[dict] | None = None) -> dict:
    """:func:`real_drift`'s bounds, printed, with the stream's ``minutes`` held to them when given."""
    bounds = real_drift(manifest, style, pipe.sample_rate, pipe.mel_config.n_fft)
    (l0, l1), (c0, c1) = bounds["level_db_p5_p95"], bounds["centroid_ratio_p5_p95"]
    (f0, f1), (g0, g1) = bounds["file_level_dbfs_p5_p95"], bounds["file_centroid_hz_p5_p95"]
    print(
        f"real {style} ({bounds['files']} held-out files of at least 60 s, last 20 s against the first, "
        f"5th to 95th percentile): level {l0:+.1f} to {l1:+.1f} dB, centroid {c0:.2f}x to {c1:.2f}x; "
        f"held-out files of {style} themselves: level {f0:.1f} to {f1:.1f} dBFS, "
        f"centroid {g0:.0f} to {g1:.0f} Hz"
    )
    if minutes and len(minutes) > 1:
        a, b = minutes[0], minutes[-1]
        level, ratio = b["level_dbfs"] - a["level_dbfs"], b["centroid_hz"] / a["centroid_hz"]
        bounds["within"] = {
            "level": l0 <= level <= l1,
            "centroid": c0 <= ratio <= c1,
            "style": b["most_heard"] == a["most_heard"] == style,
        }
        print(f"minute {b['minute']} against minute 1 within those bounds: {bounds['within']}")
        inside = [
            m["minute"] for m in minutes if f0 <= m["level_dbfs"] <= f1 and g0 <= m["centroid_hz"] <= g1
        ]
        bounds["minutes_within_file_range"] = inside
        print(
            f"minutes of the stream inside the files' level and centroid range: "
            f"{len(inside)} of {len(minutes)}"
        )
    return bounds


def vocoder_joins(
    pipe, path: Path, seconds: float, context: int | None = None, fade: int | None = None
) -> dict:
    """The streamed vocoder alone on a recording's log-mel: its joins against the result's own p99.

    ``context`` / ``fade``: the vocoder's mel frames of context and crossfade (``None``: the defaults).
    """
    from audiogen.audio.features import LogMelSpectrogram
    from audiogen.audio.io import load_audio
    from audiogen.pipelines import stream as stream_module

    wave = load_audio(path, sample_rate=pipe.sample_rate, channels=1).waveform
    mel = LogMelSpectrogram(pipe.mel_config)(wave[:, : round(seconds * pipe.sample_rate)]).mel
    sizes = {k: v for k, v in (("context", context), ("fade", fade)) if v is not None}
    vocoder = stream_module.StreamingVocoder(
        pipe.vocoder, pipe.hop_length, first_chunk=stream_module.STREAM_VOCODER_FIRST, **sizes
    )
    joins, pieces = [], []
    for i in range(0, mel.shape[-1], 8):  # a latent frame's worth of mel at a time, as in a stream
        before = vocoder.start
        pieces += vocoder.push(mel[..., i : i + 8])
        if vocoder.start != before:
            joins.append(("vocoder", vocoder.start * pipe.hop_length))
    audio = torch.cat(pieces + vocoder.finish(), dim=-1)[0]
    reference = one_piece(pipe, mel, audio.shape[-1])
    return join_report(audio, pipe.mel_config, [(k, p) for k, p in joins if p < audio.shape[-1]], reference)


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
    parser.add_argument(
        "--vocoder-context", type=int, default=None, help="with --recording: mel frames of context"
    )
    parser.add_argument(
        "--vocoder-fade", type=int, default=None, help="with --recording: mel frames of crossfade"
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
    parser.add_argument(
        "--real-drift",
        type=Path,
        default=None,
        metavar="MANIFEST",
        help="also: the bounds for minute 10 against minute 1, from how much the held-out real files of "
        "--style move (first against last 20 s)",
    )
    parser.add_argument("--head-steps", default="2,4,8", help="with --latent-fd: comma-separated counts")
    parser.add_argument(
        "--head-temperature", type=float, default=None,
        help="the flow head's noise scale (default: the model's)",
    )  # fmt: skip
    parser.add_argument(
        "--stats-guard", type=float, default=None,
        help="strength of the stream's latent statistics guard (default: the model's)",
    )  # fmt: skip
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
            print_joins(
                f"{path}: ", vocoder_joins(pipe, path, args.seconds, args.vocoder_context, args.vocoder_fade)
            )
        return
    if args.latent_fd is not None:
        steps = [int(x) for x in args.head_steps.split(",")]
        for k, value in latent_fd(
            load_sequence_model(args.sequence), args.latent_fd, steps, args.seconds
        ).items():
            print(f"head steps {k}: latent-frame FD {value:.2f}")
        return
    if args.real_drift is not None and args.style and not args.sequence:
        bounds = drift_bounds(args.real_drift, args.style, pipe)
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(
                json.dumps({"args": vars(args), "real_drift": bounds}, indent=2, default=str) + "\n"
            )
        return
    if not args.sequence or not args.style:
        parser.error("--sequence and --style are needed (or --recording, or --real-drift alone)")
    model = load_sequence_model(args.sequence)
    audio, joins, latent = stream_with_joins(
        pipe, model, args.style, args.seconds, args.seed, args.head_temperature, args.stats_guard
    )
    if args.out is not None:
        from audiogen.audio.io import save_audio

        save_audio(args.out, audio[None], pipe.sample_rate)
    reference = reference_audio(pipe, latent, audio.shape[-1])
    joined = join_report(audio, pipe.mel_config, joins, reference)
    print_joins("stream: ", joined)
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
    report = {"args": vars(args), "joins": joined, "minutes": minutes}
    if args.real_drift is not None:
        report["real_drift"] = drift_bounds(args.real_drift, args.style, pipe, minutes)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
