"""Benchmark the mel front end against librosa and torchaudio on one variable-length batch.

One process, one batch: ``--batch`` clips of random ``--min-seconds``..``--max-seconds`` (seeded)
white-ish noise at ``--sample-rate`` Hz, analysed with the same settings by every peer
(``n_fft``, ``hop_length``, ``n_mels``, Slaney mel scale and norm, reflect padding, ``--power``):

* ours: ``audiogen.audio.features.MelSpectrogram`` on the zero-padded batch with host-side
  ``lengths`` (packed path); extra rows for the padded path and for ``LogMelSpectrogram``;
* librosa: ``librosa.feature.melspectrogram`` called per clip on that clip's valid samples;
* torchaudio: ``torchaudio.transforms.MelSpectrogram`` on the zero-padded batch.

Each peer gets ``--warmup`` untimed runs, then ``--repeats`` timed runs taken round-robin across
the peers (so load from other processes hits all of them alike); the table gives the best and
median wall time and throughput in audio-seconds (valid audio only) per second, and our speed-up
over each peer as the median of the per-round time ratios (peer / ours: above 1 means ours is
faster; each round runs the peers back to back, so a ratio compares runs under the same load from
other processes). ``--threads`` sets torch's intra-op threads; librosa runs in numpy, whose BLAS
keeps its own default thread count. Our time is also split by stage (FFT vs filterbank etc.) with
the wall-clock stage timer of :mod:`audiogen.audio.profiling`. With CUDA available the GPU rows
follow (ours vs torchaudio, timed with ``torch.cuda.synchronize``).

Example::

    python benchmarks/bench_spectral.py --threads 2 --repeats 15
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning threads steal the
# core from the one doing work. Must be set before torch is imported; applies to every torch peer alike.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@dataclass
class Timing:
    """Best and median wall time of one peer, in seconds, and every timed run (one per round)."""

    name: str
    best: float
    median: float
    times: list[float]


def speed_ratio(peer: Timing, ours: Timing) -> float:
    """How many times faster ours is than ``peer``: the median over rounds of ``peer / ours`` time.

    Each round times every peer once, back to back, so both times of a round saw about the same load
    from other processes; the median of the per-round ratios is steadier than a ratio of two bests.
    """
    return statistics.median(p / o for p, o in zip(peer.times, ours.times, strict=True))


def _time_round_robin(
    peers: list[tuple[str, Callable[[], object]]],
    warmup: int,
    repeats: int,
    sync: Callable[[], None] | None = None,
) -> list[Timing]:
    """Time every peer ``repeats`` times, interleaved (peer 1, peer 2, ..., peer 1, ...) so that load
    from other processes hits all peers alike, after ``warmup`` untimed runs of each."""
    for _, fn in peers:
        for _ in range(warmup):
            fn()
    if sync:
        sync()
    times: dict[str, list[float]] = {name: [] for name, _ in peers}
    for _ in range(repeats):
        for name, fn in peers:
            start = time.perf_counter()
            fn()
            if sync:
                sync()
            times[name].append(time.perf_counter() - start)
    return [Timing(name, min(t), statistics.median(t), t) for name, t in times.items()]


def _stage_split(fn: Callable[[], object], runs: int) -> dict[str, tuple[float, float]]:
    """(best, median) seconds per run spent in each stage of our front end.

    Uses the wall-clock stage timer of :mod:`audiogen.audio.profiling` (``_section.stage_times``),
    which synchronises CUDA at stage edges; the stages add up to nearly the whole forward.
    """
    from audiogen.audio.profiling import _section

    per_run: list[dict[str, float]] = []
    fn()
    try:
        for _ in range(runs):
            _section.stage_times = {}
            fn()
            per_run.append(_section.stage_times)
    finally:
        _section.stage_times = None
    keys = sorted({k for run in per_run for k in run})
    return {
        k: (min(run.get(k, 0.0) for run in per_run), statistics.median(run.get(k, 0.0) for run in per_run))
        for k in keys
    }


def main() -> None:
    """Parse arguments, run the CPU (and CUDA) comparisons, print the tables."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--batch", type=int, default=32, help="clips in the batch")
    parser.add_argument("--min-seconds", type=float, default=2.0, help="shortest clip in seconds")
    parser.add_argument("--max-seconds", type=float, default=10.0, help="longest clip in seconds")
    parser.add_argument("--sample-rate", type=int, default=22050, help="Hz")
    parser.add_argument("--n-fft", type=int, default=1024)
    parser.add_argument("--hop-length", type=int, default=256)
    parser.add_argument("--n-mels", type=int, default=80)
    parser.add_argument("--power", type=float, default=1.0, choices=(1.0, 2.0), help="1 amplitude, 2 power")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per peer")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per peer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-cuda", action="store_true", help="skip the GPU rows even if CUDA is available")
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also time the front end of git revision REV (e.g. HEAD~1) in the same rounds, as the "
        "'baseline' rows: before/after under the same load",
    )
    args = parser.parse_args()

    import librosa
    import numpy as np
    import torch
    import torchaudio

    from audiogen.audio.features import LogMelSpectrogram, MelSpectrogram
    from audiogen.config import MelConfig

    torch.set_num_threads(args.threads)
    cfg = MelConfig(
        sample_rate=args.sample_rate,
        n_fft=args.n_fft,
        hop_length=args.hop_length,
        n_mels=args.n_mels,
        power=args.power,
        mel_scale="slaney",
        norm="slaney",
    )
    gen = torch.Generator().manual_seed(args.seed)
    seconds = args.min_seconds + (args.max_seconds - args.min_seconds) * torch.rand(args.batch, generator=gen)
    lengths = (seconds * cfg.sample_rate).long()
    samples = int(lengths.max())
    waveform = 0.1 * torch.randn(args.batch, samples, generator=gen)
    waveform *= (torch.arange(samples)[None] < lengths[:, None]).float()  # zero padding
    clips = [waveform[i, :n].numpy() for i, n in enumerate(lengths.tolist())]
    audio_seconds = float(lengths.sum()) / cfg.sample_rate

    ours = MelSpectrogram(cfg)
    ours_padded = MelSpectrogram(cfg, pack_lengths=False)
    ours_log = LogMelSpectrogram(cfg)
    ta = torchaudio.transforms.MelSpectrogram(
        sample_rate=cfg.sample_rate,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        n_mels=cfg.n_mels,
        power=cfg.power,
        center=True,
        pad_mode="reflect",
        norm="slaney",
        mel_scale="slaney",
    )

    def run_librosa() -> None:
        for clip in clips:
            librosa.feature.melspectrogram(
                y=clip,
                sr=cfg.sample_rate,
                n_fft=cfg.n_fft,
                hop_length=cfg.hop_length,
                n_mels=cfg.n_mels,
                power=cfg.power,
                center=True,
                pad_mode="reflect",
                htk=False,
                norm="slaney",
            )

    # sanity: the peers compute the same thing (librosa reference on clip 0)
    ref = librosa.feature.melspectrogram(
        y=clips[0], sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length, n_mels=cfg.n_mels,
        power=cfg.power, pad_mode="reflect",
    )
    got = ours(waveform, lengths).mel[0, :, : ref.shape[1]].numpy()
    rel = float(np.abs(got - ref).max() / np.abs(ref).max())

    peers = [
        ("ours MelSpectrogram (packed, host lengths)", lambda: ours(waveform, lengths)),
        ("ours MelSpectrogram (padded path)", lambda: ours_padded(waveform, lengths)),
        ("ours LogMelSpectrogram (packed)", lambda: ours_log(waveform, lengths)),
        ("librosa.feature.melspectrogram per clip", run_librosa),
        ("torchaudio MelSpectrogram (padded batch)", lambda: ta(waveform)),
    ]
    if args.baseline:
        base_mel, base_log = _baseline_front_end(args.baseline)
        base, base_padded, base_logmel = base_mel(cfg), base_mel(cfg, pack_lengths=False), base_log(cfg)
        base_out = base(waveform, lengths).mel
        base_diff = float((ours(waveform, lengths).mel - base_out).abs().max() / base_out.abs().max())
        peers += [
            (f"baseline {args.baseline} MelSpectrogram (packed)", lambda: base(waveform, lengths)),
            (
                f"baseline {args.baseline} MelSpectrogram (padded path)",
                lambda: base_padded(waveform, lengths),
            ),
            (f"baseline {args.baseline} LogMelSpectrogram (packed)", lambda: base_logmel(waveform, lengths)),
        ]
    timings = _time_round_robin(peers, args.warmup, args.repeats)

    print(
        f"torch {torch.__version__}, torchaudio {torchaudio.__version__}, librosa {librosa.__version__}, "
        f"threads {torch.get_num_threads()}"
    )
    print(
        f"batch: {args.batch} clips of {args.min_seconds:g}-{args.max_seconds:g} s at {cfg.sample_rate} Hz "
        f"(seed {args.seed}), {audio_seconds:.1f} s of audio, padded to {samples / cfg.sample_rate:.2f} s; "
        f"n_fft {cfg.n_fft}, hop {cfg.hop_length}, {cfg.n_mels} mels, power {cfg.power:g}"
    )
    print(f"check: ours vs librosa on clip 0, max abs diff / max = {rel:.2e}")
    print(f"warm-up {args.warmup}, repeats {args.repeats}\n")
    _print_table("CPU", timings, audio_seconds)
    by_name = {t.name: t for t in timings}
    best = by_name[peers[0][0]]
    for peer in (peers[3][0], peers[4][0]):
        ratio = speed_ratio(by_name[peer], best)
        ratio_best = by_name[peer].best / best.best
        print(
            f"ours (packed) / {peer.split()[0]} throughput: {ratio:.2f}x (median of {args.repeats} "
            f"per-round ratios; best / best {ratio_best:.2f}x)"
        )
    if args.baseline:
        print(f"baseline {args.baseline}: max |ours - baseline| / max |baseline| = {base_diff:.2e}")
        for peer in (peers[3][0], peers[4][0]):
            ratio = speed_ratio(by_name[peer], by_name[peers[5][0]])
            print(f"baseline (packed) / {peer.split()[0]} throughput: {ratio:.2f}x (median per-round ratio)")
        for k, what in enumerate(("packed", "padded path", "log-mel packed")):
            ratio = speed_ratio(by_name[peers[5 + k][0]], by_name[peers[k][0]])
            print(f"ours / baseline throughput, {what}: {ratio:.2f}x (median per-round ratio)")

    split = _stage_split(lambda: ours(waveform, lengths), args.repeats)
    _print_split("CPU, ours MelSpectrogram (packed)", split)

    if torch.cuda.is_available() and not args.no_cuda:
        device = torch.device("cuda")
        wave_d = waveform.to(device)
        lengths_d = lengths.to(device)
        ours_d, ta_d = ours.to(device), ta.to(device)
        sync = torch.cuda.synchronize
        gpu_peers = [
            ("ours MelSpectrogram (device lengths, padded)", lambda: ours_d(wave_d, lengths_d)),
            ("ours MelSpectrogram (host lengths, packed)", lambda: ours_d(wave_d, lengths)),
            ("torchaudio MelSpectrogram (padded batch)", lambda: ta_d(wave_d)),
        ]
        gpu = _time_round_robin(gpu_peers, args.warmup, args.repeats, sync)
        print(f"\nGPU: {torch.cuda.get_device_name(device)}")
        _print_table("CUDA", gpu, audio_seconds)
        for t in gpu[:2]:
            print(
                f"{t.name} / torchaudio throughput: {speed_ratio(gpu[2], t):.2f}x (median of "
                f"{args.repeats} per-round ratios; best / best {gpu[2].best / t.best:.2f}x)"
            )
        split_d = _stage_split(lambda: ours_d(wave_d, lengths_d), args.repeats)
        _print_split("CUDA, ours (device lengths)", split_d)


def _baseline_front_end(rev: str) -> tuple[type, type]:
    """``MelSpectrogram`` and ``LogMelSpectrogram`` of the ``audiogen/audio`` package at git revision ``rev``.

    The package's files are written to a temporary folder as ``audiogen_baseline.audio`` (imports of
    ``audiogen.audio.*`` inside them renamed to match) and imported beside the current one; the rest
    of ``audiogen`` (``MelConfig``) is the current one.
    """
    import importlib
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    names = subprocess.run(
        ["git", "ls-tree", "--name-only", rev, "audiogen/audio/"],
        cwd=root, check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    folder = Path(tempfile.mkdtemp(prefix="bench_spectral_")) / "audiogen_baseline"
    (folder / "audio").mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    for name in names:
        if name.endswith(".py"):
            text = subprocess.run(
                ["git", "show", f"{rev}:{name}"], cwd=root, check=True, capture_output=True, text=True
            ).stdout
            (folder / "audio" / Path(name).name).write_text(
                text.replace("audiogen.audio.", "audiogen_baseline.audio.")
            )
    sys.path.insert(0, str(folder.parent))
    module = "features" if (folder / "audio" / "features.py").exists() else "spectral"
    mod = importlib.import_module(f"audiogen_baseline.audio.{module}")
    return mod.MelSpectrogram, mod.LogMelSpectrogram


def _print_table(title: str, timings: list[Timing], audio_seconds: float) -> None:
    """Markdown table: peer, best / median ms, audio-seconds per second."""
    print(f"| {title} peer | best ms | median ms | audio-s/s (best) | audio-s/s (median) |")
    print("|---|---:|---:|---:|---:|")
    for t in timings:
        print(
            f"| {t.name} | {t.best * 1e3:.1f} | {t.median * 1e3:.1f} | {audio_seconds / t.best:,.0f} "
            f"| {audio_seconds / t.median:,.0f} |"
        )


def _print_split(title: str, split: dict[str, tuple[float, float]]) -> None:
    """Per-stage time of our front end, with the FFT vs filterbank comparison."""
    total = sum(best for best, _ in split.values())
    print(f"\nstage split, {title} (wall clock per stage, best / median over the runs):")
    print("| stage | best ms | median ms | share of summed best |")
    print("|---|---:|---:|---:|")
    for key, (best, median) in sorted(split.items(), key=lambda kv: -kv[1][0]):
        print(f"| {key} | {best * 1e3:.1f} | {median * 1e3:.1f} | {best / total:.0%} |")
    fft, fb = split.get("spectral.fft", (0.0, 0.0))[0], split.get("spectral.filterbank", (0.0, 0.0))[0]
    limit = "FFT" if fft > fb else "filterbank"
    print(f"FFT {fft * 1e3:.1f} ms vs filterbank {fb * 1e3:.1f} ms (best): the {limit} limits")


if __name__ == "__main__":
    main()
