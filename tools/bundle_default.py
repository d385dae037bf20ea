"""Assemble the bundled default model (``audiogen/assets/default``) from three training runs.

Each stage may be a training run folder (its newest complete checkpoint's EMA weights are used),
a checkpoint folder or a model folder::

    .venv/bin/python tools/bundle_default.py --autoencoder runs/autoencoder-cpu \
        --denoiser runs/diffusion-cpu --vocoder runs/vocoder-cpu \
        --model-card audiogen/assets/default/MODEL_CARD.md

The stages are checked for agreement (sample rate, n_mels, latent size) by
:class:`audiogen.pipelines.audiogen.AudioGenPipeline`; the folder is written with ``save_pretrained``
(safetensors + JSON, no pickle) and its total size printed, since the package ships it (40 MB cap).
``--fp16 vocoder`` stores that stage's parameters in float16 to fit the cap; ``--cfg-scale``
records the model's default classifier-free guidance scale in ``model_index.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

MAX_BYTES = 40_000_000  # the package-size promise: 40 MB


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--autoencoder", type=Path, help="VAE run / checkpoint / model folder")
    parser.add_argument("--denoiser", type=Path, help="diffusion run / checkpoint / model dir")
    parser.add_argument("--vocoder", type=Path, help="vocoder run / checkpoint / model folder")
    parser.add_argument(
        "--sequence",
        type=Path,
        default=None,
        help="streaming sequence model (audiogen train sequence) run / checkpoint / model folder, saved as "
        "OUT/sequence/ in float16; alone (without the three stages) it is added to the existing OUT",
    )
    parser.add_argument(
        "--sequence-head-steps", type=int, default=None, help="the sequence model's default flow-head steps"
    )
    parser.add_argument("--model-card", type=Path, default=None, help="Markdown file copied to MODEL_CARD.md")
    parser.add_argument("--out", type=Path, default=Path("audiogen/assets/default"), help="output folder")
    parser.add_argument(
        "--fp16",
        action="append",
        default=[],
        choices=["autoencoder", "denoiser", "vocoder"],
        help="store this stage's parameters as float16 (half the file; loaded back as float32); repeatable",
    )
    parser.add_argument(
        "--cfg-scale",
        type=float,
        default=None,
        help="the model's default classifier-free guidance scale, saved in model_index.json "
        "(generation.cfg_scale); pick it by measuring FD (audiogen eval generate --cfg-scale); "
        "default: audiogen.hub.DEFAULT_CFG_SCALE (3.0)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="the model's default sampler steps, saved in model_index.json (generation.steps); pick "
        "the fewest whose FD matches more (audiogen eval generate --steps); default: "
        "audiogen.hub.DEFAULT_STEPS (25)",
    )
    args = parser.parse_args()
    stages = [args.autoencoder, args.denoiser, args.vocoder]
    if not all(stages) and (any(stages) or args.sequence is None):
        parser.error("give --autoencoder, --denoiser and --vocoder together (and/or --sequence)")

    out = args.out
    if all(stages):
        out = bundle_stages(args)
    if args.sequence is not None:
        bundle_sequence(args.sequence, out / "sequence", args.sequence_head_steps)
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    for p in sorted(out.rglob("*")):
        if p.is_file():
            print(f"{p.stat().st_size / 1e6:8.2f} MB  {p}")
    print(f"total {total / 1e6:.2f} MB (cap {MAX_BYTES / 1e6:.1f} MB)")
    if total > MAX_BYTES:
        raise SystemExit(f"error: {out} is {total / 1e6:.1f} MB, over the {MAX_BYTES / 1e6:.1f} MB cap")


def bundle_stages(args: argparse.Namespace) -> Path:
    """Write the three generation stages, model_index.json and the model card into ``args.out``."""
    from audiogen.hub import DEFAULT_CFG_SCALE, DEFAULT_STEPS
    from audiogen.pipelines.audiogen import AudioGenPipeline

    cfg_scale = DEFAULT_CFG_SCALE if args.cfg_scale is None else args.cfg_scale
    pipe = AudioGenPipeline.from_stage_folders(
        args.autoencoder, args.denoiser, args.vocoder, cfg_scale=cfg_scale,
        steps=DEFAULT_STEPS if args.steps is None else args.steps,
    )
    card = args.model_card.read_text() if args.model_card else None
    return pipe.save_pretrained(args.out, model_card=card, float16_stages=args.fp16)


def bundle_sequence(source: Path, folder: Path, head_steps: int | None) -> None:
    """Save the sequence model at ``source`` (EMA weights of a run) into ``folder``, parameters in float16."""
    import dataclasses

    import torch

    from audiogen.hub import load_model

    model = load_model(source, "sequence")
    if head_steps is not None:
        model.config = dataclasses.replace(model.config, head_steps=head_steps)
    model.save_pretrained(folder, parameter_dtype=torch.float16)


if __name__ == "__main__":
    main()
