"""``audiogen data ...``: scan folders of audio into manifests, build the default corpus, pre-compute a
recipe's feature cache."""

from __future__ import annotations

from pathlib import Path

import typer

from audiogen.audio.levels import SILENCE_DB
from audiogen.cli.options import PlainUsage
from audiogen.errors import InputError, RunError

app = typer.Typer(no_args_is_help=True)


def _split_names(value: str) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]``."""
    return [v.strip() for v in value.split(",") if v.strip()]


@app.command("scan", cls=PlainUsage)
def scan(
    folder: Path = typer.Argument(..., metavar="FOLDER", help="Folder to scan recursively."),
    out: Path = typer.Option(..., "--out", help="Manifest to write (JSON lines)."),
    report: Path | None = typer.Option(
        None,
        "--report",
        help="Write every rejected file with its reason here (JSON lines), then the files kept with a "
        'warning ("kept": true).',
    ),
    min_seconds: float = typer.Option(0.5, "--min-seconds", min=0.0, help="Shortest accepted file, seconds."),
    silence_db: float = typer.Option(
        SILENCE_DB, "--silence-db", help="Files whose RMS level is below this (dBFS) are rejected as silent."
    ),
    valid_fraction: float = typer.Option(0.1, "--valid-fraction", min=0.0, max=1.0),
    test_fraction: float = typer.Option(0.0, "--test-fraction", min=0.0, max=1.0),
    group_by: str = typer.Option(
        "parent",
        "--group-by",
        help="Split unit: 'parent' (files of one sub-folder; files at the top level are each their own "
        "group), 'stem-regex' (see --group-regex) or 'none' (every file its own group).",
    ),
    group_regex: str | None = typer.Option(
        None,
        "--group-regex",
        help="For --group-by stem-regex: pattern searched in the file stem; the first capture group "
        "(or the match) is the group. Default strips trailing digits: song_01, song_02 -> song.",
    ),
    label_by: str = typer.Option("none", "--label-by", help="'parent': label = folder name; 'none'."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split hash."),
    workers: int = typer.Option(2, "--workers", min=1, help="Threads decoding files."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Check every audio file under FOLDER and write a manifest of the usable ones.

    A file is usable when it decodes from start to end, holds only finite samples, is not silent
    and is at least --min-seconds long. A lossy file (MP3, Ogg Vorbis, Opus) may decode up to
    max(1 %, 1 s) shorter than its header estimates: it is kept with the decoded length and a
    warning. Paths in the manifest are relative to the manifest's folder. Splits are drawn per
    group from a hash, so they are stable when files are added.
    """
    from audiogen.data.manifest import DEFAULT_GROUP_REGEX, write_manifest
    from audiogen.data.scan import scan_folder, write_rejections

    if group_by not in ("parent", "stem-regex", "none"):
        raise InputError(f"--group-by must be parent, stem-regex or none, got {group_by!r}")
    if label_by not in ("parent", "none"):
        raise InputError(f"--label-by must be parent or none, got {label_by!r}")
    try:
        result = scan_folder(
            folder,
            min_seconds=min_seconds,
            silence_db=silence_db,
            valid_fraction=valid_fraction,
            test_fraction=test_fraction,
            group_by=group_by,  # type: ignore[arg-type]
            group_regex=group_regex or DEFAULT_GROUP_REGEX,
            label_by=label_by,  # type: ignore[arg-type]
            seed=seed,
            workers=workers,
            progress=progress,
        )
    except (FileNotFoundError, NotADirectoryError, ValueError) as err:
        raise InputError(str(err)) from err
    write_manifest(out, result.entries)
    if report is not None:
        write_rejections(report, result.rejections, result.warnings)
    typer.echo(result.summary())
    typer.echo(f"manifest: {out} ({len(result.entries)} files)")
    if report is not None:
        kept = len(result.warnings)
        typer.echo(f"report: {report} ({len(result.rejections)} rejected, {kept} kept with a warning)")
    elif result.rejections:
        typer.echo("rejected files (pass --report FILE to save this list):")
        for r in result.rejections:
            typer.echo(f"  {r.path}: {r.reason}: {r.detail}")
    for w in result.warnings:
        typer.echo(f"warning: {w.path}: {w.detail}")


@app.command("build-default", cls=PlainUsage)
def build_default(
    out: Path = typer.Option(..., "--out", help="Corpus folder (created; an existing one is resumed)."),
    instruments: str = typer.Option(
        "piano,organ,guitar,strings,choir,flute",
        "--instruments",
        help="Comma-separated General MIDI instruments (style labels): piano, organ, guitar, strings, "
        "choir, flute.",
    ),
    collections: str = typer.Option(
        "chorales,madrigals,quartets",
        "--collections",
        help="Comma-separated music21 corpus collections: chorales (Bach), madrigals (Monteverdi), "
        "quartets (Haydn, Mozart).",
    ),
    max_pieces: int | None = typer.Option(None, "--max-pieces", min=1, help="Render only this many pieces."),
    sample_rate: int = typer.Option(22050, "--sample-rate", min=8000, help="Output sample rate, Hz."),
    workers: int = typer.Option(2, "--workers", min=1, help="Parallel rendering processes."),
    valid_fraction: float = typer.Option(0.1, "--valid-fraction", min=0.0, max=1.0),
    test_fraction: float = typer.Option(0.1, "--test-fraction", min=0.0, max=1.0),
    seed: int = typer.Option(0, "--seed"),
    fluidsynth: str = typer.Option("fluidsynth", "--fluidsynth", help="FluidSynth executable."),
    soundfont: Path = typer.Option(
        Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"), "--soundfont", help="General MIDI SoundFont (.sf2)."
    ),
    gain: float = typer.Option(0.5, "--gain", min=0.01, help="FluidSynth gain (output is peak-normalised)."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Render public-domain scores from music21's corpus with FluidSynth into a labelled corpus.

    Every piece is rendered in every instrument (mono 16-bit FLAC, trailing silence trimmed, peak
    -1 dBFS); splits are by piece. Writes OUT/manifest.jsonl. Re-running resumes: files already
    rendered are kept.
    """
    from audiogen.data.corpus import MissingDependencyError, build_default_corpus

    try:
        result = build_default_corpus(
            out,
            instruments=_split_names(instruments),
            collections=_split_names(collections),
            max_pieces=max_pieces,
            sample_rate=sample_rate,
            workers=workers,
            valid_fraction=valid_fraction,
            test_fraction=test_fraction,
            seed=seed,
            fluidsynth=fluidsynth,
            soundfont=soundfont,
            gain=gain,
            progress=progress,
        )
    except MissingDependencyError as err:
        raise RunError(str(err)) from err
    except ValueError as err:
        raise InputError(str(err)) from err
    typer.echo(result.summary())
    if result.failures:
        raise typer.Exit(1)


CACHED_STAGES = {"autoencoder": "mel_cache", "diffusion": "latent_cache"}
"""The training stages that read a feature cache, and the ``data.source`` that makes them do so."""


@app.command("cache", cls=PlainUsage)
def cache(
    stage: str = typer.Argument(
        ..., metavar="STAGE", help="autoencoder (log-mel cache) or diffusion (latent cache)."
    ),
    recipe: Path = typer.Argument(
        ..., metavar="RECIPE", exists=True, dir_okay=False, help="The training recipe (YAML)."
    ),
    overrides: list[str] = typer.Argument(
        None, metavar="KEY=VALUE", help="Overrides, e.g. data.latent_cache=/shared/latents."
    ),
) -> None:
    """Build the feature cache a training recipe reads, once, in this one process.

    The same cache folder `audiogen train STAGE RECIPE` would build on its first run (its name holds
    a key of the settings and of every file's path, size and modification time), so a training run
    with the same recipe finds it and starts at once: build it here before a launch on several GPUs or
    machines, then put it on the shared disk or copy it to each machine. Prints the cache folder.
    """
    from audiogen.config import load_recipe
    from audiogen.training import build_task

    try:
        if stage not in CACHED_STAGES:
            raise ValueError(f"stage {stage!r} reads no feature cache; these do: {sorted(CACHED_STAGES)}")
        config = load_recipe(recipe, list(overrides or []))
        config.pop("run_dir", None)
        task = build_task(stage, config)
        source = CACHED_STAGES[stage]
        if task.data_config.source != source:  # type: ignore[attr-defined]
            raise ValueError(
                f"{recipe}: data.source is {task.data_config.source!r}, so training reads no cache; "  # type: ignore[attr-defined]
                f"pass data.source={source} and data.{source}=FOLDER"
            )
        datasets = task.build_datasets()
    except (ValueError, FileNotFoundError, KeyError) as err:
        raise RunError(str(err)) from err
    folder = datasets.train.cache_dir  # type: ignore[attr-defined]
    items = len(datasets.train) + (len(datasets.val) if datasets.val is not None else 0)  # type: ignore[arg-type]
    typer.echo(f"cache: {folder} ({items} training + validation items)")
