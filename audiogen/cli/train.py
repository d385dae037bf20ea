"""``audiogen train STAGE RECIPE [key=value ...] [--resume] [--out RUN_DIR]``.

Runs on one device as is, and on several processes / GPUs unchanged through
``accelerate launch [--num_processes N] -m audiogen.cli train ...``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from audiogen.cli.options import PlainUsage
from audiogen.errors import RunError

app = typer.Typer(no_args_is_help=True)

RECIPE = typer.Argument(
    ..., metavar="RECIPE", exists=True, dir_okay=False, help="YAML recipe (see recipes/)."
)
OVERRIDES = typer.Argument(
    None, metavar="KEY=VALUE", help="Overrides, e.g. train.max_steps=1000 train.mixed_precision=bf16."
)
RESUME = typer.Option(False, "--resume", help="Continue from the run folder's newest complete checkpoint.")
OUT = typer.Option(None, "--out", help="Run folder (default: the recipe's run_dir, else runs/STAGE).")


def run(stage: str, recipe_path: Path, overrides: list[str] | None, resume: bool, out: Path | None) -> None:
    """Load the recipe with overrides and train ``stage``; errors become a message and exit code 1."""
    from audiogen.cli.exit import on_interrupt, same_command
    from audiogen.config import load_recipe
    from audiogen.training import TrainingError, end_distributed, train_stage
    from audiogen.training.checkpoint import CheckpointError
    from audiogen.training.distributed import is_first_process

    try:
        recipe = load_recipe(recipe_path, list(overrides or []))
        run_dir = out or Path(recipe.pop("run_dir", None) or f"runs/{stage}")
        on_interrupt(
            f"{run_dir} keeps the checkpoints saved so far; resume with: "
            f"{same_command(['--resume', '--out', str(run_dir)])}"
        )
        result = train_stage(stage, recipe, run_dir, resume=resume)
    except (TrainingError, CheckpointError, ValueError, FileNotFoundError, KeyError) as e:
        raise RunError(str(e)) from e
    finally:
        end_distributed()
    if not is_first_process():  # process 0 reports; the checkpoint is on its machine
        return
    typer.echo(
        f"{stage}: {result.step} steps ({result.nonfinite_steps} skipped as non-finite); "
        f"checkpoint {result.checkpoint}"
    )


@app.command("autoencoder", cls=PlainUsage)
def autoencoder(
    recipe: Path = RECIPE, overrides: list[str] = OVERRIDES, resume: bool = RESUME, out: Path = OUT
) -> None:
    """Train the mel-spectrogram VAE (recipes/autoencoder.yaml; recipes/debug/ for a CPU smoke run).

    Writes RUN_DIR/checkpoints/checkpoint-XXXXXXXX/ (models/autoencoder and ema/autoencoder are
    loadable model folders), TensorBoard logs in RUN_DIR/logs, samples (WAV + PNG) in RUN_DIR/samples.
    """
    run("autoencoder", recipe, overrides, resume, out)


@app.command("diffusion", cls=PlainUsage)
def diffusion(
    recipe: Path = RECIPE, overrides: list[str] = OVERRIDES, resume: bool = RESUME, out: Path = OUT
) -> None:
    """Train the latent denoiser on a frozen autoencoder's latents (recipes/diffusion.yaml).

    data.autoencoder names the trained autoencoder (run, checkpoint or model folder). Writes
    RUN_DIR/checkpoints/checkpoint-XXXXXXXX/ (models/denoiser and ema/denoiser are loadable model
    folders), TensorBoard logs in RUN_DIR/logs, generated samples (WAV + PNG) in RUN_DIR/samples.
    """
    run("diffusion", recipe, overrides, resume, out)


@app.command("vocoder", cls=PlainUsage)
def vocoder(
    recipe: Path = RECIPE, overrides: list[str] = OVERRIDES, resume: bool = RESUME, out: Path = OUT
) -> None:
    """Train the Vocos-style vocoder as a GAN on waveform segments (recipes/vocoder.yaml).

    Writes RUN_DIR/checkpoints/checkpoint-XXXXXXXX/ (models/vocoder and ema/vocoder are loadable
    model folders; models/discriminator too), TensorBoard logs in RUN_DIR/logs, samples (vocoder
    WAV + input WAV + PNG of true vs re-analysed mel) in RUN_DIR/samples.
    """
    run("vocoder", recipe, overrides, resume, out)


@app.command("classifier", cls=PlainUsage)
def classifier(
    recipe: Path = RECIPE, overrides: list[str] = OVERRIDES, resume: bool = RESUME, out: Path = OUT
) -> None:
    """Train the style classifier, the embedding of `audiogen eval generate` (recipes/classifier.yaml).

    Writes RUN_DIR/checkpoints/checkpoint-XXXXXXXX/ (models/classifier and ema/classifier are
    loadable model folders; pass the run folder to `audiogen eval generate --embedder`), TensorBoard
    logs in RUN_DIR/logs (val/accuracy), samples (crop WAV + log-mel PNG with the prediction).
    """
    run("classifier", recipe, overrides, resume, out)


@app.command("sequence", cls=PlainUsage)
def sequence(
    recipe: Path = RECIPE, overrides: list[str] = OVERRIDES, resume: bool = RESUME, out: Path = OUT
) -> None:
    """Train the latent sequence model that `audiogen stream` runs (recipes/sequence.yaml).

    Same data section as the diffusion stage (data.autoencoder, the latent cache). Writes
    RUN_DIR/checkpoints/checkpoint-XXXXXXXX/ (models/sequence and ema/sequence are loadable model
    folders), TensorBoard logs in RUN_DIR/logs, streamed samples (WAV + PNG) in RUN_DIR/samples.
    """
    run("sequence", recipe, overrides, resume, out)
