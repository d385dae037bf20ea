"""Speed of audiogen's vocoder against Vocos and HiFi-GAN V1, in one process, on CPU (and GPU).

Usage::

    .venv/bin/python benchmarks/bench_vocoder.py                 # CPU with 2 threads, GPU if present
    .venv/bin/python benchmarks/bench_vocoder.py --threads 1 --seconds 10 --repeats 15

Models (random weights: speed does not depend on them):

* ``ours``: :class:`audiogen.models.vocoder.VocosVocoder` with its default :class:`VocoderConfig`
  (22 050 Hz, 80 mels, hop 256, 8 ConvNeXt blocks × 256 channels, iSTFT head n_fft 1024).
* ``vocos``: Vocos' published mel configuration (``configs/vocos.yaml`` of
  https://github.com/gemelo-ai/vocos: 24 kHz, 100 mels, hop 256, n_fft 1024, ConvNeXt dim 512,
  intermediate 1536, 8 layers, ISTFTHead with ``padding="center"``), re-implemented below as in
  ``vocos/models.py::VocosBackbone`` and ``vocos/heads.py::ISTFTHead``.
* ``hifigan-v1``: HiFi-GAN V1 (``config_v1.json`` of https://github.com/jik876/hifi-gan: 22 050 Hz,
  80 mels, hop 256, upsample rates 8, 8, 2, 2, kernels 16, 16, 4, 4, initial channel 512, ResBlock1
  with kernels 3, 7, 11 and dilations 1, 3, 5), re-implemented below as ``models.py::Generator`` after
  ``remove_weight_norm`` (plain convolutions, as at inference).
* ``ours@vocos-size``: our implementation at Vocos' width (512 / 1536), to separate the effect of
  the smaller configuration from that of the implementation.
* ``gl-refine``: the hybrid :class:`audiogen.models.vocoder.GLRefineVocoder` with its default
  :class:`GLRefineConfig` (NNLS mel inversion + 32 fast Griffin-Lim iterations + a 4-block × 160
  channel ConvNeXt refiner), on the same front end as ``ours``.
* ``gl-refine-loop``: the same model's ``vocode_circular`` (the mel as one period of a loop, what
  ``audiogen loop`` runs: Griffin-Lim, refiner and inverse STFT wrap around).
* ``griffin-lim-32``: :func:`audiogen.audio.inverse.griffin_lim` with 32 iterations (the
  no-training baseline of ``audiogen eval reconstruct``), same front end.

The GFLOP column counts matmuls and convolutions only (``torch.utils.flop_counter``); the FFTs of
the Griffin-Lim iterations are not counted, so it understates the two Griffin-Lim rows.

Input matching: each model gets a mel of ``round(seconds * sample_rate / hop_length)`` frames at its
own sample rate and hop (10 s of audio by default: 861 frames at 22 050 Hz, 938 at 24 kHz), batch 1,
so each generates the same duration. Timing: ``torch.inference_mode``, warm-up calls, then
``--repeats`` rounds in which every model runs once (interleaved, so load from other processes hits
all models alike); the median wall time per model is reported (CUDA: synchronised).
Columns: ``x realtime`` = audio seconds per wall second; ``RTF`` = wall seconds per audio second.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# --------------------------------------------------------------------------------------------
# Vocos (gemelo-ai/vocos, published mel config), re-implemented for timing
# --------------------------------------------------------------------------------------------


class _VocosConvNeXtBlock(nn.Module):
    """``vocos/modules.py::ConvNeXtBlock`` (no AdaLayerNorm): channels-first with transposes."""

    def __init__(self, dim: int, intermediate_dim: int, layer_scale_init_value: float):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(layer_scale_init_value * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        x = self.dwconv(x).transpose(1, 2)
        x = self.pwconv2(self.act(self.pwconv1(self.norm(x))))
        x = (self.gamma * x).transpose(1, 2)
        return residual + x


class VocosReference(nn.Module):
    """Vocos ``VocosBackbone`` + ``ISTFTHead(padding="center")``: mel ``(1, 100, frames)`` → audio.

    Output ``(batch, (frames - 1) * hop_length)`` as ``torch.istft(center=True)`` without ``length``.
    """

    sample_rate, hop_length, n_mels = 24000, 256, 100

    def __init__(self, dim: int = 512, intermediate_dim: int = 1536, num_layers: int = 8, n_fft: int = 1024):
        super().__init__()
        self.n_fft = n_fft
        self.embed = nn.Conv1d(self.n_mels, dim, kernel_size=7, padding=3)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.convnext = nn.ModuleList(
            _VocosConvNeXtBlock(dim, intermediate_dim, 1 / num_layers) for _ in range(num_layers)
        )
        self.final_layer_norm = nn.LayerNorm(dim, eps=1e-6)
        self.out = nn.Linear(dim, n_fft + 2)
        self.register_buffer("window", torch.hann_window(n_fft))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.embed(mel)
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        for block in self.convnext:
            x = block(x)
        x = self.final_layer_norm(x.transpose(1, 2))
        x = self.out(x).transpose(1, 2)
        mag, p = x.chunk(2, dim=1)
        mag = torch.clip(torch.exp(mag), max=1e2)
        spec = mag * (torch.cos(p) + 1j * torch.sin(p))
        return torch.istft(spec, self.n_fft, self.hop_length, self.n_fft, self.window, center=True)


# --------------------------------------------------------------------------------------------
# HiFi-GAN V1 (jik876/hifi-gan, config_v1.json), re-implemented for timing
# --------------------------------------------------------------------------------------------

_LRELU_SLOPE = 0.1


def _padding(kernel_size: int, dilation: int) -> int:
    return (kernel_size * dilation - dilation) // 2


class _ResBlock1(nn.Module):
    """``models.py::ResBlock1`` with weight norm removed."""

    def __init__(self, channels: int, kernel_size: int, dilation: tuple[int, ...]):
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, 1, dilation=d, padding=_padding(kernel_size, d))
            for d in dilation
        )
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, 1, dilation=1, padding=_padding(kernel_size, 1))
            for _ in dilation
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            xt = c2(F.leaky_relu(c1(F.leaky_relu(x, _LRELU_SLOPE)), _LRELU_SLOPE))
            x = xt + x
        return x


class HiFiGANV1(nn.Module):
    """``models.py::Generator``, ``config_v1.json``: mel ``(1, 80, frames)`` → ``(1, 1, frames * 256)``."""

    sample_rate, hop_length, n_mels = 22050, 256, 80

    def __init__(
        self,
        upsample_rates: tuple[int, ...] = (8, 8, 2, 2),
        upsample_kernel_sizes: tuple[int, ...] = (16, 16, 4, 4),
        upsample_initial_channel: int = 512,
        resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11),
        resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5)),
    ):
        super().__init__()
        self.num_kernels = len(resblock_kernel_sizes)
        self.conv_pre = nn.Conv1d(self.n_mels, upsample_initial_channel, 7, 1, padding=3)
        self.ups = nn.ModuleList(
            nn.ConvTranspose1d(
                upsample_initial_channel // (2**i),
                upsample_initial_channel // (2 ** (i + 1)),
                k,
                u,
                padding=(k - u) // 2,
            )
            for i, (u, k) in enumerate(zip(upsample_rates, upsample_kernel_sizes, strict=True))
        )
        self.resblocks = nn.ModuleList()
        for i in range(len(self.ups)):
            ch = upsample_initial_channel // (2 ** (i + 1))
            for k, d in zip(resblock_kernel_sizes, resblock_dilation_sizes, strict=True):
                self.resblocks.append(_ResBlock1(ch, k, d))
        self.conv_post = nn.Conv1d(ch, 1, 7, 1, padding=3)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(mel)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, _LRELU_SLOPE))
            xs = None
            for j in range(self.num_kernels):
                y = self.resblocks[i * self.num_kernels + j](x)
                xs = y if xs is None else xs + y
            x = xs / self.num_kernels
        return torch.tanh(self.conv_post(F.leaky_relu(x)))


# --------------------------------------------------------------------------------------------
# Benchmark
# --------------------------------------------------------------------------------------------


@dataclass
class Entry:
    """One model under test."""

    name: str
    model: nn.Module
    sample_rate: int
    hop_length: int
    n_mels: int


@dataclass
class Result:
    """Timing of one model on one device."""

    name: str
    params: int
    frames: int
    audio_seconds: float
    wall_seconds: float
    gflop_per_audio_second: float

    @property
    def x_realtime(self) -> float:
        """Audio seconds generated per wall second."""
        return self.audio_seconds / self.wall_seconds

    @property
    def rtf(self) -> float:
        """Wall seconds per audio second."""
        return self.wall_seconds / self.audio_seconds


class GriffinLimBaseline(nn.Module):
    """:func:`audiogen.audio.inverse.griffin_lim` as a module: log-mel ``(batch, n_mels, frames)`` →
    waveform ``(batch, (frames - 1) * hop_length)`` (``n_iter`` fast Griffin-Lim iterations)."""

    def __init__(self, mel_config, n_iter: int = 32):
        super().__init__()
        self.mel_config, self.n_iter = mel_config, n_iter

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """``(batch, n_mels, frames)`` → ``(batch, samples)``."""
        from audiogen.audio.inverse import griffin_lim

        return griffin_lim(mel, self.mel_config, n_iter=self.n_iter)


class CircularVocode(nn.Module):
    """A vocoder's ``vocode_circular`` (one period of a loop, as ``audiogen loop`` vocodes) as a module:
    log-mel ``(batch, n_mels, frames)`` → waveform ``(batch, 1, frames * hop_length)``."""

    def __init__(self, vocoder: nn.Module):
        super().__init__()
        self.vocoder = vocoder

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """``(batch, n_mels, frames)`` → ``(batch, 1, samples)``."""
        return self.vocoder.vocode_circular(mel)


def build_entries() -> list[Entry]:
    """Ours, Vocos, HiFi-GAN V1, ours at Vocos' width, the hybrid (also as a loop) and Griffin-Lim."""
    from audiogen.models.vocoder import GLRefineConfig, GLRefineVocoder, VocoderConfig, VocosVocoder

    ours = VocosVocoder(VocoderConfig())
    wide = VocosVocoder(VocoderConfig(dim=512, intermediate_dim=1536, num_layers=8))
    mel = ours.config.mel
    hybrid = GLRefineVocoder(GLRefineConfig(mel=mel))
    return [
        Entry("ours", ours, mel.sample_rate, mel.hop_length, mel.n_mels),
        Entry("vocos", VocosReference(), VocosReference.sample_rate, 256, 100),
        Entry("hifigan-v1", HiFiGANV1(), HiFiGANV1.sample_rate, 256, 80),
        Entry("ours@vocos-size", wide, mel.sample_rate, mel.hop_length, mel.n_mels),
        Entry("gl-refine", hybrid, mel.sample_rate, mel.hop_length, mel.n_mels),
        Entry("gl-refine-loop", CircularVocode(hybrid), mel.sample_rate, mel.hop_length, mel.n_mels),
        Entry("griffin-lim-32", GriffinLimBaseline(mel), mel.sample_rate, mel.hop_length, mel.n_mels),
    ]


def gflop_per_audio_second(entry: Entry) -> float:
    """Matmul / convolution GFLOPs (``torch.utils.flop_counter``, 2 per multiply-add) per audio second.

    Counted on 1 s of input on the CPU; these operations scale linearly with length.
    """
    from torch.utils.flop_counter import FlopCounterMode

    frames = round(entry.sample_rate / entry.hop_length)
    mel = torch.zeros(1, entry.n_mels, frames)
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        entry.model.cpu()(mel)
    return counter.get_total_flops() / 1e9 / (frames * entry.hop_length / entry.sample_rate)


def run(
    entries: list[Entry], device: torch.device, seconds: float, repeats: int, warmup: int
) -> list[Result]:
    """Time every entry on ``device`` with interleaved repeats; return medians."""
    flops = {e.name: gflop_per_audio_second(e) for e in entries}

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    gen = torch.Generator().manual_seed(0)
    inputs, times = {}, {e.name: [] for e in entries}
    for e in entries:
        e.model.to(device).eval()
        frames = round(seconds * e.sample_rate / e.hop_length)
        # Log-mel-like values: natural-log amplitudes roughly in [-11.5, 2].
        inputs[e.name] = (torch.randn(1, e.n_mels, frames, generator=gen) * 2 - 5).to(device)
    with torch.inference_mode():
        for e in entries:
            for _ in range(warmup):
                e.model(inputs[e.name])
        sync()
        for _ in range(repeats):
            for e in entries:
                sync()
                start = time.perf_counter()
                e.model(inputs[e.name])
                sync()
                times[e.name].append(time.perf_counter() - start)
    results = []
    for e in entries:
        frames = inputs[e.name].shape[-1]
        results.append(
            Result(
                name=e.name,
                params=sum(p.numel() for p in e.model.parameters()),
                frames=frames,
                audio_seconds=frames * e.hop_length / e.sample_rate,
                wall_seconds=statistics.median(times[e.name]),
                gflop_per_audio_second=flops[e.name],
            )
        )
    return results


def format_table(results: list[Result], title: str) -> str:
    """Markdown table of results with speed ratios of ``ours`` to the others."""
    by_name = {r.name: r for r in results}
    ours = by_name["ours"]
    lines = [
        f"### {title}",
        "",
        "| model | params (M) | GFLOP / audio s | frames | audio (s) | median wall (s) | x realtime | RTF "
        "| ours is × faster |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ratio = ours.x_realtime / r.x_realtime
        lines.append(
            f"| {r.name} | {r.params / 1e6:.2f} | {r.gflop_per_audio_second:.2f} | {r.frames} "
            f"| {r.audio_seconds:.2f} | {r.wall_seconds:.4f} | {r.x_realtime:.1f} | {r.rtf:.4f} "
            f"| {ratio:.2f} |"
        )
    lines += [
        "",
        f"ours/vocos speed ratio: {ours.x_realtime / by_name['vocos'].x_realtime:.2f}; "
        f"ours/hifigan-v1 speed ratio: {ours.x_realtime / by_name['hifigan-v1'].x_realtime:.2f}",
    ]
    if "gl-refine" in by_name:
        hybrid = by_name["gl-refine"]
        lines.append(
            "gl-refine speed relative to: "
            + ", ".join(
                f"{r.name} {hybrid.x_realtime / r.x_realtime:.2f}" for r in results if r is not hybrid
            )
            + " (> 1: gl-refine is faster)"
        )
    return "\n".join(lines)


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo, or ``platform.processor()``."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run the CPU (and GPU) benchmarks, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--seconds", type=float, default=10.0, help="audio duration per call (default 10)")
    parser.add_argument("--repeats", type=int, default=10, help="timed rounds (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per model (default 2)")
    parser.add_argument(
        "--device", choices=["all", "cpu", "cuda"], default="all", help="default: cpu, + cuda if present"
    )
    args = parser.parse_args(argv)
    if args.threads < 1 or args.repeats < 1 or args.seconds <= 0:
        parser.error("--threads and --repeats must be >= 1 and --seconds > 0")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(
        f"date {time.strftime('%Y-%m-%d %H:%M:%S %Z')} | torch {torch.__version__} | CPU {cpu_name()} "
        f"({os.cpu_count()} logical cores) | threads {torch.get_num_threads()} | load average before {load}"
    )
    devices = []
    if args.device in ("all", "cpu"):
        devices.append(torch.device("cpu"))
    if args.device in ("all", "cuda") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    elif args.device == "cuda":
        parser.error("--device cuda: CUDA is not available")
    entries = build_entries()
    for device in devices:
        results = run(entries, device, args.seconds, args.repeats, args.warmup)
        where = f"CPU, {args.threads} threads" if device.type == "cpu" else torch.cuda.get_device_name(device)
        print()
        print(format_table(results, f"{where}, batch 1, {args.seconds:g} s of audio per call"))
    if load is not None:
        print(f"\nload average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
