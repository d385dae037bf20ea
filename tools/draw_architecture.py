"""Draw docs/images/architecture.png: one clip's way from file to WAV through the modules, by name.

    .venv/bin/python tools/draw_architecture.py --out docs/images/architecture.png

The picture is drawn by hand from the code (docs/architecture.md walks the same path in words);
change it here when a stage moves.
"""

from __future__ import annotations

import argparse
from pathlib import Path

#: Fill colours by kind of module.
COLOURS = {
    "entry": "#e8eef7",  # command line, web app
    "load": "#efe7f5",  # the hub
    "pipeline": "#e3f1e6",  # pipelines/ and the sampler
    "model": "#fdf0dc",  # networks
    "audio": "#e6f2f7",  # audio in and out, front end
    "side": "#f2f2f2",  # training and evaluation
}


def draw(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig, ax = plt.subplots(figsize=(13.0, 11.6))
    ax.set_xlim(0, 130)
    ax.set_ylim(0, 116)
    ax.axis("off")

    def box(x, y, w, h, title, body, kind):
        ax.add_patch(
            FancyBboxPatch(
                (x, y), w, h, boxstyle="round,pad=0.4,rounding_size=1.2",
                facecolor=COLOURS[kind], edgecolor="#55606e", linewidth=1.0,
            )
        )
        ax.text(x + 1.2, y + h - 1.3, title, fontsize=9.6, fontweight="bold", va="top", family="monospace")
        if body:
            ax.text(x + 1.2, y + h - 4.4, body, fontsize=8.4, va="top", linespacing=1.35)
        return (x, y, w, h)

    def arrow(a, b, label="", side="right", start=None, end=None, colour="#33414f", style="-|>"):
        ax_, ay, aw, ah = a
        bx, by, bw, bh = b
        p = start or (ax_ + aw / 2, ay)
        q = end or (bx + bw / 2, by + bh)
        ax.add_patch(
            FancyArrowPatch(p, q, arrowstyle=style, mutation_scale=13, color=colour, linewidth=1.3,
                            shrinkA=3, shrinkB=3)
        )
        if label:
            mx, my = (p[0] + q[0]) / 2, (p[1] + q[1]) / 2
            dx = 1.0 if side == "right" else -1.0
            ax.text(mx + dx, my, label, fontsize=7.8, color="#2d5f8b", style="italic",
                    ha="left" if side == "right" else "right", va="center")

    ax.text(1, 114.5, "audiogen: one clip from file to WAV", fontsize=15, fontweight="bold", va="top")
    ax.text(1, 110.8, "module · function, in the order they run; tensor shapes on the arrows "
            "(b = batch; the bundled model: 80 mels, 64 latent channels, 2 mel frames per latent frame)",
            fontsize=8.8, va="top", color="#444")

    # the two commands
    gen = box(6, 96, 40, 9.5, "audiogen generate",
              "cli/generate.py · generate (cli/options.py:\nSamplingConfig; pipelines/checks.py)", "entry")
    var = box(62, 96, 44, 9.5, "audiogen variation IN.wav",
              "cli/generate.py · variation\nchecks.check_input_audio: the header only", "entry")
    hub = box(24, 81, 64, 10, "hub.py · load_pipeline_stages",
              "model_index.json → MelVAE, LatentDenoiser, NoiseSchedule, GLRefineVocoder\n"
              "(one class table); pipelines/stages.py · PipelineStages.from_pretrained", "load")
    arrow(gen, hub, "pipeline folder", start=(26, 96), end=(40, 91.4))
    arrow(var, hub, "", start=(80, 96), end=(70, 91.4))

    # generate's start: noise
    call = box(2, 62, 44, 12.5, "pipelines/audiogen.py",
               "AudioGenPipeline.__call__(seconds, sampling)\n1 check_inputs → Guidance\n"
               "2 samplers/factory.make_sampler   3 denoise.prepare_latents:\n"
               "   noise, one CPU generator per clip", "pipeline")
    arrow(hub, call, "", start=(36, 81), end=(24, 74.9))

    # variation's start: the file
    load = box(58, 70, 50, 7, "audio/io.py · load_audio", "decode, mix to mono, resample to 22050 Hz",
               "audio")
    arrow(hub, load, "", start=(76, 81), end=(83, 77.4))
    edit = box(58, 49, 50, 16.5, "pipelines/audiogen.py · variation",
               "audio/features.py · LogMelSpectrogram\n"
               "pipelines/windows.py · encode_chunked\n   → models/autoencoder.py · MelVAE.encode\n"
               "pipelines/denoise.py · noise_and_denoise:\n   add_noise up to strength", "pipeline")
    arrow(load, edit, "waveform (1, 1, n)")

    # the shared core
    loop = box(14, 31, 66, 13.5, "pipelines/denoise.py · denoise_loop",
               "per step: scheduler.scale_model_input → models/denoiser.py ·\n"
               "LatentDenoiser (guided_prediction: CFG towards the style;\n"
               "windows.WindowedDenoiser above 10 s) → scheduler.step (samplers/)", "pipeline")
    arrow(call, loop, "latent (b, 64, T)", side="left", start=(24, 62), end=(34, 44.9))
    arrow(edit, loop, "latent (1, 64, T)", start=(83, 49), end=(64, 44.9))
    dec = box(14, 17, 66, 9, "models/autoencoder.py · MelVAE.decode",
              "latent ÷ latent_scale → natural-log mel;\nlong latents in chunks (windows.decode_chunked)",
              "model")
    arrow(loop, dec, "latent (b, 64, T)")
    voc = box(14, 3, 66, 9, "models/vocoder/gl_refine.py · GLRefineVocoder",
              "NNLS inversion + Griffin-Lim phase, refined by a ConvNeXt trunk\n"
              "(vocoder/backbone.py); long mels in chunks (windows.vocode_chunked)", "model")
    arrow(dec, voc, "log-mel (b, 80, 2T)")
    wav = box(95, 4, 32, 7, "audio/io.py · save_audio", "→ WAV / FLAC, one file per seed", "audio")
    arrow(voc, wav, "", start=(80.4, 7.5), end=(94.6, 7.5))
    ax.text(87.5, 8.6, "waveform\n(b, 1, 256·2T)", fontsize=7.8, color="#2d5f8b", style="italic",
            ha="center", va="bottom")

    # around it: training and evaluation
    box(95, 28, 32, 17, "training (offline)",
                "data/ · scan, manifest, datasets, cache\n"
                "training/trainer.py · Trainer\n"
                "training/tasks/ · autoencoder,\n   diffusion, vocoder, classifier\n"
                "→ checkpoints → a pipeline folder", "side")
    box(95, 14.5, 32, 9.5, "evaluation/",
        "reconstruction.py, generation.py: load\nthrough hub.py, run the same stages", "side")
    ax.add_patch(
        FancyArrowPatch((118, 45.4), (88.4, 86), arrowstyle="-|>", mutation_scale=13, color="#8a8f96",
                        linewidth=1.3, shrinkA=3, shrinkB=3, connectionstyle="angle,angleA=90,angleB=0,rad=0")
    )
    ax.text(119, 66, "a pipeline folder\n(hub.save_pipeline_folder;\nhub.find_model_folder\n"
            "reads runs)", fontsize=7.6, color="#6b7076", style="italic", va="center")

    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images/architecture.png"))
    draw(parser.parse_args().out)


if __name__ == "__main__":
    main()
