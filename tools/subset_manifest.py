"""Write the part of a manifest whose files are listed in a text file (paths relative to the manifest).

Rebuilds the training subset of the bundled model from the full default corpus::

    .venv/bin/audiogen data build-default --out data/corpus
    .venv/bin/python tools/subset_manifest.py data/corpus/manifest.jsonl \
        --files recipes/partial_corpus_files.txt --out data/corpus/partial.jsonl

Entries keep their split (the corpus splits by piece), label and metadata. Lines starting with
``#`` and blank lines of the list are ignored.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from audiogen.data.manifest import read_manifest, write_manifest


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status (1 if a listed file is not in the manifest)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("manifest", type=Path, help="the full manifest (JSON lines)")
    parser.add_argument("--files", type=Path, required=True, help="text file: one path per line")
    parser.add_argument("--out", type=Path, required=True, help="manifest to write")
    args = parser.parse_args(argv)
    lines = (line.strip() for line in args.files.read_text().splitlines())
    wanted = {Path(line).as_posix() for line in lines if line and not line.startswith("#")}
    root = args.manifest.resolve().parent
    entries = [e for e in read_manifest(args.manifest) if Path(e.path).relative_to(root).as_posix() in wanted]
    missing = sorted(wanted - {Path(e.path).relative_to(root).as_posix() for e in entries})
    write_manifest(args.out, entries)
    hours = sum(e.duration for e in entries) / 3600
    print(f"wrote {args.out}: {len(entries)} files, {hours:.2f} h, {dict(Counter(e.split for e in entries))}")
    if missing:
        print(f"error: {len(missing)} listed files are not in {args.manifest}, e.g. {missing[:3]}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
