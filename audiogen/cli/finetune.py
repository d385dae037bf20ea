"""``audiogen finetune DIR_OR_MANIFEST --out RUN_DIR``: fine-tune a pipeline on your own audio.

Runs on one device as is and on several processes / GPUs unchanged through
``accelerate launch [--multi_gpu] --num_processes N -m audiogen.cli finetune ...``, and on several
machines with ``--num_machines M --machine_rank R --main_process_ip IP --main_process_port PORT``
(docs/scaling.md).
"""

from __future__ import annotations

from pathlib import Path

import typer

from audiogen.errors import InputError, RunError


def finetune(
    source: Path = typer.Argument(
        ...,
        metavar="SOURCE",
        exists=True,
        help="Folder of audio (scanned recursively, mixed formats are fine) or a manifest.",
    ),
    out: Path = typer.Option(
        ..., "--out", help="Run folder; becomes the fine-tuned pipeline (generate --checkpoint RUN_DIR)."
    ),
    base: str = typer.Option(
        "default", "--from", help="Base pipeline: 'default' (the bundled model) or a pipeline folder."
    ),
    steps: int = typer.Option(
        500, "--steps", min=1, help="Optimizer steps of the denoiser (and default of the other stages)."
    ),
    vocoder_steps: int = typer.Option(
        None, "--vocoder-steps", min=1, help="Optimizer steps of the vocoder [--steps]."
    ),
    autoencoder_steps: int = typer.Option(
        None, "--autoencoder-steps", min=1, help="Optimizer steps of the autoencoder [--steps]."
    ),
    stages: str = typer.Option(
        "generator",
        "--stages",
        help="generator (latent denoiser), generator+vocoder, or all (autoencoder, denoiser, vocoder).",
    ),
    style: str = typer.Option(
        None, "--style", help="Style name of the collection (default: the folder's name)."
    ),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Examples per process per micro-batch."),
    lr: float = typer.Option(1e-4, "--lr", min=0.0, help="Learning rate (constant after a short warm-up)."),
    segment_seconds: float = typer.Option(
        2.0, "--segment-seconds", min=0.05, help="Training crop (s); shorter files are padded with silence."
    ),
    sample_every: int = typer.Option(
        None, "--sample-every", min=1, help="Steps between samples (WAV+PNG) and checkpoints [steps/4]."
    ),
    mixed_precision: str = typer.Option("no", "--mixed-precision", help="no, fp16 or bf16 (GPU)."),
    gradient_accumulation_steps: int = typer.Option(
        1, "--grad-accum", min=1, help="Micro-batches per optimizer step."
    ),
    gradient_checkpointing: bool = typer.Option(
        False, "--gradient-checkpointing", help="Recompute the denoiser's activations: less memory, slower."
    ),
    min_seconds: float = typer.Option(0.1, "--min-seconds", min=0.0, help="Shortest file accepted (s)."),
    valid_fraction: float = typer.Option(
        0.1, "--valid-fraction", min=0.0, max=0.9, help="Files for validation samples."
    ),
    test_fraction: float = typer.Option(
        0.0, "--test-fraction", min=0.0, max=0.9, help="Files held out (split 'test') for `eval generate`."
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of splits, noise and data order."),
    num_workers: int = typer.Option(0, "--workers", min=0, help="DataLoader worker processes."),
    cpu: bool = typer.Option(False, "--cpu", help="Train on the CPU even if a GPU is present."),
    zero_terminal_snr: bool = typer.Option(
        True,
        "--zero-snr/--no-zero-snr",
        help="Fine-tune on the zero-terminal-SNR noise schedule (lets one-shots start/end in silence).",
    ),
    lora_rank: int = typer.Option(
        None, "--lora", min=1, help="Train a LoRA adapter of this rank instead of the denoiser's weights."
    ),
    lora_alpha: float = typer.Option(None, "--lora-alpha", help="The adapter's lora_alpha [the rank]."),
    lora_targets: list[str] = typer.Option(
        None,
        "--lora-targets",
        help="Module names that get LoRA (repeat, or comma-separated) [pwconv1,pwconv2,qkv,proj,modulation].",
    ),
    shared_cache: bool = typer.Option(
        True,
        "--shared-cache/--no-shared-cache",
        help="Several machines: all see one --out folder (shared disk), or each has its own copy.",
    ),
    dist_timeout_s: float = typer.Option(
        1800.0, "--dist-timeout", min=1.0, help="Seconds a process waits for the others before it stops."
    ),
) -> None:
    """Fine-tune the bundled (or another) pipeline on a folder of your own sounds.

    Scans the folder (bad files are reported and skipped), encodes it with the base autoencoder,
    fine-tunes the chosen stages through the Accelerate trainer, and writes a complete pipeline to
    RUN_DIR. Progress: a bar per stage; sample clips and spectrogram PNGs in
    RUN_DIR/train/<stage>/samples/. Interrupted? Run the same command again: it resumes; a larger
    --steps continues a finished run. Then: audiogen generate --checkpoint RUN_DIR --style STYLE.
    With --lora RANK only a LoRA adapter (and the new style's embedding row) is trained, written to
    RUN_DIR/lora/denoiser/ (peft format); then: audiogen generate --lora RUN_DIR --style STYLE.
    """
    import dataclasses

    flags = dict(locals())  # the flags that are FinetuneConfig fields of the same name pass as they are

    from audiogen.audio.io import AudioLoadError
    from audiogen.cli.exit import on_interrupt, same_command
    from audiogen.training import TrainingError, end_distributed
    from audiogen.training.checkpoint import CheckpointError
    from audiogen.training.distributed import is_first_process
    from audiogen.training.finetune import FinetuneConfig, FinetuneError
    from audiogen.training.finetune import finetune as run_finetune
    from audiogen.training.run_folder import RunFolderError

    on_interrupt(
        f"{out} keeps the checkpoints saved so far (every --sample-every steps); "
        f"resume with the same command: {same_command()}"
    )

    try:
        same_names = {f.name for f in dataclasses.fields(FinetuneConfig)} & set(flags)
        same_names -= {"source", "out", "lora_targets"}  # converted below
        config = FinetuneConfig(
            **{name: flags[name] for name in same_names},
            source=str(source),
            out=str(out),
            lora_targets=tuple(t for item in lora_targets or [] for t in item.split(",") if t) or None,
        )
        try:
            result = run_finetune(config)
        finally:
            end_distributed()
    except (RunFolderError, FinetuneError, ValueError, FileNotFoundError, AudioLoadError) as e:
        raise InputError(str(e)) from e  # the inputs, --out or the collection: exit 2
    except (TrainingError, CheckpointError) as e:
        raise RunError(str(e)) from e
    if not is_first_process():  # process 0 reports; the pipeline is on its machine
        return
    steps_done = ", ".join(f"{k} {v}" for k, v in result.steps.items())
    if lora_rank is not None:
        typer.echo(
            f"trained a LoRA adapter ({steps_done} steps) on {result.files['train']} training files "
            f"({result.rejected} skipped, see {result.manifest.parent / 'rejected.jsonl'}); "
            f"adapter in {result.pipeline_dir}\n"
            f"generate: audiogen generate --lora {out} --style {result.styles[0]}"
        )
        return
    typer.echo(
        f"fine-tuned ({steps_done} steps) on {result.files['train']} training files "
        f"({result.rejected} skipped, see {result.manifest.parent / 'rejected.jsonl'}); "
        f"pipeline in {result.pipeline_dir}\n"
        f"generate: audiogen generate --checkpoint {result.pipeline_dir} --style {result.styles[0]}"
    )
