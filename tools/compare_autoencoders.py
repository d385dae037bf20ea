"""Spectrogram image: a real clip's log-mel beside what VAE + vocoder make of it, per autoencoder.

Each row after the first is ``vocoder(autoencoder.decode(autoencoder.encode(mel)))`` analysed again
with the same front end, so the picture shows what a listener gets, not only the decoded mel. The
vocoder is the one of ``--vocoder`` (default: the bundled pipeline's) for every row, or one
``--vocoder`` per ``--autoencoder`` (a pipeline folder for both: the same folder twice).

    .venv/bin/python tools/compare_autoencoders.py CLIP.flac OUT.png \\
        --autoencoder audiogen/assets/default --label "bundled decoder" \\
        --autoencoder runs/autoencoder-gan --label "adversarial decoder" --start 1.0 --seconds 1.5
    .venv/bin/python tools/compare_autoencoders.py CLIP.flac OUT.png \
        --autoencoder audiogen/assets/default --vocoder audiogen/assets/default --label v1 \
        --autoencoder runs/pipe-v2 --vocoder runs/pipe-v2 --label v2
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("clip", type=Path, help="audio file (any rate; resampled to the model's)")
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--autoencoder", action="append", required=True, help="autoencoder folder (repeat)")
    parser.add_argument("--label", action="append", default=None, help="row title per --autoencoder")
    parser.add_argument(
        "--vocoder", action="append", default=None,
        help="vocoder folder, once for every row or once per --autoencoder (default: the bundled pipeline)",
    )  # fmt: skip
    parser.add_argument("--start", type=float, default=1.0, help="zoom start in seconds")
    parser.add_argument("--seconds", type=float, default=1.5, help="zoom length in seconds")
    parser.add_argument("--bands", type=int, default=48, help="lowest mel bands shown")
    args = parser.parse_args()
    labels = args.label or [str(a) for a in args.autoencoder]
    if len(labels) != len(args.autoencoder):
        parser.error("give one --label per --autoencoder")
    vocoders = args.vocoder or [None]
    if len(vocoders) == 1:
        vocoders = vocoders * len(args.autoencoder)
    if len(vocoders) != len(args.autoencoder):
        parser.error("give one --vocoder for every row or one per --autoencoder")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from audiogen import hub
    from audiogen.audio.features import LogMelSpectrogram
    from audiogen.audio.io import load_audio
    from audiogen.audio.levels import DB_PER_NEPER

    cfg = hub.load_model(vocoders[0] or hub.DEFAULT_PIPELINE, "vocoder").mel_config
    front = LogMelSpectrogram(cfg)
    clip = load_audio(args.clip, sample_rate=cfg.sample_rate, channels=1)
    end = int((args.start + args.seconds + 1.0) * cfg.sample_rate)
    wav = clip.waveform[..., :end]  # (1, samples): the mono channel as a batch of one
    mel = front(wav).mel  # (1, n_mels, frames)
    rows = [("real", mel)]
    with torch.inference_mode():
        for folder, label, vocoder_folder in zip(args.autoencoder, labels, vocoders, strict=True):
            vae = hub.load_model(folder, "autoencoder")
            vocoder = hub.load_model(vocoder_folder or hub.DEFAULT_PIPELINE, "vocoder")
            decoded = vae.decode(vae.encode(mel), frames=mel.shape[-1])
            out = vocoder(decoded.float())[..., : wav.shape[-1]]
            again = front(out.reshape(1, -1)).mel  # the output as a mono batch of one
            rows.append((f"{label}: VAE + vocoder", again))

    fps = cfg.sample_rate / cfg.hop_length
    lo, hi = int(args.start * fps), int((args.start + args.seconds) * fps)
    fig, axes = plt.subplots(1, len(rows), figsize=(4 * len(rows), 3.6), sharey=True)
    for ax, (title, m) in zip(axes, rows, strict=True):
        image = ax.imshow(
            (m[0, : args.bands, lo:hi] * DB_PER_NEPER).numpy(), origin="lower", aspect="auto",
            cmap="magma", vmin=-80, vmax=10, extent=(lo / fps, hi / fps, 0, args.bands),
        )
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("time (s)")
    axes[0].set_ylabel(f"mel band (lowest {args.bands} of {cfg.n_mels})")
    fig.colorbar(image, ax=list(axes), label="dB")
    fig.savefig(args.out, dpi=80, bbox_inches="tight")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
