"""Add the training latents' per-style statistics to a saved sequence model (for the stream's guard).

`audiogen train sequence` stores them in every checkpoint it writes; this measures them for a
model saved before that (the bundled one), the same way (:meth:`SequenceTask.latent_statistics
<audiogen.training.tasks.sequence.SequenceTask.latent_statistics>` over the recipe's training
data), and writes ``latents_mean`` / ``latents_std`` (and ``--stats-guard``, the default strength)
into ``MODEL/config.json``; the weights are not touched::

    .venv/bin/python tools/sequence_stats.py audiogen/assets/default/sequence \\
        --recipe recipes/sequence.yaml --stats-guard 0.5 data.manifest=data/corpus/manifest.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", type=Path, help="sequence model folder (config.json + model.safetensors)")
    parser.add_argument("--recipe", type=Path, default=Path("recipes/sequence.yaml"))
    parser.add_argument("--stats-guard", type=float, default=None, help="also set the default strength")
    parser.add_argument("overrides", nargs="*", help="recipe overrides, key=value")
    args = parser.parse_intermixed_args()

    from audiogen.config import load_recipe
    from audiogen.models.sequence import SequenceConfig
    from audiogen.training.tasks import build_task

    path = args.model / "config.json"
    if not path.is_file():
        raise SystemExit(f"error: {path}: no such file (give a sequence model folder)")
    meta = json.loads(path.read_text())
    task = build_task("sequence", load_recipe(args.recipe, args.overrides))
    saved, built = meta["config"], task.model_config
    for key in ("latent_dim", "num_classes", "frames_per_step"):
        if saved.get(key) != getattr(built, key):
            raise SystemExit(
                f"error: {path}: {key}={saved.get(key)} but the recipe's data give {getattr(built, key)}"
            )
    if list(saved.get("class_labels") or []) != list(built.class_labels or []):
        raise SystemExit(
            f"error: {path}: labels {saved.get('class_labels')} differ from the recipe's {built.class_labels}"
        )
    mean, std = task.latent_statistics(task.build_datasets().train)
    config = {**saved, "latents_mean": mean, "latents_std": std}
    if args.stats_guard is not None:
        config["stats_guard"] = args.stats_guard
    from audiogen.config import from_dict

    from_dict(SequenceConfig, config)  # raises on a bad shape or value before anything is written
    meta["config"] = config
    path.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"{path}: statistics of {len(mean)} rows x {len(mean[0])} channels written")


if __name__ == "__main__":
    main()
