"""``audiogen encode`` / ``audiogen decode``: audio ↔ VAE latent files.

A latent file is a safetensors file with one tensor, ``latent`` ``(latent_dim, latent_frames)``
(scaled: ``raw * latent_scale``, what the latent generator sees), and a JSON header entry
``audiogen`` holding ``format``, ``sample_rate`` (Hz), ``mel`` (the front-end settings),
``latent_scale``, ``time_downsample``, ``frames`` (mel frames) and ``samples`` (audio length), so
decoding restores the original length. Decoding goes latent → mel → waveform with Griffin-Lim
(:func:`audiogen.audio.inverse.griffin_lim`) until a trained vocoder is wired in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from audiogen.errors import InputError, RunError

LATENT_FORMAT = "audiogen-latent/1"


@dataclass
class LatentFile:
    """Contents of a latent file.

    Attributes:
        latent: scaled latent ``(latent_dim, latent_frames)``, float32.
        meta: the ``audiogen`` header (see the module docstring).
    """

    latent: Any
    meta: dict[str, Any]


def save_latent_file(path: str | Path, latent: Any, meta: dict[str, Any]) -> Path:
    """Write ``latent`` ``(latent_dim, latent_frames)`` and ``meta`` as a latent file (atomically).

    Raises:
        ValueError: if ``latent`` is not 2-D.
    """
    from audiogen.models.pretrained import save_tensors_atomic

    if latent.dim() != 2:
        raise ValueError(f"latent must be (latent_dim, latent_frames), got {tuple(latent.shape)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"audiogen": json.dumps({"format": LATENT_FORMAT, **meta}, sort_keys=True)}
    return save_tensors_atomic(path, {"latent": latent.float()}, metadata=header)


def load_latent_file(path: str | Path) -> LatentFile:
    """Read a latent file written by :func:`save_latent_file`.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if it is not a readable safetensors file with an ``audiogen`` latent header.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"latent file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = (f.metadata() or {}).get("audiogen")
            latent = f.get_tensor("latent") if "latent" in f.keys() else None
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{path}: not a readable safetensors file ({e})") from e
    if header is None or latent is None:
        raise ValueError(
            f"{path}: not an audiogen latent file (needs a 'latent' tensor and 'audiogen' header)"
        )
    meta = json.loads(header)
    if meta.get("format") != LATENT_FORMAT:
        raise ValueError(
            f"{path}: unsupported latent format {meta.get('format')!r}, expected {LATENT_FORMAT}"
        )
    return LatentFile(latent=latent, meta=meta)


def _load_autoencoder(checkpoint: Path, device: str):
    from audiogen.hub import load_model

    return load_model(checkpoint, "autoencoder", device)


CHECKPOINT = typer.Option(
    ...,
    "--checkpoint",
    help="Autoencoder: a model folder, a checkpoint folder, or a run folder (newest checkpoint).",
)
DEVICE = typer.Option("cpu", "--device", help="torch device, e.g. cpu or cuda.")


def encode(
    audio: Path = typer.Argument(
        ..., metavar="AUDIO", exists=True, dir_okay=False, help="Audio file to encode."
    ),
    out: Path = typer.Option(..., "--out", help="Latent file to write (.safetensors)."),
    checkpoint: Path = CHECKPOINT,
    sample: bool = typer.Option(False, "--sample", help="Sample the posterior instead of taking its mean."),
    device: str = DEVICE,
) -> None:
    """Encode AUDIO (mixed to mono, resampled to the model's rate) to a VAE latent file."""
    import torch

    from audiogen.audio.features import LogMelSpectrogram
    from audiogen.audio.io import AudioLoadError, load_audio
    from audiogen.pipelines.checks import check_input_audio

    check_input_audio(audio)
    try:
        model = _load_autoencoder(checkpoint, device)
        cfg = model.mel_config
        clip = load_audio(audio, sample_rate=cfg.sample_rate, channels=1)
    except (FileNotFoundError, ValueError, AudioLoadError) as e:
        raise InputError(str(e)) from e  # bad input: exit 2, as in every command
    with torch.no_grad():
        mel = LogMelSpectrogram(cfg).to(device)(clip.waveform.to(device)).mel  # (1, n_mels, frames)
        latent = model.encode(mel, sample=sample)[0]
    meta = {
        "sample_rate": cfg.sample_rate,
        "mel": cfg.to_dict(),
        "latent_scale": float(model.latent_scale),
        "time_downsample": model.time_downsample,
        "frames": int(mel.shape[-1]),
        "samples": int(clip.waveform.shape[-1]),
        "source": str(audio),
    }
    save_latent_file(out, latent.cpu(), meta)
    typer.echo(f"wrote {out}: latent {tuple(latent.shape)} from {mel.shape[-1]} mel frames")


def decode(
    latent_path: Path = typer.Argument(
        ..., metavar="LATENT", exists=True, dir_okay=False, help="Latent file (.safetensors)."
    ),
    out: Path = typer.Option(..., "--out", help="Audio file to write (.wav, .flac, ...)."),
    checkpoint: Path = CHECKPOINT,
    n_iter: int = typer.Option(32, "--n-iter", min=1, help="Griffin-Lim iterations."),
    device: str = DEVICE,
) -> None:
    """Decode a latent file to audio: VAE decoder → log-mel → Griffin-Lim."""
    import torch

    from audiogen.audio.inverse import griffin_lim
    from audiogen.audio.io import output_format, save_audio
    from audiogen.config import MelConfig, from_dict

    try:
        output_format(out)  # before any work: a bad --out would otherwise fail only at the end
        model = _load_autoencoder(checkpoint, device)
        data = load_latent_file(latent_path)
        cfg = model.mel_config
        if from_dict(MelConfig, data.meta["mel"]) != cfg:
            raise ValueError(
                f"{latent_path}: encoded with mel settings {data.meta['mel']}, but the "
                f"autoencoder in {checkpoint} uses {cfg.to_dict()}"
            )
        if data.latent.shape[0] != model.latent_dim:
            raise ValueError(
                f"{latent_path}: latent has {data.latent.shape[0]} channels, the autoencoder "
                f"expects {model.latent_dim}"
            )
    except (FileNotFoundError, ValueError, KeyError) as e:  # bad input: exit 2
        raise InputError(str(e)) from e
    frames = data.meta.get("frames")
    with torch.no_grad():
        mel = model.decode(data.latent[None].to(device), frames=frames)
        wav = griffin_lim(mel.float(), cfg, n_iter=n_iter, length=data.meta.get("samples"))
    try:
        save_audio(out, wav.cpu(), cfg.sample_rate)
    except (OSError, ValueError) as e:
        raise RunError(str(e)) from e
    typer.echo(f"wrote {out}: {wav.shape[-1] / cfg.sample_rate:.2f} s at {cfg.sample_rate} Hz (Griffin-Lim)")
