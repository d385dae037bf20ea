"""Time to generate a clip: the whole ``audiogen generate`` process, and in-process by stage.

Usage::

    .venv/bin/python benchmarks/bench_generate.py  # the bundled model, CPU (2 threads) + GPU
    .venv/bin/python benchmarks/bench_generate.py --random-init recipes  # untrained stages from the recipes
    .venv/bin/python benchmarks/bench_generate.py --checkpoint PIPELINE_DIR --threads 1 --repeats 7

Whole process (what a user waits for): ``audiogen generate --seconds S --num 1 --steps K --out
TMP`` run ``--process-runs`` times as a fresh subprocess (``python -m audiogen.cli`` of this
checkout, ``OMP_NUM_THREADS=--threads``, ``--device cpu``), for each ``--steps`` value; the median
and the fastest wall time are reported, beside ``audiogen --help`` and a bare ``python -c "import
torch"`` (the floor every command that generates pays). ``--baseline REV`` runs the same
commands on ``REV``'s ``audiogen`` package too (``git archive`` into a temporary folder),
interleaved run by run, for a before / after comparison under the same load (the last column: the
ratio of the medians, REV / now; above 1 this checkout is faster). Skipped with
``--random-init`` (the command line needs a pipeline folder) or ``--process-runs 0``.

In process: one call ``pipeline(seconds, num=1, steps, cfg_scale, style, sampler)`` — the
sampler loop of the latent denoiser (``denoise``), the VAE decoder (``decode``) and the vocoder
(``vocode``) — for each ``--steps`` value (default 4, 8 and 25 DPM-Solver++ steps; 10 s; the
pipeline's own default CFG scale, as ``audiogen generate`` uses it: ``generation.cfg_scale`` of
its ``model_index.json``, 1.0 for the bundled model; random-init pipelines get 3.0), in two
conditions: with a style (above CFG scale 1, classifier-free guidance runs the conditional and
the unconditional prediction in one batch of 2 per step; at 1, one prediction) and unconditional
(one prediction per step). ``--warmup`` calls first, then ``--repeats`` calls; the median of each
stage over the repeats is reported (CUDA is synchronised before every reading). ``RTF`` = wall
seconds per second of audio (< 1 is faster than real time); ``x realtime`` is its inverse.

Long generation (``--long 60,600``): for each length, a fresh process (``--threads`` threads)
loads the pipeline and generates one clip of that length with
:class:`~audiogen.pipelines.audiogen.AudioGenPipeline` (windowed for long clips)
(windowed denoising, chunked decoding and vocoding; the path ``audiogen generate`` takes above 10 s),
then reports the wall time per audio second and the process's peak resident memory (``ru_maxrss``),
also after loading only; the last lines give the ratios of the longest to the shortest length
(the issue's bar: within 1.3x). The first ``--steps`` value applies.

Streaming (``--stream SECONDS``, ``--stream-memory S1,S2``): time to first audio, real-time factor
and peak memory of ``audiogen stream``; see ``benchmarks/bench_stream.py``.

Models: ``--checkpoint DIR`` (a pipeline folder), else the bundled model
(``audiogen/assets/default``) when it is installed, else ``--random-init RECIPE_DIR``: the stages
are built from the ``mel`` and ``model`` sections of ``RECIPE_DIR/{autoencoder,diffusion,vocoder}.yaml``
(the style labels from ``diffusion.yaml``'s ``data.labels``) with random weights. Speed does not
depend on the weights, so this measures the trained model's speed before it exists; the output says
which was used. ``OMP_WAIT_POLICY=PASSIVE`` is set before torch is imported (spinning OpenMP
threads stall when the cores are shared).
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# time this checkout's audiogen, not whichever copy is installed (the script's folder is benchmarks/)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

STAGES = ("denoise", "decode", "vocode", "total")


def build_random_pipeline(recipe_dir: Path):
    """An :class:`AudioGenPipeline` with random weights from the recipes' ``mel`` / ``model`` sections.

    Raises:
        FileNotFoundError: a recipe is missing.
        ValueError: the autoencoder and vocoder recipes use different front ends.
    """
    from audiogen.config import MelConfig, from_dict, load_recipe
    from audiogen.models.autoencoder import AutoencoderConfig, MelVAE
    from audiogen.models.denoiser import DiffusionConfig, LatentDenoiser
    from audiogen.models.vocoder import VocoderConfig, VocosVocoder
    from audiogen.pipelines.audiogen import AudioGenPipeline
    from audiogen.samplers.factory import noise_scheduler

    ae = load_recipe(recipe_dir / "autoencoder.yaml")
    diff = load_recipe(recipe_dir / "diffusion.yaml")
    voc = load_recipe(recipe_dir / "vocoder.yaml")
    mel = from_dict(MelConfig, ae["mel"])
    if from_dict(MelConfig, voc["mel"]) != mel:
        raise ValueError(f"{recipe_dir}: autoencoder.yaml and vocoder.yaml have different mel sections")
    vae = MelVAE(from_dict(AutoencoderConfig, {**ae["model"], "mel": mel}))
    labels = list((diff.get("data") or {}).get("labels") or [])
    dcfg = from_dict(
        DiffusionConfig,
        {
            **diff["model"],
            "latent_dim": vae.latent_dim,
            "num_classes": len(labels),
            "class_labels": tuple(labels) or None,
        },
    )
    vocoder = VocosVocoder(from_dict(VocoderConfig, {**voc["model"]["vocoder"], "mel": mel}))
    return AudioGenPipeline(mel, vae, LatentDenoiser(dcfg), noise_scheduler(dcfg), vocoder)


def _parameters(module: torch.nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def bench(pipeline, seconds: float, steps: int, cfg_scale: float, style: str | None, sampler: str,
          warmup: int, repeats: int) -> dict[str, float]:  # fmt: skip
    """Median seconds per stage over ``repeats`` calls after ``warmup`` calls."""
    runs = []
    for i in range(warmup + repeats):
        result = pipeline(
            seconds,
            num=1,
            seed=i,
            steps=steps,
            cfg_scale=cfg_scale,
            style=style,
            sampler=sampler,
            progress=False,
        )
        if i >= warmup:
            runs.append(result.timings.to_dict())
    return {stage: statistics.median(r[stage] for r in runs) for stage in STAGES}


def _load(args) -> tuple:
    from audiogen.hub import MODEL_INDEX_NAME
    from audiogen.pipelines.audiogen import AudioGenPipeline, default_model_dir

    if args.checkpoint is not None:
        return AudioGenPipeline.from_pretrained(args.checkpoint), f"checkpoint {args.checkpoint}"
    if args.random_init is not None:
        return (
            build_random_pipeline(args.random_init),
            f"RANDOM weights built from {args.random_init}/{{autoencoder,diffusion,vocoder}}.yaml",
        )
    if (default_model_dir() / MODEL_INDEX_NAME).is_file():
        return AudioGenPipeline.from_pretrained(default_model_dir()), f"bundled {default_model_dir()}"
    raise SystemExit(
        f"error: the bundled model is not installed ({default_model_dir()}); pass --checkpoint DIR or "
        "--random-init recipes (untrained stages: speed does not depend on the weights)"
    )


def _peak_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


ROOT = Path(__file__).resolve().parent.parent


def _repo_env(threads: int, root: Path = ROOT) -> dict[str, str]:
    """A child's environment: ``root``'s audiogen first on ``PYTHONPATH``, ``threads`` OpenMP threads."""
    path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": str(threads)}


def _wall(command: list[str], root: Path, threads: int) -> float:
    """Wall seconds of one ``python COMMAND`` run with ``root``'s audiogen (it must succeed)."""
    import subprocess
    import time

    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, *command], capture_output=True, text=True, env=_repo_env(threads, root), cwd=root
    )
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"error: {' '.join(command)} failed:\n{proc.stderr[-3000:]}")
    return seconds


def _baseline_tree(rev: str, folder: Path) -> Path:
    """``rev``'s ``audiogen`` package (``git archive``) unpacked under ``folder``; returns ``folder``."""
    import subprocess

    command = ["git", "-C", str(ROOT), "archive", rev, "audiogen"]
    archive = subprocess.run(command, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def process_bench(args, steps_list: list[int]) -> list[dict]:
    """Whole-process wall time of ``audiogen generate`` per steps value, ``--help`` and ``import torch``.

    With ``--baseline REV`` the same commands also run on ``REV``'s package, interleaved run by run
    (alternating which goes first), so both see the same load.
    """
    import tempfile

    runs = args.process_runs
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"now": ROOT}
        if args.baseline:
            (Path(tmp) / "baseline").mkdir()
            trees[args.baseline] = _baseline_tree(args.baseline, Path(tmp) / "baseline")
        out = Path(tmp) / "out"
        commands = [("python -c 'import torch'", ["-c", "import torch"]),
                    ("audiogen --help", ["-m", "audiogen.cli", "--help"])]  # fmt: skip
        for steps in steps_list:
            command = ["-m", "audiogen.cli", "generate", "--seconds", f"{args.seconds:g}", "--num", "1",
                       "--steps", str(steps), "--sampler", args.sampler, "--device", "cpu",
                       "--out", str(out), "--overwrite"]  # fmt: skip
            if args.checkpoint is not None:
                command += ["--checkpoint", str(args.checkpoint.resolve())]
            commands.append((f"audiogen generate --seconds {args.seconds:g} --steps {steps}", command))
        for root in trees.values():  # not timed: byte-compiles the package, warms the page cache
            _wall(commands[-1][1], root, args.threads)
        load = os.getloadavg()[0]
        times: dict[tuple[str, str], list[float]] = {(t, c[0]): [] for t in trees for c in commands}
        for i in range(runs):
            order = list(trees) if i % 2 == 0 else list(reversed(trees))
            for label, command in commands:
                for tree in order:
                    times[(tree, label)].append(_wall(command, trees[tree], args.threads))
    print(
        f"whole process: fresh `python -m audiogen.cli ...` per run, OMP_NUM_THREADS={args.threads}, "
        f"median (fastest) of {runs}, load average {load:.1f} -> {os.getloadavg()[0]:.1f}"
    )
    ratio_header = f"{args.baseline + ' / now':>22}" if args.baseline else ""
    print(f"  {'command':<44}" + "".join(f"{tree:>22}" for tree in trees) + ratio_header)
    rows = []
    for label, _ in commands:
        cells = []
        for tree in trees:
            values = times[(tree, label)]
            median, fastest = statistics.median(values), min(values)
            cells.append(f"{median:>8.2f} s ({fastest:.2f} s)")
            rows.append({"tree": tree, "command": label, "median_s": median, "fastest_s": fastest})
        if args.baseline:  # > 1: this checkout is faster than the baseline
            before, now = times[(args.baseline, label)], times[("now", label)]
            ratio = statistics.median(before) / statistics.median(now)
            cells.append(f"{ratio:.2f}x")
        print(f"  {label:<44}" + "".join(f"{c:>22}" for c in cells))
    return rows


def long_child(args) -> None:
    """Generate one clip of ``args.long_child`` seconds in this process; print one JSON line."""
    import time

    pipeline, source = _load(args)
    style = pipeline.styles[0] if pipeline.styles else None
    loaded = _peak_mib()
    start = time.perf_counter()
    result = pipeline(args.long_child, steps=args.steps, style=style, sampler=args.sampler, progress=False)
    places = result.joints
    wall = time.perf_counter() - start
    print(json.dumps({
        "seconds": args.long_child, "wall_s": wall, "s_per_audio_s": wall / args.long_child,
        "peak_mib": _peak_mib(), "peak_after_load_mib": loaded, "model": source,
        "windows": len(places.window_boundaries) + 1 if places else 1, "timings": result.timings.to_dict(),
    }))  # fmt: skip


def long_bench(args) -> None:
    """Run :func:`long_child` in a fresh process per length and print the table and the ratios."""
    import subprocess
    import sys

    lengths = [float(x) for x in args.long.split(",")]
    rows = []
    print(
        f"long generation: {args.steps} {args.sampler} steps, {args.threads} threads, load average "
        f"{os.getloadavg()[0]:.1f}, one fresh process per length"
    )
    print(
        f"{'seconds':>8}{'wall (s)':>10}{'s / audio s':>13}{'peak RSS (MiB)':>16}{'after load':>12}"
        f"{'windows':>9}"
    )
    for seconds in lengths:
        command = [sys.executable, __file__, "--long-child", str(seconds), "--steps", str(args.steps),
                   "--sampler", args.sampler, "--threads", str(args.threads)]  # fmt: skip
        if args.checkpoint is not None:
            command += ["--checkpoint", str(args.checkpoint)]
        if args.random_init is not None:
            command += ["--random-init", str(args.random_init)]
        # the child imports audiogen from this checkout (the script's folder is benchmarks/)
        proc = subprocess.run(command, capture_output=True, text=True, env=_repo_env(args.threads))
        if proc.returncode:
            raise SystemExit(f"error: the {seconds:g} s run failed:\n{proc.stderr[-3000:]}")
        out = proc.stdout
        row = json.loads(out.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"{seconds:>8g}{row['wall_s']:>10.1f}{row['s_per_audio_s']:>13.3f}{row['peak_mib']:>16.0f}"
            f"{row['peak_after_load_mib']:>12.0f}{row['windows']:>9}"
        )
    first, last = rows[0], rows[-1]
    print(f"model: {first['model']}")
    print(
        f"ratio {last['seconds']:g} s / {first['seconds']:g} s: time per audio second "
        f"{last['s_per_audio_s'] / first['s_per_audio_s']:.2f}x, peak memory "
        f"{last['peak_mib'] / first['peak_mib']:.2f}x"
    )
    if args.json is not None:
        args.json.write_text(json.dumps({"long": rows, "args": vars(args)}, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print a table (and ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="pipeline folder (default: bundled)")
    parser.add_argument(
        "--random-init",
        type=Path,
        default=None,
        metavar="RECIPE_DIR",
        help="build untrained stages from RECIPE_DIR/{autoencoder,diffusion,vocoder}.yaml",
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--steps", default="4,8,25", help="comma-separated sampler steps (default 4,8,25; --long: the first)"
    )
    parser.add_argument(
        "--process-runs", type=int, default=5, help="whole-process runs per command (0: skip; default 5)"
    )
    parser.add_argument(
        "--cfg-scale", type=float, default=None, help="styled row's CFG scale (default: the pipeline's own)"
    )
    parser.add_argument("--sampler", default="dpm++")
    parser.add_argument(
        "--threads", type=int, default=2, help="torch.set_num_threads for the CPU (default 2)"
    )
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--devices", default=None, help="comma-separated (default: cpu, and cuda if available)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--long", default=None, metavar="S1,S2", help="long generation: lengths in seconds, e.g. 60,600"
    )
    parser.add_argument(
        "--baseline",
        default=None,
        metavar="REV",
        help="also time the whole-process commands on git REV's package, interleaved (e.g. HEAD~3)",
    )
    parser.add_argument("--long-child", type=float, default=None, help=argparse.SUPPRESS)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_stream  # the --stream modes: benchmarks/bench_stream.py

    bench_stream.add_arguments(parser)
    args = parser.parse_args(argv)
    steps_list = [int(x) for x in str(args.steps).split(",")]
    args.steps = steps_list[0]
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    torch.set_num_threads(args.threads)
    if bench_stream.run(args):
        return None
    if args.long_child is not None:
        return long_child(args)
    if args.long is not None:
        return long_bench(args)

    from audiogen.hub import MODEL_INDEX_NAME
    from audiogen.pipelines.audiogen import AudioGenPipeline, default_model_dir

    if args.checkpoint is not None:
        pipeline, source = AudioGenPipeline.from_pretrained(args.checkpoint), f"checkpoint {args.checkpoint}"
    elif args.random_init is not None:
        pipeline = build_random_pipeline(args.random_init)
        source = f"RANDOM weights built from {args.random_init}/{{autoencoder,diffusion,vocoder}}.yaml"
    elif (default_model_dir() / MODEL_INDEX_NAME).is_file():
        pipeline, source = (
            AudioGenPipeline.from_pretrained(default_model_dir()),
            f"bundled {default_model_dir()}",
        )
    else:
        parser.error(
            f"the bundled model is not installed ({default_model_dir()}); pass --checkpoint DIR or "
            "--random-init recipes (untrained stages: speed does not depend on the weights)"
        )
    devices = (
        args.devices.split(",") if args.devices else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    )
    style = pipeline.styles[0] if pipeline.styles else None
    cfg_scale = pipeline.resolve_cfg_scale(args.cfg_scale)
    conditions = ([(f"style={style}, cfg {cfg_scale:g}", style)] if style else []) + [("unconditional", None)]

    print(f"model: {source}")
    print(
        f"  parameters: autoencoder {_parameters(pipeline.autoencoder):.2f} M, denoiser "
        f"{_parameters(pipeline.denoiser):.2f} M, vocoder {_parameters(pipeline.vocoder):.2f} M; "
        f"{pipeline.sample_rate} Hz, latent frames for {args.seconds:g} s: "
        f"{pipeline.latent_frames_for(round(args.seconds * pipeline.sample_rate))}"
    )
    print(
        f"  torch {torch.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{args.threads} threads, load average {os.getloadavg()[0]:.1f}; "
        f"{args.seconds:g} s clip, {args.sampler}, median of {args.repeats} after {args.warmup} warm-up"
    )
    process_rows = []
    if args.process_runs > 0 and args.random_init is None:
        process_rows = process_bench(args, steps_list)
    print("in process, per stage:")
    header = f"{'device':<6} {'steps':>5} {'condition':<28}" + "".join(f"{s + ' (s)':>12}" for s in STAGES)
    header += f"{'RTF':>8}{'x realtime':>12}"
    print(header)
    print("-" * len(header))
    results = []
    for device in devices:
        pipeline.to(device)
        name = torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu"
        for steps in steps_list:
            for label, cond_style in conditions:
                t = bench(pipeline, args.seconds, steps, cfg_scale, cond_style, args.sampler,
                          args.warmup, args.repeats)  # fmt: skip
                rtf = t["total"] / args.seconds
                print(
                    f"{device:<6} {steps:>5} {label:<28}"
                    + "".join(f"{t[s]:>12.3f}" for s in STAGES)
                    + f"{rtf:>8.3f}{1 / rtf:>12.1f}"
                )
                row = {"device": device, "device_name": name, "steps": steps, "condition": label}
                results.append({**row, **t, "rtf": rtf})
    if args.json is not None:
        args.json.write_text(
            json.dumps({"model": source, "threads": args.threads, "args": vars(args), "results": results,
                        "process": process_rows}, indent=2, default=str) + "\n"
        )  # fmt: skip
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
