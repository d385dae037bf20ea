"""Write a training manifest: all of a base manifest plus some hours of another collection's files.

Builds the manifest the bundled VAE's adversarial decoder was trained on (the default corpus subset
plus 2.6 h of Debian game music; docs/training.md)::

    .venv/bin/python tools/mix_manifests.py data/corpus/partial.jsonl data/extra_music/manifest.jsonl \
        --extra-train-hours 2.6 --out data/mixed/manifest.jsonl

Every entry of the base manifest is kept with its split. Of the extra manifest, the ``train``
files are shuffled (``random.Random(--seed)``, in manifest order first) and taken until their
duration reaches ``--extra-train-hours``; its ``valid`` files are all kept; its ``test`` files are
left out (held out from training). Paths are written relative to the new manifest's folder.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from pathlib import Path

from audiogen.data.manifest import read_manifest, write_manifest


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("base", type=Path, help="manifest kept whole (JSON lines)")
    parser.add_argument("extra", type=Path, help="manifest to take training hours from")
    parser.add_argument("--extra-train-hours", type=float, required=True, help="hours of extra train files")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shuffle of the extra train files")
    parser.add_argument("--out", type=Path, required=True, help="manifest to write")
    parser.add_argument("--list", type=Path, default=None, help="also write the chosen extra files here")
    args = parser.parse_args(argv)
    if not args.extra_train_hours > 0:
        parser.error(f"--extra-train-hours must be positive, got {args.extra_train_hours}")
    base, extra = read_manifest(args.base), read_manifest(args.extra)
    train = [e for e in extra if e.split == "train"]
    random.Random(args.seed).shuffle(train)
    chosen, hours = [], 0.0
    for entry in train:
        if hours >= args.extra_train_hours:
            break
        chosen.append(entry)
        hours += entry.duration / 3600
    valid = [e for e in extra if e.split == "valid"]
    entries = base + chosen + valid
    write_manifest(args.out, entries)
    if args.list is not None:
        root = args.extra.resolve().parent
        names = sorted(Path(e.path).relative_to(root).as_posix() for e in chosen)
        args.list.write_text("".join(f"{n}\n" for n in names))
    total = sum(e.duration for e in entries) / 3600
    print(
        f"wrote {args.out}: {len(entries)} files, {total:.2f} h, {dict(Counter(e.split for e in entries))}; "
        f"extra: {len(chosen)} train files ({hours:.2f} h) + {len(valid)} valid"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
