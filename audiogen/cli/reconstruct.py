"""``audiogen reconstruct`` (audio → mel → VAE → vocoder → audio) and ``audiogen eval reconstruct``.

Model folders may be model folders (``config.json`` + ``model.safetensors``), pipeline folders
(``autoencoder/``, ``vocoder/``), training checkpoints or run folders (newest complete checkpoint,
EMA weights). When ``--vocoder`` / ``--autoencoder`` are left out, the bundled default model in
``audiogen/assets/default/`` (:data:`audiogen.hub.DEFAULT_PIPELINE`) is used if it is there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from audiogen import hub
from audiogen.cli.options import PlainUsage
from audiogen.errors import InputError, RunError

eval_app = typer.Typer(no_args_is_help=True)

AUTOENCODER = typer.Option(
    None,
    "--autoencoder",
    help="Mel VAE: model, pipeline, checkpoint or run folder (default: the bundled default model).",
)
VOCODER = typer.Option(
    None,
    "--vocoder",
    help="Vocoder: model, pipeline, checkpoint or run folder (default: the bundled default model).",
)
NO_VAE = typer.Option(False, "--no-vae", help="Skip the VAE: vocode the audio's own mel.")
DEVICE = typer.Option(None, "--device", help="torch device, e.g. cpu or cuda (default: cuda if available).")


class MissingModelError(FileNotFoundError):
    """A stage's model was not given and the bundled default model does not have it."""


def resolve_model_dir(given: Path | None, stage: str, option: str) -> Path:
    """The folder to load ``stage`` (``"vocoder"`` / ``"autoencoder"``) from.

    ``given`` if set; else :data:`audiogen.hub.DEFAULT_PIPELINE` when it holds ``stage/``.

    Raises:
        MissingModelError: if ``given`` is ``None`` and there is no bundled default for ``stage``
            (the message names the option and the missing folder).
    """
    if given is not None:
        return given
    default = hub.DEFAULT_PIPELINE / stage
    if (default / hub.CONFIG_NAME).is_file():
        return hub.DEFAULT_PIPELINE
    raise MissingModelError(
        f"no {stage} given: pass {option} DIR (a model folder, checkpoint or training run), or install the "
        f"bundled default model; {default} does not exist"
    )


def print_report(report: Any, json_out: Path | None, written: str | None = None) -> None:
    """Print ``report.table()``; with ``json_out``, also write ``report.to_dict()`` there as JSON;
    then the line ``written`` (what else the command wrote), if any.

    Shared by ``audiogen eval reconstruct`` and ``audiogen eval generate`` (any report with
    ``table()`` and ``to_dict()``). Creates ``json_out``'s folder.
    """
    typer.echo(report.table())
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        typer.echo(f"wrote {json_out}")
    if written:
        typer.echo(written)


def _device(device: str | None) -> str:
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def reconstruct(
    audio: Path = typer.Argument(
        ..., metavar="AUDIO", exists=True, dir_okay=False, help="Audio file to reconstruct."
    ),
    out: Path = typer.Option(..., "--out", help="Audio file to write (.wav, .flac, ...)."),
    autoencoder: Path = AUTOENCODER,
    vocoder: Path = VOCODER,
    no_vae: bool = NO_VAE,
    device: str = DEVICE,
) -> None:
    """Reconstruct AUDIO through the model: log-mel → VAE (mean) → vocoder, written to OUT.

    The audio is resampled to the vocoder's rate; every channel is processed separately; the output
    has the (resampled) input's length and channels.
    """
    import torch
    from einops import rearrange

    from audiogen.audio.features import LogMelSpectrogram
    from audiogen.audio.io import AudioLoadError, load_audio, output_format, save_audio
    from audiogen.audio.levels import limit_peak
    from audiogen.evaluation.reconstruction import check_same_front_end
    from audiogen.hub import load_model
    from audiogen.pipelines.checks import check_input_audio, check_writable_location

    check_input_audio(audio)
    dev = _device(device)
    try:
        output_format(out)  # before any work: a bad --out would otherwise fail only at the end
        check_writable_location(out, "--out", is_file=True)
        vocoder_dir = resolve_model_dir(vocoder, "vocoder", "--vocoder")
        voc = load_model(vocoder_dir, "vocoder", dev)
        vae = None
        if not no_vae:
            autoencoder_dir = resolve_model_dir(autoencoder, "autoencoder", "--autoencoder")
            vae = load_model(autoencoder_dir, "autoencoder", dev)
            check_same_front_end(voc, vae, vocoder_dir, autoencoder_dir)
        cfg = voc.mel_config
        clip = load_audio(audio, sample_rate=cfg.sample_rate)
        clip.waveform = limit_peak(clip.waveform)  # above full scale (MP3 overshoot) → -1 dBFS
    except (FileNotFoundError, ValueError, AudioLoadError) as e:
        raise InputError(str(e)) from e  # bad input: exit 2, as in every command
    samples = clip.waveform.shape[-1]
    with torch.no_grad():
        mel = LogMelSpectrogram(cfg).to(dev)(clip.waveform.to(dev)).mel  # (channels, n_mels, frames)
        if vae is not None:
            mel = vae.decode(vae.encode(mel), frames=mel.shape[-1])
        wav = rearrange(voc(mel.float())[..., :samples], "c 1 n -> c n")
    try:
        save_audio(out, wav.float().cpu(), cfg.sample_rate)
    except (OSError, ValueError) as e:
        raise RunError(str(e)) from e
    route = "mel → vocoder" if vae is None else "mel → VAE → vocoder"
    typer.echo(
        f"wrote {out}: {samples / cfg.sample_rate:.2f} s, {wav.shape[0]} channel(s) at {cfg.sample_rate} Hz "
        f"({route})"
    )


@eval_app.command("reconstruct", cls=PlainUsage)
def eval_reconstruct(
    manifest: Path = typer.Argument(
        ..., metavar="MANIFEST", exists=True, dir_okay=False, help="JSONL manifest."
    ),
    split: str = typer.Option("test", "--split", help="Manifest split to evaluate (held-out audio)."),
    vocoder: Path = VOCODER,
    autoencoder: Path = AUTOENCODER,
    no_vae: bool = typer.Option(False, "--no-vae", help="Leave out the VAE + vocoder row."),
    max_clips: int = typer.Option(None, "--max-clips", min=1, help="Evaluate at most N clips."),
    seconds: float = typer.Option(None, "--seconds", min=0.1, help="Use the first S seconds of each file."),
    n_iter: int = typer.Option(32, "--n-iter", min=1, help="Griffin-Lim iterations."),
    json_out: Path = typer.Option(None, "--json", help="Also write the report as JSON here."),
    png: Path = typer.Option(None, "--png", help="Write the first clip's spectrograms as a PNG here."),
    device: str = DEVICE,
) -> None:
    """Griffin-Lim vs vocoder vs VAE + vocoder on held-out clips: mel L1 (dB) and MR-STFT distance.

    Prints a table (method × metric, means over clips); --json writes the report (with per-clip
    numbers), --png the first clip's log-mels (true / Griffin-Lim / vocoder / VAE + vocoder).
    """
    from audiogen.audio.io import AudioLoadError
    from audiogen.evaluation.reconstruction import evaluate_reconstruction

    try:
        vocoder_dir = resolve_model_dir(vocoder, "vocoder", "--vocoder")
        autoencoder_dir = None if no_vae else resolve_model_dir(autoencoder, "autoencoder", "--autoencoder")
        report = evaluate_reconstruction(
            manifest,
            split=split,
            vocoder_dir=vocoder_dir,
            autoencoder_dir=autoencoder_dir,
            max_clips=max_clips,
            seconds=seconds,
            n_iter=n_iter,
            device=_device(device),
            png_path=png,
        )
    except (FileNotFoundError, ValueError, AudioLoadError) as e:
        raise InputError(str(e)) from e
    print_report(report, json_out, png and f"wrote {png}")
