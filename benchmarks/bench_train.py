"""Training speed of each stage (autoencoder, diffusion, vocoder) in float32 and bf16, with the Trainer.

Runs each stage's model at the bundled model's size (``STAGES``: recipe + overrides) on synthetic
in-memory data (random harmonic tones, or random latents for the denoiser, so disk decoding and the
latent cache are excluded), in one process, for ``--warmup`` steps and then
``--steps`` measured steps per precision, and prints steps/s of the measured window (validation and
checkpoints are switched off) and each precision's speed as a ratio to the first's. Example::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_train.py --steps 20 --warmup 3
    .venv/bin/python benchmarks/bench_train.py --stages diffusion --precisions no bf16 fp16
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import tempfile
from pathlib import Path

import torch

from audiogen.config import load_recipe
from audiogen.training.tasks import Datasets
from audiogen.training.tasks.autoencoder import AutoencoderTask
from audiogen.training.tasks.diffusion import DiffusionTask
from audiogen.training.tasks.vocoder import VocoderTask
from audiogen.training.trainer import TrainConfig, Trainer


class Tones(torch.utils.data.Dataset):
    """Random harmonic tones ``{"waveform": (1, samples)}`` of ``seconds`` at ``sample_rate``."""

    def __init__(self, n: int, seconds: float, sample_rate: int) -> None:
        self.n, self.samples, self.sample_rate = n, int(seconds * sample_rate), sample_rate

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(i)
        f0 = 55.0 * 2 ** (torch.rand((), generator=g).item() * 5)
        t = torch.arange(self.samples) / self.sample_rate
        wave = sum(math.pow(0.6, k) * torch.sin(2 * math.pi * f0 * (k + 1) * t) for k in range(6))
        return {"waveform": (0.2 * wave)[None].float(), "label": torch.tensor(0)}


class Latents(torch.utils.data.Dataset):
    """Unit-variance random latents ``{"latent": (latent_dim, latent_frames), "label": ()}``."""

    def __init__(self, n: int, latent_dim: int, latent_frames: int, classes: int) -> None:
        self.n, self.shape, self.classes = n, (latent_dim, latent_frames), classes

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(i)
        return {"latent": torch.randn(self.shape, generator=g), "label": torch.tensor(i % self.classes)}


class AutoencoderBench(AutoencoderTask):
    """The autoencoder task with synthetic tones instead of the recipe's data section."""

    def build_datasets(self) -> Datasets:
        seconds = self.data_config.segment_seconds
        return Datasets(train=Tones(512, seconds, self.mel_config.sample_rate))


class DiffusionBench(DiffusionTask):
    """The diffusion task with random latents of the recipe's crop length instead of a latent cache."""

    def build_datasets(self) -> Datasets:
        d, m = self.data_config, self.model_config
        frames = round(d.segment_seconds * self.mel_config.sample_rate / self.mel_config.hop_length)
        latent_frames = frames // self.autoencoder.config.time_downsample
        latent_frames = max(m.length_multiple, latent_frames // m.length_multiple * m.length_multiple)
        classes = max(1, len(d.labels or []))
        return Datasets(train=Latents(512, m.latent_dim, latent_frames, classes))


class VocoderBench(VocoderTask):
    """The vocoder task with synthetic tones of the recipe's segment length."""

    def build_datasets(self) -> Datasets:
        seconds = self.data_config.segment_samples / self.mel_config.sample_rate
        return Datasets(train=Tones(512, seconds, self.mel_config.sample_rate))


#: stage -> (bench task, recipe, overrides): the bundled model's sizes
STAGES = {
    "autoencoder": (AutoencoderBench, "recipes/autoencoder_v2.yaml", []),
    "diffusion": (
        DiffusionBench,
        "recipes/diffusion.yaml",
        ["data.autoencoder=audiogen/assets/default", "model.channels=64", "train.batch_size=16",
         "data.segment_seconds=4.0"],
    ),
    "vocoder": (VocoderBench, "recipes/vocoder_gl.yaml", []),
}


def bench_stage(stage: str, precisions: list[str], steps: int, warmup: int, extra: list[str]) -> list[dict]:
    """Steps/s and first / last loss of one stage in each precision, on synthetic data."""
    task_class, recipe_path, overrides = STAGES[stage]
    recipe = load_recipe(recipe_path, overrides + extra)
    recipe.pop("run_dir", None)
    results = []
    for precision in precisions:
        train = {
            **recipe["train"],
            "mixed_precision": precision,
            "max_steps": warmup + steps,
            "log_every": warmup,
            "validate_every": 0,
            "checkpoint_every": 10**9,
            "log_with": None,
            "num_workers": 0,
            "warmup_steps": 1,
        }
        run = {**recipe, "train": train}
        with tempfile.TemporaryDirectory() as tmp:
            torch.manual_seed(0)
            trainer = Trainer(task_class(run), TrainConfig(**train), Path(tmp), run["loss_weights"], run)
            trainer.fit()
            lines = [json.loads(x) for x in (Path(tmp) / "metrics.jsonl").read_text().splitlines()]
        last = [x for x in lines if "train/steps_per_second" in x][-1]
        totals = sorted(k for k in last if k == "train/total" or k.startswith("train/total/"))
        total = next((k for k in totals if "gen" in k), totals[0])  # the (generator's) weighted loss
        results.append(
            {
                "stage": stage,
                "mixed_precision": precision,
                "steps_per_second": last["train/steps_per_second"],
                "loss_first": next(x[total] for x in lines if total in x),
                "loss_last": last[total],
            }
        )
    return results


def main() -> None:
    """Parse arguments, run each stage in each precision, print a table and the JSON results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("overrides", nargs="*", help="recipe overrides for every stage, e.g. train.lr=1e-4")
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=list(STAGES))
    parser.add_argument("--precisions", nargs="+", default=["no", "bf16"])
    parser.add_argument("--steps", type=int, default=20, help="measured steps per precision")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured steps first")
    args = parser.parse_args()

    results = [
        r for stage in args.stages for r in bench_stage(stage, args.precisions, args.steps, args.warmup,
                                                        args.overrides)
    ]
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu"
    print(f"device: {device}, torch threads: {torch.get_num_threads()}")
    for r in results:
        base = next(x for x in results if x["stage"] == r["stage"])
        print(
            f"{r['stage']:>11} {r['mixed_precision']:>5}: {r['steps_per_second']:.3f} steps/s "
            f"({r['steps_per_second'] / base['steps_per_second']:.2f}x {base['mixed_precision']}; "
            f"loss {r['loss_first']:.3f} -> {r['loss_last']:.3f})"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
