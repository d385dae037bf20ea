"""Generation benchmark: Fréchet distance between generated and real audio.

Benchmark (:func:`evaluate_generation`, ``audiogen eval generate``): held-out clips of a manifest
split, cut into fixed crops, are divided by file into two halves (files of each style alternate
between them). Half A is the *reference*; every other set is compared with it:

* ``generated``: clips from the pipeline, styles spread evenly over its labels;
* ``reconstructed`` (floor): half B through log-mel → VAE (posterior mean) → vocoder, i.e. what
  the pipeline's decoder can reach at best;
* ``real_other_half``: half B itself, the distance left by sampling alone;
* ``noise`` (ceiling): pink noise at the reference crops' RMS levels.

Every clip is mono and, like the training crops (:class:`~audiogen.data.datasets.SegmentDataset`),
peak-normalised to -1 dBFS (noise excepted: it keeps the matched RMS), so the distances measure
content rather than gain. FD is biased upward for small sets (Chong & Forsyth 2020); compare rows
with similar clip counts, and use more clips than embedding dimensions.

The distance is :mod:`audiogen.evaluation.frechet`, the embeddings :mod:`audiogen.evaluation.embedders`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audiogen.audio.levels import SILENCE_DB, rms_db
from audiogen.evaluation.clips import generate_clips, load_crops, pink_noise, reconstruct_clips, split_halves
from audiogen.evaluation.embedders import Embedder, default_embedder, load_embedder
from audiogen.evaluation.frechet import embedding_stats

if TYPE_CHECKING:
    import torch

#: Row names of :class:`GenerationReport`, in table order, with their descriptions.
ROWS = {
    "generated": "generated",
    "reconstructed": "floor: VAE + vocoder (half B)",
    "real_other_half": "real: other half (half B)",
    "noise": "ceiling: pink noise",
}


# ------------------------------------------------------------------------------------------------
# benchmark
# ------------------------------------------------------------------------------------------------


@dataclass
class FrechetRow:
    """One compared set of :class:`GenerationReport`.

    Attributes:
        name: ``"generated"``, ``"reconstructed"``, ``"real_other_half"`` or ``"noise"`` (:data:`ROWS`).
        description: human-readable name.
        clips: clips in the set.
        frechet_distance: FD between this set's embeddings and the reference (half A).
        style_accuracy: fraction of clips the embedder classifies as their style (``None`` when
            the embedder cannot classify or the set has no styles).
    """

    name: str
    description: str
    clips: int
    frechet_distance: float
    style_accuracy: float | None = None


@dataclass
class GenerationReport:
    """Result of :func:`evaluate_generation`.

    Attributes:
        manifest: the manifest of the real clips.
        split: its held-out split.
        seconds: clip length in seconds (every set).
        sample_rate: rate in Hz of the audio handed to the embedder (the pipeline's).
        pipeline: the pipeline folder.
        embedder: the embedder's name.
        embed_dim: embedding size.
        halves: how the held-out crops were divided (reference A vs B).
        reference_clips: crops in half A (the reference of every row).
        reference_files: files in half A.
        reference_style_accuracy: style accuracy of the embedder on half A (``None`` if it cannot
            classify).
        num: generated clips.
        steps: sampler steps of generation.
        cfg_scale: classifier-free guidance scale of generation.
        seed: seed of generation and noise.
        styles: the style of each generated clip (``None`` entries: unconditional).
        noise: the ceiling's signal.
        rows: one :class:`FrechetRow` per set, in :data:`ROWS` order.
        notes: warnings (e.g. fewer clips than embedding dimensions).
    """

    manifest: str
    split: str
    seconds: float
    sample_rate: int
    pipeline: str
    embedder: str
    embed_dim: int
    halves: str
    reference_clips: int
    reference_files: int
    reference_style_accuracy: float | None
    num: int
    steps: int
    cfg_scale: float
    seed: int
    styles: list[str | None]
    noise: str
    rows: list[FrechetRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(self, name: str) -> FrechetRow:
        """The :class:`FrechetRow` called ``name``.

        Raises:
            KeyError: if there is no such row.
        """
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no row {name!r}; have {[r.name for r in self.rows]}")

    def table(self) -> str:
        """A plain-text table: one row per set, columns clips, FD and style accuracy."""
        name_w = max([len("set")] + [len(r.description) for r in self.rows])
        lines = [
            f"{'set':<{name_w}}  {'clips':>5}  {'FD':>10}  {'style acc.':>10}",
            f"{'-' * name_w}  {'-' * 5}  {'-' * 10}  {'-' * 10}",
        ]
        for r in self.rows:
            acc = "-" if r.style_accuracy is None else f"{r.style_accuracy:.3f}"
            lines.append(f"{r.description:<{name_w}}  {r.clips:>5}  {r.frechet_distance:>10.4f}  {acc:>10}")
        ref_acc = (
            ""
            if self.reference_style_accuracy is None
            else (f", style acc. {self.reference_style_accuracy:.3f}")
        )
        lines.append(
            f"reference: half A of split {self.split!r}, {self.reference_clips} crops of {self.seconds:g} s "
            f"from {self.reference_files} files{ref_acc}"
        )
        lines.append(f"halves: {self.halves}")
        lines.append(f"embedding: {self.embedder} ({self.embed_dim} dims)")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)


def _style_accuracy(embedder: Any, waveform: torch.Tensor, sample_rate: int, styles: Sequence[str | None]):
    """Fraction of clips whose predicted style is their style (``None`` if not measurable)."""
    labels = getattr(embedder, "labels", None)
    if labels is None or not callable(getattr(embedder, "predict", None)):
        return None
    known = [i for i, s in enumerate(styles) if s is not None and s in labels]
    if not known:
        return None
    predicted = embedder.predict(waveform[known], sample_rate).argmax(dim=-1).tolist()
    return sum(labels[p] == styles[i] for p, i in zip(predicted, known, strict=True)) / len(known)


def evaluate_generation(
    manifest: str | os.PathLike[str],
    pipeline_dir: str | os.PathLike[str],
    embedder: Embedder | str | os.PathLike[str] | None = None,
    split: str = "test",
    num: int = 64,
    seconds: float = 4.0,
    steps: int | None = None,
    cfg_scale: float | None = None,
    seed: int = 0,
    crops_per_file: int = 2,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    plot_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    styles: Sequence[str] | None = None,
    loras: Sequence[tuple[str | os.PathLike[str], float]] = (),
    floor: bool = True,
) -> GenerationReport:
    """FD of generated clips, of the VAE + vocoder floor, of real audio and of noise against held-out audio.

    See the module docstring for the four sets. The held-out files of ``split`` are divided by
    :func:`split_halves`; each file gives ``min(crops_per_file, ceil(duration / seconds))`` evenly
    spaced crops of ``seconds`` seconds at the pipeline's sample rate (mono, peak -1 dBFS;
    shorter files are zero-padded). Each set is embedded, a Gaussian is fitted
    (:func:`embedding_stats`) and compared with half A's (:func:`frechet_distance`). The noise
    ceiling has ``num`` clips of pink noise, each at the RMS level of a half-A crop (cycled).

    Args:
        manifest: JSONL manifest with the held-out split.
        pipeline_dir: the pipeline folder (``AudioGenPipeline.from_pretrained``); its
            ``autoencoder/`` and ``vocoder/`` make the floor (loaded with
            :func:`audiogen.hub.load_model`).
        embedder: an :class:`Embedder`, or a spec for :func:`load_embedder`; ``None``: the
            pipeline folder's ``classifier/``, else the bundled default classifier.
        split: the held-out split.
        num: generated (and noise) clips.
        seconds: clip length in seconds.
        steps: sampler steps (``None``: the pipeline's default, ``generation.steps``).
        cfg_scale: classifier-free guidance scale; ``None``: the pipeline's default (``pipe.cfg_scale``).
        seed: seed of generation and of the noise.
        crops_per_file: most crops per held-out file.
        batch_size: clips per generation / reconstruction / embedding batch.
        device: torch device (default: CUDA if available, else CPU).
        plot_dir: if given, one PNG per style there: the log-mel of a half-A crop and of the first
            generated clip of that style.
        progress: show progress bars.
        styles: generate only these styles (cycled), e.g. the style a fine-tuned pipeline learnt;
            ``None``: every style of the pipeline.
        loras: LoRA adapters ``(folder, strength)`` loaded onto the pipeline first
            (:meth:`~audiogen.pipelines.audiogen.AudioGenPipeline.load_lora`; their styles can be generated).
        floor: also reconstruct half B through VAE + vocoder (the ``reconstructed`` row). It depends
            only on the autoencoder and the vocoder, not on the seed or the denoiser, so a curve over
            denoiser checkpoints or seeds needs it once; ``False`` leaves the row out.

    Returns:
        :class:`GenerationReport`.

    Raises:
        FileNotFoundError: missing manifest, pipeline folder or embedder (:class:`EmbedderNotFoundError`).
        ValueError: bad arguments, fewer than 2 held-out files or 2 crops per half, models
            that do not agree, or a style the pipeline does not have.
    """
    return next(evaluate_generation_seeds(
        manifest, pipeline_dir, [seed], embedder=embedder, split=split, num=num, seconds=seconds,
        steps=steps, cfg_scale=cfg_scale, crops_per_file=crops_per_file, batch_size=batch_size,
        device=device, plot_dir=plot_dir, progress=progress, styles=styles, loras=loras, floor=floor,
    ))  # fmt: skip


def evaluate_generation_seeds(
    manifest: str | os.PathLike[str],
    pipeline_dir: str | os.PathLike[str],
    seeds: Sequence[int],
    embedder: Embedder | str | os.PathLike[str] | None = None,
    split: str = "test",
    num: int = 64,
    seconds: float = 4.0,
    steps: int | None = None,
    cfg_scale: float | None = None,
    crops_per_file: int = 2,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    plot_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    styles: Sequence[str] | None = None,
    loras: Sequence[tuple[str | os.PathLike[str], float]] = (),
    floor: bool = True,
) -> Iterator[GenerationReport]:
    """:func:`evaluate_generation` for several seeds at the price of one generation per seed.

    What does not depend on the seed is done once: the held-out crops, their embeddings (the
    reference, half B), the floor's reconstructions and their rows. Each seed's report is the one
    ``evaluate_generation(..., seed=seed)`` returns (the same ``reconstructed`` and
    ``real_other_half`` rows in each); ``plot_dir`` draws the first seed's clips.

    Args:
        seeds: the seeds of generation and of the noise, one report each (at least ``num`` apart
            for independent sets); the other arguments as :func:`evaluate_generation`.

    Yields:
        One :class:`GenerationReport` per seed, in the order of ``seeds``, each as soon as it is
        measured (a long run keeps what it finished).

    Raises:
        as :func:`evaluate_generation` (at the first report); ValueError also for no seeds.
    """
    import torch

    from audiogen.data.manifest import read_manifest
    from audiogen.evaluation.reconstruction import check_same_front_end
    from audiogen.hub import load_model

    if not seeds:
        raise ValueError("need at least one seed")
    if num < 2 or seconds <= 0 or crops_per_file < 1 or batch_size < 1:
        raise ValueError(
            f"need num >= 2, seconds > 0, crops_per_file >= 1, batch_size >= 1; got {num}, {seconds}, "
            f"{crops_per_file}, {batch_size}"
        )
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    pipeline_dir = Path(pipeline_dir)
    if not pipeline_dir.is_dir():
        raise FileNotFoundError(f"{pipeline_dir}: no such pipeline folder")
    entries = [e for e in read_manifest(manifest) if e.split == split]
    if len(entries) < 2:
        raise ValueError(
            f"{manifest}: split {split!r} has {len(entries)} file(s); need at least 2 (two halves)"
        )

    if embedder is None:
        embedder = default_embedder(pipeline_dir)
    if isinstance(embedder, str | os.PathLike):
        embedder = load_embedder(embedder, device, batch_size=max(batch_size, 16))
    elif not callable(getattr(embedder, "embed", None)):
        raise ValueError(f"embedder {embedder!r} has no embed(waveform, sample_rate) method")

    from audiogen.pipelines.audiogen import AudioGenPipeline

    pipe = AudioGenPipeline.from_pretrained(pipeline_dir, device=device)
    for lora_dir, strength in loras:
        pipe.load_lora(lora_dir, strength=strength)
    vocoder = load_model(pipeline_dir, "vocoder", device)
    autoencoder = load_model(pipeline_dir, "autoencoder", device)
    check_same_front_end(vocoder, autoencoder, pipeline_dir, pipeline_dir)
    sample_rate = int(vocoder.mel_config.sample_rate)

    half_a, half_b = split_halves(entries)
    ref_wav, ref_styles = load_crops(half_a, seconds, sample_rate, crops_per_file, "real A", progress)
    b_wav, b_styles = load_crops(half_b, seconds, sample_rate, crops_per_file, "real B", progress)
    if min(len(ref_wav), len(b_wav)) < 2:
        raise ValueError(f"{manifest}: split {split!r} gives fewer than 2 crops per half; add files or crops")

    if styles:
        unknown = sorted(set(styles) - set(pipe.styles))
        if unknown:
            raise ValueError(f"{pipeline_dir}: no style {unknown}; it has {pipe.styles}")
        styles = list(styles)
    else:
        styles = list(pipe.styles) or [None]
    cfg_scale, steps = pipe.resolve_cfg_scale(cfg_scale), pipe.resolve_steps(steps)
    rec_wav = reconstruct_clips(b_wav, autoencoder, vocoder, device, batch_size, progress) if floor else None
    ref_stats = embedding_stats(embedder.embed(ref_wav, sample_rate))
    dim = ref_stats.dim

    def row(name: str, wav: torch.Tensor, rate: int, set_styles: Sequence[str | None]) -> FrechetRow:
        stats = embedding_stats(embedder.embed(wav, rate))
        return FrechetRow(
            name=name,
            description=ROWS[name],
            clips=stats.count,
            frechet_distance=stats.frechet_distance(ref_stats),
            style_accuracy=_style_accuracy(embedder, wav, rate, set_styles),
        )

    fixed = {"real_other_half": row("real_other_half", b_wav, sample_rate, b_styles)}
    if rec_wav is not None:
        fixed["reconstructed"] = row("reconstructed", rec_wav, sample_rate, b_styles)
    reference_style_accuracy = _style_accuracy(embedder, ref_wav, sample_rate, ref_styles)
    levels = rms_db(ref_wav)
    target_db = levels[torch.arange(num) % len(levels)]
    gen_styles = [styles[i % len(styles)] for i in range(num)]
    for k, seed in enumerate(seeds):
        gen_wav, gen_rate = generate_clips(
            pipe, num, seconds, styles, steps=steps, cfg_scale=cfg_scale, seed=seed, batch_size=batch_size,
            progress=progress,
        )  # fmt: skip
        g = torch.Generator().manual_seed(seed)
        noise = pink_noise(num, ref_wav.shape[-1], g) * (10 ** (target_db / 20))[:, None]
        by_name = {
            "generated": row("generated", gen_wav, gen_rate, gen_styles),
            **fixed,
            "noise": row("noise", noise, sample_rate, [None] * num),
        }
        rows = [by_name[name] for name in ROWS if name in by_name]
        notes = []
        small = [r.name for r in rows if r.clips <= dim] + (["reference"] if ref_stats.count <= dim else [])
        if small:
            notes.append(
                f"no more clips than embedding dimensions ({dim}) in {', '.join(small)}: singular "
                "covariances, FD dominated by sampling error; use more clips (--num, --crops-per-file)"
            )
        silent = int((rms_db(gen_wav) < SILENCE_DB).sum())
        if silent:
            notes.append(f"{silent} of {num} generated clips are silent (RMS below {SILENCE_DB:g} dBFS)")
        if plot_dir is not None and k == 0:
            _plot(plot_dir, ref_wav, ref_styles, gen_wav, gen_styles, vocoder.mel_config, seconds)
        yield GenerationReport(
            manifest=str(manifest),
            split=split,
            seconds=float(seconds),
            sample_rate=sample_rate,
            pipeline=str(pipeline_dir),
            embedder=str(getattr(embedder, "name", type(embedder).__name__)),
            embed_dim=dim,
            halves=(
                "held-out files sorted by (style, path) alternate between A (reference) and B (the "
                "floor's input and the real row)"
            ),
            reference_clips=len(ref_wav),
            reference_files=len(half_a),
            reference_style_accuracy=reference_style_accuracy,
            num=num,
            steps=steps,
            cfg_scale=cfg_scale,
            seed=seed,
            styles=gen_styles,
            noise="pink noise (1/f power), each clip at the RMS level of a half-A crop",
            rows=rows,
            notes=list(notes),
        )


def _plot(
    plot_dir: str | os.PathLike[str],
    ref_wav: torch.Tensor,
    ref_styles: Sequence[str | None],
    gen_wav: torch.Tensor,
    gen_styles: Sequence[str | None],
    mel_config: Any,
    seconds: float,
) -> list[Path]:
    """One PNG per generated style: log-mel of a half-A crop of that style (if any) above a generated clip."""
    from audiogen.audio.features import LogMelSpectrogram
    from audiogen.evaluation.plotting import save_mel_png

    folder = Path(plot_dir)
    folder.mkdir(parents=True, exist_ok=True)
    frontend = LogMelSpectrogram(mel_config)
    written = []
    for k, style in enumerate(dict.fromkeys(gen_styles)):
        i = list(gen_styles).index(style)
        mels, titles = [], []
        if style in ref_styles:
            j = list(ref_styles).index(style)
            mels.append(frontend(ref_wav[j : j + 1]).mel[0])
            titles.append(f"held-out real: {style}")
        mels.append(frontend(gen_wav[i : i + 1]).mel[0])
        titles.append(f"generated: {style or 'unconditional'} ({seconds:g} s)")
        name = re.sub(r"[^\w.-]+", "_", str(style or "unconditional"))
        written.append(save_mel_png(folder / f"generated_{k:02d}_{name}.png", mels, mel_config, titles))
    return written
