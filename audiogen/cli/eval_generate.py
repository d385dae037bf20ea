"""``audiogen eval generate``: Fréchet distance of generated clips to held-out real clips.

The embedding is the project's own style classifier (``audiogen train classifier``) unless
``--embedder`` names another one: a classifier or mel VAE folder (model, checkpoint or run folder)
or a Python entry ``module:callable`` (see :func:`audiogen.evaluation.embedders.load_embedder`).
The pipeline is ``--checkpoint`` or the bundled default model. See
:func:`audiogen.evaluation.generation.evaluate_generation` for the sets compared and
docs/evaluation.md for how to read the numbers.
"""

from __future__ import annotations

from pathlib import Path

import typer

from audiogen.errors import InputError


def generate(
    manifest: Path = typer.Argument(
        ..., metavar="MANIFEST", exists=True, dir_okay=False, help="JSONL manifest with held-out files."
    ),
    split: str = typer.Option("test", "--split", help="Manifest split of the real (held-out) clips."),
    checkpoint: Path = typer.Option(
        None, "--checkpoint", help="Pipeline folder (default: the bundled default model)."
    ),
    embedder: str = typer.Option(
        None,
        "--embedder",
        help=(
            "Embedding: a classifier (or mel VAE) model / checkpoint / run folder, or a Python entry "
            "module:callable (default: the pipeline's classifier/, else the bundled one)."
        ),
    ),
    num: int = typer.Option(64, "--num", min=2, help="Generated clips (styles cycled evenly)."),
    seconds: float = typer.Option(4.0, "--seconds", min=0.1, help="Clip length in seconds (every set)."),
    steps: int | None = typer.Option(
        None, "--steps", min=1, help="Sampler steps; default: the pipeline's (generation.steps)."
    ),
    cfg_scale: float | None = typer.Option(
        None,
        "--cfg-scale",
        help="Classifier-free guidance scale; default: the model's (model_index.json generation.cfg_scale).",
    ),
    seed: list[int] = typer.Option(
        None,
        "--seed",
        min=0,
        help="Seed of generation and of the noise (default 0); clip i uses a seed counted up from it, "
        "so independent sets need seeds at least --num apart (0, 1000, 2000, ...). Repeat for one "
        "report per seed: the held-out crops, their embeddings and the floor are computed once.",
    ),
    crops_per_file: int = typer.Option(
        2, "--crops-per-file", min=1, help="Evenly spaced crops per held-out file."
    ),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Clips per model call."),
    style: list[str] = typer.Option(
        None,
        "--style",
        help="Generate only this style (repeat for several; default: every style of the pipeline).",
    ),
    json_out: Path = typer.Option(
        None,
        "--json",
        help="Also write the report as JSON here; with several --seed, a path with {seed} in it "
        "(e.g. fd_seed{seed}.json), one file per seed.",
    ),
    plot_dir: Path = typer.Option(
        None, "--plot-dir", help="Write one spectrogram PNG per style (real vs generated) here."
    ),
    device: str = typer.Option(
        None, "--device", help="torch device, e.g. cpu or cuda (default: cuda if any)."
    ),
    lora: list[str] = typer.Option(
        None, "--lora", help="LoRA adapter DIR[:STRENGTH] on the pipeline's denoiser (repeat to stack)."
    ),
    floor: bool = typer.Option(
        True,
        "--floor/--no-floor",
        help="Reconstruct half B through VAE + vocoder (the floor row). It does not depend on the seed "
        "or the denoiser: --no-floor skips it when evaluating several seeds or checkpoints of one model.",
    ),
) -> None:
    """FD(generated, real) beside the floor FD(VAE + vocoder, real) and the ceiling FD(noise, real).

    The held-out files of SPLIT are divided by file into halves A and B (files of each style
    alternate). Half A is the reference; compared with it: the generated clips, the VAE + vocoder
    reconstructions of half B (floor), half B itself (real vs real) and pink noise at half A's
    levels (ceiling). Prints a table (clips, FD, style accuracy of the classifier); --json writes
    the report, --plot-dir spectrogram PNGs.
    """
    from audiogen import hub
    from audiogen.audio.io import AudioLoadError
    from audiogen.cli.reconstruct import print_report
    from audiogen.evaluation.generation import evaluate_generation_seeds
    from audiogen.models.lora import parse_lora_spec

    seeds = list(seed or [0])
    if len(seeds) != len(set(seeds)):
        raise InputError(f"--seed: each seed once, got {seeds}")
    if json_out is not None and len(seeds) > 1 and "{seed}" not in str(json_out):
        raise InputError(
            f"--json {json_out}: with several --seed the path needs {{seed}} (one file per seed)"
        )

    try:
        loras = [parse_lora_spec(spec) for spec in lora or []]
    except ValueError as e:
        raise InputError(str(e)) from e
    pipeline_dir = checkpoint
    if pipeline_dir is None:
        pipeline_dir = hub.DEFAULT_PIPELINE
        if not (pipeline_dir / "model_index.json").is_file():
            raise InputError(
                f"no --checkpoint given and the bundled default model is not installed "
                f"({pipeline_dir / 'model_index.json'} does not exist); pass --checkpoint PIPELINE_DIR"
            )
    reports = evaluate_generation_seeds(
        manifest,
        pipeline_dir,
        seeds,
        embedder=embedder,
        split=split,
        num=num,
        seconds=seconds,
        steps=steps,
        cfg_scale=cfg_scale,
        crops_per_file=crops_per_file,
        batch_size=batch_size,
        device=device,
        plot_dir=plot_dir,
        styles=style or None,
        loras=loras,
        floor=floor,
    )
    try:
        for k, report in enumerate(reports):  # each seed's report printed and written when measured
            if len(seeds) > 1:
                typer.echo(("\n" if k else "") + f"seed {report.seed}")
            out = None if json_out is None else Path(str(json_out).replace("{seed}", str(report.seed)))
            print_report(report, out, k == 0 and plot_dir and f"wrote spectrograms to {plot_dir}")
    except (FileNotFoundError, ValueError, AudioLoadError) as e:  # bad input: exit 2, as every command
        raise InputError(str(e)) from e
