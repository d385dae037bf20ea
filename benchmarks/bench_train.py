"""Training speed of the autoencoder stage in float32 and bf16, through the real Trainer.

Runs the model and front end of a recipe (default ``recipes/autoencoder.yaml``) on synthetic
in-memory audio (random harmonic tones, so disk decoding is excluded), for ``--warmup`` steps and then
``--steps`` measured steps per precision, and prints steps/s of the measured window (validation and
checkpoints are switched off) and each precision's speed as a ratio to the first's. Example::

    .venv/bin/python benchmarks/bench_train.py --steps 20 --warmup 3
    .venv/bin/python benchmarks/bench_train.py --precisions no bf16 fp16 train.batch_size=32
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


class BenchTask(AutoencoderTask):
    """The autoencoder task with synthetic data instead of the recipe's data section."""

    def build_datasets(self) -> Datasets:
        seconds = self.data_config.segment_seconds
        return Datasets(train=Tones(512, seconds, self.mel_config.sample_rate))


def main() -> None:
    """Parse arguments, run each precision, print a table and the JSON results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("overrides", nargs="*", help="recipe overrides, e.g. train.batch_size=32")
    parser.add_argument("--recipe", default="recipes/autoencoder.yaml")
    parser.add_argument("--precisions", nargs="+", default=["no", "bf16"])
    parser.add_argument("--steps", type=int, default=20, help="measured steps per precision")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured steps first")
    args = parser.parse_args()

    recipe = load_recipe(args.recipe, args.overrides)
    recipe.pop("run_dir", None)
    results = []
    for precision in args.precisions:
        train = {
            **recipe["train"],
            "mixed_precision": precision,
            "max_steps": args.warmup + args.steps,
            "log_every": args.warmup,
            "validate_every": 0,
            "checkpoint_every": 10**9,
            "log_with": None,
            "num_workers": 0,
            "warmup_steps": 1,
        }
        run = {**recipe, "train": train}
        with tempfile.TemporaryDirectory() as tmp:
            trainer = Trainer(BenchTask(run), TrainConfig(**train), Path(tmp), run["loss_weights"], run)
            trainer.fit()
            lines = [json.loads(x) for x in (Path(tmp) / "metrics.jsonl").read_text().splitlines()]
        last = [x for x in lines if "train/steps_per_second" in x][-1]
        results.append(
            {
                "mixed_precision": precision,
                "steps_per_second": last["train/steps_per_second"],
                "loss_first": lines[0]["train/total"],
                "loss_last": last["train/total"],
            }
        )
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu"
    print(
        f"device: {device}, torch threads: {torch.get_num_threads()}, "
        f"batch_size: {recipe['train']['batch_size']}, "
        f"segment_seconds: {recipe['data']['segment_seconds']}, channels: {recipe['model'].get('channels')}"
    )
    reference = results[0]
    for r in results:
        ratio = r["steps_per_second"] / reference["steps_per_second"]
        print(
            f"{r['mixed_precision']:>5}: {r['steps_per_second']:.3f} steps/s, "
            f"{ratio:.2f}x {reference['mixed_precision']}'s speed  "
            f"(loss {r['loss_first']:.3f} -> {r['loss_last']:.3f})"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
