"""Where a vocoder's reconstruction error comes from, on held-out clips of a manifest.

Three reports (5 s crops, peak -1 dBFS, mono, as ``audiogen eval reconstruct``):

* ``vae``: the VAE's own share of the "VAE + vocoder" error: mel L1 (dB) of the VAE's decoded
  log-mel against the true one before any vocoder, VAE + Griffin-Lim (32 iterations), the vocoder
  re-synthesising the decoded mel (measured against the decoded mel), and the vocoder on the true
  mel::

      .venv/bin/python benchmarks/vocoder_diagnostics.py vae MANIFEST --vocoder runs/vocoder-gl \\
          --autoencoder audiogen/assets/default --clips 24

  then the VAE's error by level: the mel bins grouped by how far (dB) they lie below their clip's
  loudest bin, each group's share of the bins and mean ``|decoded − true|`` (dB), so that one can
  see whether the error sits in inaudible, near-floor bins or in the loud ones.

* ``latent-fit``: the encoder's share of the VAE's error (its amortisation gap). For each clip the
  latent is optimised directly (Adam on the decoder's mel L1, starting from the encoder's posterior
  mean, decoder frozen) and the mel L1 (dB) of the decoding is printed at a few step counts beside
  the encoder's. What the fitted latent reaches bounds what a better encoder could give with this
  decoder; the rest of the error is the decoder's (and the latent size's). The fitted latents are
  not pulled towards the prior, so the spread of the latent and its drift from the encoder's are
  printed too, beside the posterior's own standard deviation (all in the scaled latent units the
  denoiser sees)::

      .venv/bin/python benchmarks/vocoder_diagnostics.py latent-fit MANIFEST \\
          --autoencoder audiogen/assets/default --clips 24 --steps 400

* ``error-png``: per-bin ``|re-analysed − true log-mel|`` (dB) of Griffin-Lim 32 and of the vocoder
  on one clip, drawn one above the other::

      .venv/bin/python benchmarks/vocoder_diagnostics.py error-png MANIFEST --vocoder runs/vocoder-gl \\
          --out docs/images/vocoder_gl_error.png
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from audiogen.audio.levels import DB_PER_NEPER


def _clips(manifest: Path, split: str, count: int, sample_rate: int) -> list[torch.Tensor]:
    """The first ``count`` files of ``split`` as 5 s mono crops ``(1, samples)`` at -1 dBFS peak."""
    from audiogen.audio.io import load_audio
    from audiogen.data.manifest import read_manifest

    entries = [e for e in read_manifest(manifest) if e.split == split][:count]
    if not entries:
        raise SystemExit(f"error: {manifest} has no file in split {split!r}")
    out = []
    for e in entries:
        wav = load_audio(e.path, sample_rate=sample_rate, channels=1, duration=5.0).waveform
        out.append(wav * (10 ** (-1 / 20) / float(wav.abs().max().clamp_min(1e-8))))
    return out


def vae_report(args: argparse.Namespace) -> None:
    """Print the mean of each error over the clips (see the module docstring)."""
    from audiogen.audio.features import LogMelSpectrogram
    from audiogen.audio.inverse import griffin_lim
    from audiogen.evaluation.reconstruction import mel_l1_db, mrstft_distance
    from audiogen.hub import load_model

    vae, voc = load_model(args.autoencoder, "autoencoder"), load_model(args.vocoder, "vocoder")
    cfg = vae.mel_config
    front = LogMelSpectrogram(cfg)
    rows: dict[str, list[float]] = {
        "VAE decoded mel vs true (dB)": [],
        "VAE + Griffin-Lim 32 vs true (dB)": [],
        "VAE + Griffin-Lim 32 MR-STFT": [],
        "vocoder on the decoded mel vs decoded (dB)": [],
        "vocoder on the true mel vs true (dB)": [],
    }
    bands = ((0, 20), (20, 40), (40, 60), (60, 80), (80, math.inf))  # dB below the clip's loudest bin
    band_sums = {band: [0.0, 0] for band in bands}  # band -> [sum of |error| (dB), bins]
    for wav in _clips(args.manifest, args.split, args.clips, cfg.sample_rate):
        n = wav.shape[-1]
        with torch.no_grad():
            mel = front(wav).mel
            dec = vae.decode(vae.encode(mel), frames=mel.shape[-1])
            below = (mel.max() - mel) * DB_PER_NEPER
            error = (dec - mel).abs() * DB_PER_NEPER
            for lo, hi in bands:
                inside = (below >= lo) & (below < hi)
                band_sums[(lo, hi)][0] += float(error[inside].sum())
                band_sums[(lo, hi)][1] += int(inside.sum())
            torch.manual_seed(0)
            gl = griffin_lim(dec, cfg, n_iter=32, length=n)
            values = (
                mel_l1_db(dec, mel),
                mel_l1_db(front(gl).mel, mel),
                mrstft_distance(gl, wav),
                mel_l1_db(front(voc(dec)[:, 0, :n]).mel, dec),
                mel_l1_db(front(voc(mel)[:, 0, :n]).mel, mel),
            )
        for key, value in zip(rows, values, strict=True):
            rows[key].append(value)
    for key, values in rows.items():
        print(f"{key:45s} {sum(values) / len(values):.4f}")
    total = sum(count for _, count in band_sums.values())
    print("VAE decoded mel error by level (dB below the clip's loudest bin): share of bins, mean |error| dB")
    for (lo, hi), (error_sum, count) in band_sums.items():
        label = f"{lo}-{hi} dB" if math.isfinite(hi) else f">= {lo} dB"
        mean = error_sum / count if count else float("nan")
        print(f"  {label:12s} {count / max(total, 1):6.3f}  {mean:.3f}")


def latent_fit_report(args: argparse.Namespace) -> None:
    """Print the encoder's and the per-clip fitted latents' mel L1 (see the module docstring)."""
    from audiogen.audio.features import LogMelSpectrogram
    from audiogen.hub import load_model

    vae = load_model(args.autoencoder, "autoencoder")
    vae.requires_grad_(False)
    front = LogMelSpectrogram(vae.mel_config)
    by_frames: dict[int, list[torch.Tensor]] = {}  # clips of equal length are fitted as one batch
    for wav in _clips(args.manifest, args.split, args.clips, vae.mel_config.sample_rate):
        mel = front(wav).mel
        by_frames.setdefault(mel.shape[-1], []).append(mel)
    mels = [torch.cat(group) for group in by_frames.values()]  # each (clips, n_mels, frames)
    bins = sum(m.numel() for m in mels)

    def error_db(latents: list[torch.Tensor]) -> torch.Tensor:
        total = sum(
            (vae.decode(z, frames=m.shape[-1]) - m).abs().sum() for z, m in zip(latents, mels, strict=True)
        )
        return total / bins * DB_PER_NEPER

    with torch.no_grad():
        start = [vae.encode(m) for m in mels]  # posterior means, scaled latents
        noise = torch.cat([vae.posterior(m).std.flatten() for m in mels]) * vae.config.latent_scale
        spread = torch.cat([z.flatten() for z in start]).std()
        print(
            f"{'encoder (posterior mean)':28s} {float(error_db(start)):.4f} dB   latent std "
            f"{float(spread):.3f}, posterior std (mean) {float(noise.mean()):.4f}"
        )
    latents = [z.clone().requires_grad_(True) for z in start]
    optimizer = torch.optim.Adam(latents, lr=args.lr)
    report_at = {s for s in (25, 50, 100, 200, 400, 800, 1600) if s < args.steps} | {args.steps}
    for step in range(1, args.steps + 1):
        loss = error_db(latents)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step in report_at:
            with torch.no_grad():
                loss = error_db(latents)  # after this step's update
            flat = torch.cat([z.detach().flatten() for z in latents])
            drift = torch.cat([(z.detach() - z0).flatten() for z, z0 in zip(latents, start, strict=True)])
            print(
                f"{f'fitted, {step} Adam steps':28s} {float(loss):.4f} dB   "
                f"latent std {float(flat.std()):.3f}, drift from the encoder's std {float(drift.std()):.3f}",
                flush=True,
            )


def error_png(args: argparse.Namespace) -> None:
    """Write the per-bin error PNG of Griffin-Lim 32 and the vocoder on the first clip."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from audiogen.audio.features import LogMelSpectrogram
    from audiogen.audio.inverse import griffin_lim
    from audiogen.hub import load_model

    voc = load_model(args.vocoder, "vocoder")
    cfg = voc.mel_config
    front = LogMelSpectrogram(cfg)
    wav = _clips(args.manifest, args.split, 1, cfg.sample_rate)[0]
    n = wav.shape[-1]
    with torch.no_grad():
        mel = front(wav).mel
        torch.manual_seed(0)
        gl = griffin_lim(mel, cfg, n_iter=32, length=n)
        hybrid = voc(mel)[:, 0, :n]
    errors = {
        "Griffin-Lim 32": (front(gl).mel - mel)[0] * DB_PER_NEPER,
        type(voc).__name__: (front(hybrid).mel - mel)[0] * DB_PER_NEPER,
    }
    fig, axes = plt.subplots(len(errors), 1, figsize=(10, 6), constrained_layout=True)
    seconds = mel.shape[-1] * cfg.hop_length / cfg.sample_rate
    for ax, (name, err) in zip(axes, errors.items(), strict=True):
        image = ax.imshow(
            err.abs().numpy(), origin="lower", aspect="auto", cmap="magma", vmin=0, vmax=4,
            extent=(0, seconds, 0, cfg.n_mels),
        )  # fmt: skip
        ax.set_title(
            f"|re-analysed − true log-mel|, {name}: mean {err.abs().mean():.2f} dB, "
            f"mean signed {err.mean():+.2f} dB"
        )
        ax.set_xlabel("time (s)")
        ax.set_ylabel("mel band")
        fig.colorbar(image, ax=ax, label="dB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}: " + ", ".join(f"{k} {float(v.abs().mean()):.3f} dB" for k, v in errors.items()))


def main(argv: list[str] | None = None) -> None:
    """Command-line entry (see the module docstring)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="report", required=True)
    reports = {"vae": vae_report, "latent-fit": latent_fit_report, "error-png": error_png}
    for name in reports:
        p = sub.add_parser(name)
        p.add_argument("manifest", type=Path)
        p.add_argument("--split", default="test")
        p.add_argument("--threads", type=int, default=1)
        if name != "latent-fit":
            p.add_argument("--vocoder", required=True, help="vocoder model / checkpoint / run folder")
        if name == "error-png":
            p.add_argument("--out", type=Path, default=Path("docs/images/vocoder_gl_error.png"))
        else:
            p.add_argument("--autoencoder", default="audiogen/assets/default")
            p.add_argument("--clips", type=int, default=24)
        if name == "latent-fit":
            p.add_argument("--steps", type=int, default=400, help="Adam steps on the latents")
            p.add_argument("--lr", type=float, default=0.02, help="Adam learning rate")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    reports[args.report](args)


if __name__ == "__main__":
    main()
