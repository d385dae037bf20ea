"""Fréchet distance between generated and real audio on an offline embedding.

The Fréchet distance between two Gaussians ``N(μ1, Σ1)`` and ``N(μ2, Σ2)`` fitted to two sets of
embeddings is::

    FD = ‖μ1 − μ2‖² + tr(Σ1) + tr(Σ2) − 2 tr((Σ1 Σ2)^½)

the Fréchet Inception Distance of Heusel et al. 2017 ("GANs Trained by a Two Time-Scale Update
Rule Converge to a Local Nash Equilibrium"), used for audio as the Fréchet Audio Distance (Kilgour
et al. 2019) with a VGGish embedding. :func:`frechet_distance` follows the reference
implementation ``pytorch-fid`` (``calculate_frechet_distance``): ``scipy.linalg.sqrtm`` of
``Σ1 Σ2``, retried with ``eps`` added to both diagonals when the result is not finite (a singular
product), and the real part kept when the imaginary part is numerical noise.

Embeddings (:class:`Embedder`): anything with ``embed(waveform (batch, samples), sample_rate) ->
(batch, dim)``. The project's default is its own style classifier
(:class:`~audiogen.models.classifier.StyleClassifier`, trained with ``audiogen train classifier``):
no download, no network. :func:`load_embedder` also reads a mel VAE folder (time-pooled latent
statistics) or a Python entry ``module:callable`` that returns an embedder.

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
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    import torch

#: Peak level in dBFS that every evaluated clip is normalised to (as the training crops).
PEAK_DB = -1.0

#: Row names of :class:`GenerationReport`, in table order, with their descriptions.
ROWS = {
    "generated": "generated",
    "reconstructed": "floor: VAE + vocoder (half B)",
    "real_other_half": "real: other half (half B)",
    "noise": "ceiling: pink noise",
}

_ENTRY_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


# ------------------------------------------------------------------------------------------------
# the distance
# ------------------------------------------------------------------------------------------------


@dataclass
class EmbeddingStats:
    """Mean and covariance of a set of embeddings (the Gaussian the Fréchet distance compares).

    Attributes:
        mean: ``(dim,)`` float64.
        cov: ``(dim, dim)`` float64, the unbiased sample covariance (``numpy.cov``, ``N − 1``).
        count: number of embeddings.
    """

    mean: np.ndarray
    cov: np.ndarray
    count: int

    @property
    def dim(self) -> int:
        """Embedding size."""
        return int(self.mean.shape[0])

    def frechet_distance(self, other: EmbeddingStats, eps: float = 1e-6) -> float:
        """:func:`frechet_distance` between these statistics and ``other``.

        Raises:
            ValueError: as :func:`frechet_distance`.
        """
        return frechet_distance(self.mean, self.cov, other.mean, other.cov, eps=eps)


def embedding_stats(embeddings: np.ndarray | torch.Tensor) -> EmbeddingStats:
    """Fit a Gaussian to ``embeddings`` ``(count, dim)``: mean and unbiased covariance.

    Args:
        embeddings: ``(count, dim)``, numpy or torch (moved to CPU, float64).

    Returns:
        :class:`EmbeddingStats`.

    Raises:
        ValueError: if not 2-D, fewer than 2 rows, or any value is not finite.
    """
    if not isinstance(embeddings, np.ndarray):
        embeddings = embeddings.detach().double().cpu().numpy()
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"embedding_stats needs (count >= 2, dim >= 1) embeddings, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"embedding_stats: {int((~np.isfinite(x)).sum())} embedding values are not finite")
    return EmbeddingStats(mean=x.mean(axis=0), cov=np.atleast_2d(np.cov(x, rowvar=False)), count=x.shape[0])


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """Fréchet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    ``‖mu1 − mu2‖² + tr(sigma1) + tr(sigma2) − 2 tr(sqrtm(sigma1 · sigma2))`` (Heusel et al. 2017;
    Kilgour et al. 2019), as ``pytorch-fid``'s ``calculate_frechet_distance``: when the matrix
    square root is not finite, it is recomputed with ``eps`` added to both covariance diagonals;
    an imaginary part (numerical error of ``sqrtm`` on a near-singular product) is dropped if its
    largest diagonal entry is below 1e-3. Unlike ``pytorch-fid``, a larger imaginary part first
    triggers the same ``eps`` retry before it is reported. Symmetric in its two Gaussians; 0 for
    identical ones (up to rounding, clamped at 0).

    Args:
        mu1: mean ``(dim,)``.
        sigma1: covariance ``(dim, dim)``.
        mu2: mean ``(dim,)``.
        sigma2: covariance ``(dim, dim)``.
        eps: diagonal offset of the fallback, in squared embedding units.

    Returns:
        The distance (float, squared embedding units, >= 0).

    Raises:
        ValueError: mismatched shapes, non-finite inputs, or a square root with a significant
            imaginary part even after the offset.
    """
    from scipy import linalg

    mu1, mu2 = (
        np.atleast_1d(np.asarray(mu1, dtype=np.float64)),
        np.atleast_1d(np.asarray(mu2, dtype=np.float64)),
    )
    sigma1, sigma2 = (
        np.atleast_2d(np.asarray(sigma1, np.float64)),
        np.atleast_2d(np.asarray(sigma2, np.float64)),
    )
    dim = mu1.shape[0]
    if mu1.shape != (dim,) or mu2.shape != (dim,) or sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise ValueError(
            f"frechet_distance: shapes do not match: mu1 {mu1.shape}, sigma1 {sigma1.shape}, "
            f"mu2 {mu2.shape}, sigma2 {sigma2.shape}"
        )
    if not all(np.isfinite(a).all() for a in (mu1, mu2, sigma1, sigma2)):
        raise ValueError("frechet_distance: the means and covariances must be finite")

    def sqrtm(a: np.ndarray) -> np.ndarray:
        out = linalg.sqrtm(a)
        return out[0] if isinstance(out, tuple) else out  # older scipy returned (sqrtm, error)

    def significant_imag(a: np.ndarray) -> bool:
        return np.iscomplexobj(a) and not np.allclose(np.diagonal(a).imag, 0, atol=1e-3)

    diff = mu1 - mu2
    with np.errstate(all="ignore"):
        covmean = sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all() or significant_imag(covmean):
            offset = np.eye(dim) * eps
            covmean = sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if not np.isfinite(covmean).all():
        raise ValueError("frechet_distance: the matrix square root is not finite even with the eps offset")
    if np.iscomplexobj(covmean):
        if significant_imag(covmean):
            raise ValueError(
                f"frechet_distance: imaginary component {np.max(np.abs(covmean.imag)):.3g} in the matrix "
                "square root (covariances far from positive semi-definite?)"
            )
        covmean = covmean.real
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))
    return max(value, 0.0)


# ------------------------------------------------------------------------------------------------
# embedders
# ------------------------------------------------------------------------------------------------


@runtime_checkable
class Embedder(Protocol):
    """What :func:`evaluate_generation` needs of an embedding: one vector per clip.

    Attributes:
        name: human-readable description (shown in reports).

    ``embed(waveform, sample_rate)``: ``waveform`` float ``(batch, samples)`` mono in [-1, 1] at
    ``sample_rate`` Hz (the embedder resamples as it needs) → ``(batch, dim)`` float tensor on the
    CPU. An embedder may also offer ``labels`` (style names) and ``predict(waveform, sample_rate)
    -> (batch, len(labels))`` logits; then reports add a style accuracy.
    """

    name: str

    def embed(self, waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Embeddings ``(batch, dim)`` of mono clips ``(batch, samples)`` at ``sample_rate`` Hz."""
        ...


class _MelEmbedder:
    """Shared part of the built-in embedders: resample, log-mel, batch, run a mel model.

    Subclasses set ``title`` (the name shown in reports, followed by the source in brackets).
    """

    title = "mel model"

    def __init__(
        self, model: Any, device: str | torch.device = "cpu", batch_size: int = 16, source: str | None = None
    ) -> None:
        import torch

        from audiogen.audio.spectral import LogMelSpectrogram

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.mel_config = model.config.mel
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.frontend = LogMelSpectrogram(self.mel_config).to(self.device)
        self.model = model.to(self.device).eval()
        self.name = f"{self.title} ({source})" if source else self.title

    @property
    def sample_rate(self) -> int:
        """The rate in Hz the model reads (inputs at other rates are resampled)."""
        return int(self.mel_config.sample_rate)

    def _map(self, waveform: torch.Tensor, sample_rate: int, fn: Callable[[torch.Tensor], torch.Tensor]):
        import torch

        from audiogen.audio.io import resample

        if waveform.dim() != 2 or waveform.shape[-1] < 1:
            raise ValueError(
                f"{self.name}: expected a waveform (batch, samples), got {tuple(waveform.shape)}"
            )
        outs = []
        with torch.no_grad():
            for start in range(0, waveform.shape[0], self.batch_size):
                chunk = resample(
                    waveform[start : start + self.batch_size].float(), sample_rate, self.sample_rate
                )
                mel = self.frontend(chunk.to(self.device)).mel  # (batch, n_mels, frames)
                outs.append(fn(mel).float().cpu())
        return torch.cat(outs)


class ClassifierEmbedder(_MelEmbedder):
    """The style classifier's embedding (the project default); also predicts styles.

    Resamples to the classifier's rate, computes its log-mel
    (:class:`~audiogen.audio.spectral.LogMelSpectrogram`) and returns
    :meth:`~audiogen.models.classifier.StyleClassifier.embed`.

    Args:
        model: a trained :class:`~audiogen.models.classifier.StyleClassifier` (put in eval mode).
        device: torch device of the computation (results come back on the CPU).
        batch_size: clips per forward pass.
        source: where the model came from (for :attr:`name`).
    """

    title = "StyleClassifier"

    @property
    def labels(self) -> tuple[str, ...]:
        """Style names in class order."""
        return self.model.labels

    @property
    def dim(self) -> int:
        """Embedding size."""
        return int(self.model.config.embed_dim)

    def embed(self, waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Embeddings ``(batch, embed_dim)`` of mono clips ``(batch, samples)`` at ``sample_rate`` Hz.

        Raises:
            ValueError: if ``waveform`` is not 2-D.
        """
        return self._map(waveform, sample_rate, lambda mel: self.model(mel).embedding)

    def predict(self, waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Style logits ``(batch, num_classes)`` of mono clips ``(batch, samples)`` at ``sample_rate`` Hz.

        Raises:
            ValueError: if ``waveform`` is not 2-D.
        """
        return self._map(waveform, sample_rate, lambda mel: self.model(mel).logits)


class AutoencoderEmbedder(_MelEmbedder):
    """A mel VAE as an embedding: mean and standard deviation over time of the posterior mean.

    ``(batch, samples)`` → log-mel → :meth:`MelVAE.posterior` mean ``(batch, latent_dim,
    latent_frames)`` → concatenated time mean and time std → ``(batch, 2 * latent_dim)``. Not
    trained to separate styles, so a weaker embedding than the classifier; useful as a second view.

    Args:
        model: a :class:`~audiogen.models.autoencoder.MelVAE`.
        device: torch device of the computation.
        batch_size: clips per forward pass.
        source: where the model came from (for :attr:`name`).
    """

    title = "MelVAE latent statistics"

    def embed(self, waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Embeddings ``(batch, 2 * latent_dim)`` of mono clips ``(batch, samples)`` at ``sample_rate`` Hz.

        Raises:
            ValueError: if ``waveform`` is not 2-D.
        """
        import torch

        def fn(mel: torch.Tensor) -> torch.Tensor:
            z = self.model.posterior(mel).mean
            return torch.cat([z.mean(dim=-1), z.std(dim=-1, unbiased=False)], dim=-1)

        return self._map(waveform, sample_rate, fn)


class EmbedderNotFoundError(FileNotFoundError):
    """No embedder was given and no default one is installed, or the given one cannot be found."""


def _embedder_from_entry(spec: str, device: str | torch.device) -> Embedder:
    import importlib

    module_name, _, attr = spec.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise EmbedderNotFoundError(f"embedder {spec!r}: cannot import module {module_name!r} ({e})") from e
    for part in attr.split("."):
        if not hasattr(target, part):
            raise EmbedderNotFoundError(f"embedder {spec!r}: {module_name} has no attribute {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"embedder {spec!r}: {attr} is not callable")
    try:
        takes_device = "device" in inspect.signature(target).parameters
    except (TypeError, ValueError):
        takes_device = False
    embedder = target(device=device) if takes_device else target()
    if not callable(getattr(embedder, "embed", None)):
        raise ValueError(
            f"embedder {spec!r}: {attr}() returned a {type(embedder).__name__} without an "
            "embed(waveform, sample_rate) method"
        )
    if not isinstance(getattr(embedder, "name", None), str):
        try:
            embedder.name = spec
        except AttributeError:
            pass
    return embedder


def load_embedder(
    spec: str | os.PathLike[str], device: str | torch.device = "cpu", batch_size: int = 16
) -> Embedder:
    """Build the embedder that ``spec`` names.

    ``spec`` is either

    * a folder: a :class:`~audiogen.models.classifier.StyleClassifier` model folder, a pipeline
      folder with ``classifier/``, a classifier training checkpoint or run folder (newest complete
      checkpoint, EMA weights) → :class:`ClassifierEmbedder`; or a
      :class:`~audiogen.models.autoencoder.MelVAE` model / checkpoint / run folder →
      :class:`AutoencoderEmbedder`;
    * a Python entry ``package.module:callable`` (when no such path exists): the callable is
      imported and called (with ``device=`` if it takes that parameter) and must return an object
      with ``embed(waveform (batch, samples), sample_rate) -> (batch, dim)``.

    Raises:
        EmbedderNotFoundError: nothing at ``spec`` (no such folder, module or attribute).
        ValueError: the folder holds another kind of model, or the entry returns no embedder.
    """
    path = Path(spec)
    if not path.exists():
        if _ENTRY_RE.match(str(spec)):
            return _embedder_from_entry(str(spec), device)
        raise EmbedderNotFoundError(
            f"{spec}: no such embedder folder (give a classifier model/checkpoint/run folder, a mel VAE "
            "folder, or a Python entry module:callable)"
        )
    from audiogen.hub import CONFIG_NAME, find_model_folder, model_class, read_model_config

    try:
        folder = find_model_folder(path, "classifier")
    except FileNotFoundError:
        try:
            folder = find_model_folder(path, "autoencoder")
        except FileNotFoundError:
            raise EmbedderNotFoundError(
                f"{path}: no embedder here (expected a classifier or mel VAE model folder with "
                f"{CONFIG_NAME}, a pipeline folder with classifier/, or a checkpoint / run folder of "
                "`audiogen train classifier`)"
            ) from None
    class_name = read_model_config(folder)["class"]
    if class_name == "StyleClassifier":
        model = model_class(class_name).from_pretrained(folder, device)
        return ClassifierEmbedder(model, device, batch_size, str(folder))
    if class_name == "MelVAE":
        model = model_class(class_name).from_pretrained(folder, device)
        return AutoencoderEmbedder(model, device, batch_size, str(folder))
    raise ValueError(
        f"{folder}: holds a {class_name}, which is not an embedder (StyleClassifier or MelVAE); "
        "for another network pass a Python entry module:callable"
    )


# ------------------------------------------------------------------------------------------------
# signals
# ------------------------------------------------------------------------------------------------


def pink_noise(batch: int, samples: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Pink (1/f power) noise ``(batch, samples)`` with unit RMS per clip.

    White Gaussian noise shaped in the frequency domain by ``1 / sqrt(f)`` (DC removed), then
    scaled to RMS 1.

    Raises:
        ValueError: if ``batch`` or ``samples`` is below 1 (``samples`` below 2).
    """
    import torch

    if batch < 1 or samples < 2:
        raise ValueError(f"pink_noise needs batch >= 1 and samples >= 2, got {batch}, {samples}")
    white = torch.randn(batch, samples, generator=generator, dtype=torch.float64)
    spec = torch.fft.rfft(white)
    freqs = torch.arange(spec.shape[-1], dtype=torch.float64)
    shape = torch.where(freqs > 0, 1.0 / freqs.clamp_min(1.0).sqrt(), torch.zeros_like(freqs))
    pink = torch.fft.irfft(spec * shape, n=samples)
    return (pink / pink.square().mean(dim=-1, keepdim=True).sqrt().clamp_min(1e-12)).float()


def rms_db(waveform: torch.Tensor) -> torch.Tensor:
    """RMS level in dBFS per clip of ``waveform`` ``(batch, samples)`` → ``(batch,)`` (-inf-safe: ≥ -240)."""
    return 20 * waveform.double().square().mean(dim=-1).sqrt().clamp_min(1e-12).log10().float()


def peak_normalize(
    waveform: torch.Tensor, peak_db: float = PEAK_DB, silence_db: float = -60.0
) -> torch.Tensor:
    """Scale each clip of ``waveform`` ``(batch, samples)`` to a peak of ``peak_db`` dBFS.

    Clips with an RMS level below ``silence_db`` (dBFS) are left as they are (never amplified), as
    :class:`~audiogen.data.datasets.SegmentDataset` does.
    """
    peak = waveform.abs().amax(dim=-1, keepdim=True).clamp_min(1e-12)
    gain = (10 ** (peak_db / 20)) / peak
    quiet = (rms_db(waveform) < silence_db)[:, None]
    return waveform * gain.masked_fill(quiet, 1.0)


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


def split_halves(entries: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """Divide manifest entries into halves A and B by file, balanced per style.

    Entries are sorted by ``(label, path)``; walking that order, files alternate A, B, A, ...
    with one counter across styles, so each style is split evenly (an odd file goes to A, and
    the next style starts where the last left off).

    Returns:
        ``(half_a, half_b)``.
    """
    ordered = sorted(entries, key=lambda e: (e.label or "", str(e.path)))
    return ordered[0::2], ordered[1::2]


def _load_crops(
    entries: Sequence[Any], seconds: float, sample_rate: int, crops_per_file: int, desc: str, progress: bool
) -> tuple[torch.Tensor, list[str | None]]:
    """Evenly spaced, peak-normalised mono crops ``(clips, samples)`` of ``entries`` and their labels."""
    import torch
    from tqdm.auto import tqdm

    from audiogen.data.datasets import SegmentDataset

    dataset = SegmentDataset(
        list(entries),
        seconds,
        sample_rate,
        channels=1,
        split=None,
        train=False,
        normalize="peak",
        peak_db=PEAK_DB,
        valid_crops_per_file=crops_per_file,
    )
    waves, labels = [], []
    for i in tqdm(range(len(dataset)), desc=desc, disable=not progress, dynamic_ncols=True):
        item = dataset[i]
        waves.append(item["waveform"][0])
        index = int(item["label"])
        labels.append(dataset.labels[index] if index >= 0 else None)
    return torch.stack(waves), labels


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


def _fit_length(waveform: torch.Tensor, samples: int) -> torch.Tensor:
    """Cut or zero-pad the last axis to ``samples``."""
    import torch

    if waveform.shape[-1] >= samples:
        return waveform[..., :samples]
    return torch.nn.functional.pad(waveform, (0, samples - waveform.shape[-1]))


def generate_clips(
    pipe: Any,
    num: int,
    seconds: float,
    styles: Sequence[str | None],
    steps: int = 25,
    cfg_scale: float | None = None,
    seed: int = 0,
    batch_size: int = 8,
    progress: bool = True,
) -> tuple[torch.Tensor, int]:
    """Generate ``num`` mono clips of ``seconds`` seconds, clip ``i`` in style ``styles[i % len(styles)]``.

    Clips of one style are generated together, in batches of at most ``batch_size`` (the ``k``-th
    batch with seed ``seed + k * batch_size``; the pipeline seeds item ``i`` of a batch with its seed
    ``+ i``, so every clip has its own seed), mixed to mono, cut or zero-padded to ``seconds`` and
    peak-normalised to -1 dBFS; they come back in clip order.

    Args:
        pipe: an :class:`audiogen.pipelines.audiogen.AudioGenPipeline` (called as ``pipe(seconds=, num=,
            seed=, steps=, cfg_scale=, style=, progress=False)``).
        num: clips to generate.
        seconds: clip length in seconds.
        styles: the styles cycled over (``[None]``: unconditional).
        steps: sampler steps.
        cfg_scale: classifier-free guidance scale; ``None``: the pipeline's default (``pipe.cfg_scale``).
        seed: base seed.
        batch_size: clips per pipeline call.
        progress: show a tqdm bar.

    Returns:
        ``(waveform (num, samples), sample_rate)``.

    Raises:
        ValueError: ``num`` or ``batch_size`` below 1, or no styles.
    """
    import torch
    from tqdm.auto import tqdm

    if num < 1 or batch_size < 1 or not styles:
        raise ValueError(
            f"need num >= 1, batch_size >= 1 and a style list, got {num}, {batch_size}, {styles}"
        )
    plan = [styles[i % len(styles)] for i in range(num)]
    out: list[torch.Tensor | None] = [None] * num
    sample_rate = None
    batch_index = 0
    bar = tqdm(total=num, desc="generate", disable=not progress, dynamic_ncols=True)
    for style in dict.fromkeys(plan):
        positions = [i for i, s in enumerate(plan) if s == style]
        for start in range(0, len(positions), batch_size):
            chunk = positions[start : start + batch_size]
            result = pipe(
                seconds=seconds,
                num=len(chunk),
                seed=seed + batch_index * batch_size,
                steps=steps,
                cfg_scale=cfg_scale,
                style=style,
                progress=False,
            )
            batch_index += 1
            sample_rate = int(result.sample_rate)
            wav = result.waveforms.detach().float().cpu()
            if wav.dim() == 2:  # (batch, samples)
                wav = wav[:, None]
            mono = wav.mean(dim=1)  # (batch, samples)
            for j, i in enumerate(chunk):
                out[i] = mono[j]
            bar.update(len(chunk))
    bar.close()
    assert sample_rate is not None
    samples = round(seconds * sample_rate)
    clips = torch.stack([_fit_length(w, samples) for w in out])  # type: ignore[arg-type]
    return peak_normalize(clips), sample_rate


def reconstruct_clips(
    waveform: torch.Tensor,
    autoencoder: Any,
    vocoder: Any,
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    progress: bool = True,
) -> torch.Tensor:
    """VAE + vocoder reconstructions of mono clips ``(batch, samples)`` at the vocoder's rate.

    Log-mel (the vocoder's front end) → :meth:`MelVAE.encode` (posterior mean) → ``decode`` →
    vocoder; each output is cut to the input length and peak-normalised to -1 dBFS.

    Returns:
        ``(batch, samples)`` float32 on the CPU.
    """
    import torch
    from tqdm.auto import tqdm

    from audiogen.audio.spectral import LogMelSpectrogram

    frontend = LogMelSpectrogram(vocoder.mel_config).to(device)
    n = waveform.shape[-1]
    outs = []
    with torch.no_grad():
        for start in tqdm(
            range(0, waveform.shape[0], batch_size),
            desc="reconstruct",
            disable=not progress,
            dynamic_ncols=True,
        ):
            mel = frontend(waveform[start : start + batch_size].to(device)).mel
            decoded = autoencoder.decode(autoencoder.encode(mel), frames=mel.shape[-1])
            wav = vocoder(decoded)[:, 0].float().cpu()  # (batch, samples)
            outs.append(_fit_length(wav, n))
    return peak_normalize(torch.cat(outs))


def evaluate_generation(
    manifest: str | os.PathLike[str],
    pipeline_dir: str | os.PathLike[str],
    embedder: Embedder | str | os.PathLike[str] | None = None,
    split: str = "test",
    num: int = 64,
    seconds: float = 4.0,
    steps: int = 25,
    cfg_scale: float | None = None,
    seed: int = 0,
    crops_per_file: int = 2,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    plot_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    styles: Sequence[str] | None = None,
    loras: Sequence[tuple[str | os.PathLike[str], float]] = (),
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
        steps: sampler steps.
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

    Returns:
        :class:`GenerationReport`.

    Raises:
        FileNotFoundError: missing manifest, pipeline folder or embedder (:class:`EmbedderNotFoundError`).
        ValueError: bad arguments, fewer than 2 held-out files or 2 crops per half, models
            that do not agree, or a style the pipeline does not have.
    """
    import torch

    from audiogen.data.manifest import read_manifest
    from audiogen.evaluation import check_same_front_end
    from audiogen.hub import load_model

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
    ref_wav, ref_styles = _load_crops(half_a, seconds, sample_rate, crops_per_file, "real A", progress)
    b_wav, b_styles = _load_crops(half_b, seconds, sample_rate, crops_per_file, "real B", progress)
    notes = []
    if min(len(ref_wav), len(b_wav)) < 2:
        raise ValueError(f"{manifest}: split {split!r} gives fewer than 2 crops per half; add files or crops")

    if styles:
        unknown = sorted(set(styles) - set(pipe.styles))
        if unknown:
            raise ValueError(f"{pipeline_dir}: no style {unknown}; it has {pipe.styles}")
        styles = list(styles)
    else:
        styles = list(pipe.styles) or [None]
    cfg_scale = pipe.resolve_cfg_scale(cfg_scale)
    gen_wav, gen_rate = generate_clips(
        pipe, num, seconds, styles, steps=steps, cfg_scale=cfg_scale, seed=seed, batch_size=batch_size,
        progress=progress,
    )  # fmt: skip
    gen_styles = [styles[i % len(styles)] for i in range(num)]
    rec_wav = reconstruct_clips(b_wav, autoencoder, vocoder, device, batch_size, progress)

    g = torch.Generator().manual_seed(seed)
    levels = rms_db(ref_wav)
    target_db = levels[torch.arange(num) % len(levels)]
    noise = pink_noise(num, ref_wav.shape[-1], g) * (10 ** (target_db / 20))[:, None]

    sets = {
        "generated": (gen_wav, gen_rate, gen_styles),
        "reconstructed": (rec_wav, sample_rate, b_styles),
        "real_other_half": (b_wav, sample_rate, b_styles),
        "noise": (noise, sample_rate, [None] * num),
    }
    from tqdm.auto import tqdm

    ref_emb = embedder.embed(ref_wav, sample_rate)
    ref_stats = embedding_stats(ref_emb)
    dim = ref_stats.dim
    rows = []
    for name, (wav, rate, set_styles) in tqdm(
        sets.items(), desc="embed", disable=not progress, dynamic_ncols=True
    ):
        stats = embedding_stats(embedder.embed(wav, rate))
        rows.append(
            FrechetRow(
                name=name,
                description=ROWS[name],
                clips=stats.count,
                frechet_distance=stats.frechet_distance(ref_stats),
                style_accuracy=_style_accuracy(embedder, wav, rate, set_styles),
            )
        )
    small = [r.name for r in rows if r.clips <= dim] + (["reference"] if ref_stats.count <= dim else [])
    if small:
        notes.append(
            f"no more clips than embedding dimensions ({dim}) in {', '.join(small)}: singular covariances, "
            "FD dominated by sampling error; use more clips (--num, --crops-per-file)"
        )
    silent = int((rms_db(gen_wav) < -60.0).sum())
    if silent:
        notes.append(f"{silent} of {num} generated clips are silent (RMS below -60 dBFS)")
    if plot_dir is not None:
        _plot(plot_dir, ref_wav, ref_styles, gen_wav, gen_styles, vocoder.mel_config, seconds)

    return GenerationReport(
        manifest=str(manifest),
        split=split,
        seconds=float(seconds),
        sample_rate=sample_rate,
        pipeline=str(pipeline_dir),
        embedder=str(getattr(embedder, "name", type(embedder).__name__)),
        embed_dim=dim,
        halves=(
            "held-out files sorted by (style, path) alternate between A (reference) and B (the floor's "
            "input and the real row)"
        ),
        reference_clips=len(ref_wav),
        reference_files=len(half_a),
        reference_style_accuracy=_style_accuracy(embedder, ref_wav, sample_rate, ref_styles),
        num=num,
        steps=steps,
        cfg_scale=cfg_scale,
        seed=seed,
        styles=gen_styles,
        noise="pink noise (1/f power), each clip at the RMS level of a half-A crop",
        rows=rows,
        notes=notes,
    )


def default_embedder(pipeline_dir: str | os.PathLike[str] | None = None) -> Path:
    """The embedder folder used when none is given.

    ``pipeline_dir/classifier`` if the pipeline folder has one, else the bundled default model's
    ``classifier/`` (``audiogen/assets/default``, :data:`audiogen.hub.DEFAULT_PIPELINE`).

    Raises:
        EmbedderNotFoundError: if neither exists (the message says how to train one).
    """
    candidates = []
    if pipeline_dir is not None:
        candidates.append(Path(pipeline_dir) / "classifier")
    from audiogen import hub

    candidates.append(hub.DEFAULT_PIPELINE / "classifier")
    for c in candidates:
        if (c / hub.CONFIG_NAME).is_file():
            return c
    raise EmbedderNotFoundError(
        "no embedder given and no default one installed (looked for "
        f"{', '.join(str(c) for c in dict.fromkeys(candidates))}): pass --embedder DIR, e.g. a run folder "
        "of `audiogen train classifier recipes/classifier.yaml`"
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
    from audiogen.audio.spectral import LogMelSpectrogram
    from audiogen.plotting import save_mel_png

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
