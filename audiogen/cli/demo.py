"""``audiogen demo``: a mel round trip on a clip the command synthesises itself.

Until generation lands this is the quickest way to see the front end work: it writes a test
signal, its log-mel spectrogram as a PNG, and a Griffin-Lim reconstruction from the mel.
"""

from __future__ import annotations

import math
from pathlib import Path

import typer

from audiogen.audio.levels import DB_PER_NEPER
from audiogen.errors import InputError


def _test_signal(sample_rate: int, seconds: float):
    """A rising chirp over a C-major triad with a decaying envelope, shape ``(1, samples)``."""
    import torch

    t = torch.arange(int(seconds * sample_rate), dtype=torch.float64) / sample_rate
    f0, f1 = 110.0, 3520.0
    phase = 2 * math.pi * f0 * seconds / math.log(f1 / f0) * (torch.exp(t / seconds * math.log(f1 / f0)) - 1)
    chirp = 0.3 * torch.sin(phase)
    chord = sum(0.15 * torch.sin(2 * math.pi * f * t) for f in (261.63, 329.63, 392.0))
    envelope = torch.exp(-((t % 1.0) * 2.0))
    return ((chirp + chord * envelope) * 0.8).to(torch.float32).unsqueeze(0)


def demo(
    out: Path = typer.Option(Path("demo"), "--out", help="Folder to write the demo files into."),
    seconds: float = typer.Option(4.0, min=0.5, max=60.0, help="Length of the test signal in seconds."),
    n_iter: int = typer.Option(32, "--n-iter", min=1, help="Griffin-Lim iterations."),
    overwrite: bool = typer.Option(False, help="Replace files already in OUT."),
) -> None:
    """Synthesise a test clip, compute its log-mel spectrogram, and invert it with Griffin-Lim.

    Writes OUT/input.wav, OUT/mel.png (spectrogram image) and OUT/griffin_lim.wav, and prints the
    mel L1 distance in dB between the input and the reconstruction.
    """
    from audiogen.audio.features import LogMelSpectrogram
    from audiogen.audio.inverse import griffin_lim
    from audiogen.audio.io import load_audio, save_audio
    from audiogen.config import MelConfig
    from audiogen.evaluation.plotting import save_mel_png

    cfg = MelConfig()
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in ("input.wav", "mel.png", "griffin_lim.wav")}
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise InputError(f"{', '.join(existing)} already exist; pass --overwrite to replace them")

    save_audio(paths["input.wav"], _test_signal(cfg.sample_rate, seconds), cfg.sample_rate)
    clip = load_audio(paths["input.wav"], sample_rate=cfg.sample_rate, channels=1)
    frontend = LogMelSpectrogram(cfg)
    log_mel = frontend(clip.waveform).mel  # (1, n_mels, frames)
    save_mel_png(paths["mel.png"], log_mel[0], cfg, title="input log-mel")
    recon = griffin_lim(log_mel, cfg, n_iter=n_iter, length=clip.waveform.shape[-1])  # (1, samples)
    save_audio(paths["griffin_lim.wav"], recon, cfg.sample_rate)
    recon_mel = frontend(recon).mel
    frames = min(log_mel.shape[-1], recon_mel.shape[-1])
    l1_db = DB_PER_NEPER * (log_mel[..., :frames] - recon_mel[..., :frames]).abs().mean().item()
    for p in paths.values():
        typer.echo(f"wrote {p}")
    typer.echo(f"mel L1 input vs Griffin-Lim ({n_iter} iterations): {l1_db:.2f} dB")
