"""Embedders for the Fréchet distance.

An embedder (:class:`Embedder`) is anything with ``embed(waveform (batch, samples), sample_rate) ->
(batch, dim)``. The project's default is its own style classifier
(:class:`~audiogen.models.classifier.StyleClassifier`, trained with ``audiogen train classifier``):
no download, no network. :func:`load_embedder` also reads a mel VAE folder (time-pooled latent
statistics) or a Python entry ``module:callable`` that returns an embedder.

:func:`default_embedder` is the folder used when none is given.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch

__all__ = [
    "AutoencoderEmbedder",
    "ClassifierEmbedder",
    "Embedder",
    "EmbedderNotFoundError",
    "default_embedder",
    "load_embedder",
    "style_heard",
]

_ENTRY_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


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

        from audiogen.audio.features import LogMelSpectrogram

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
    (:class:`~audiogen.audio.features.LogMelSpectrogram`) and returns
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
    from audiogen.hub import CONFIG_NAME, find_model_folder, load_model
    from audiogen.models.autoencoder import MelVAE
    from audiogen.models.classifier import StyleClassifier

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
    model = load_model(folder, device=device)  # whichever model class config.json names
    if isinstance(model, StyleClassifier):
        return ClassifierEmbedder(model, device, batch_size, str(folder))
    if isinstance(model, MelVAE):
        return AutoencoderEmbedder(model, device, batch_size, str(folder))
    raise ValueError(
        f"{folder}: holds a {type(model).__name__}, which is not an embedder (StyleClassifier or MelVAE); "
        "for another network pass a Python entry module:callable"
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


def style_heard(
    pipeline: Any,
    waveform: torch.Tensor,
    sample_rate: int,
    pipeline_dir: str | os.PathLike[str] | None = None,
) -> tuple[str | None, Path | None]:
    """``--style auto``: the style the default classifier (:func:`default_embedder`) hears in an input.

    Args:
        pipeline: an :class:`~audiogen.pipelines.audiogen.AudioGenPipeline`
            (:meth:`~audiogen.pipelines.audiogen.AudioGenPipeline.detect_style` does the listening).
        waveform: ``(batch, channels, samples)`` float audio.
        sample_rate: its rate in Hz.
        pipeline_dir: the pipeline's folder (its ``classifier/`` first), ``None`` for the bundled one.

    Returns:
        ``(style, classifier folder)``: the style, or ``None`` where the model lacks it (generate
        unconditionally); ``(None, None)`` when no classifier is installed.

    Raises:
        ValueError: the classifier folder cannot be read or the waveform is bad (names the folder).
    """
    try:
        folder = default_embedder(pipeline_dir)
    except EmbedderNotFoundError:
        return None, None
    try:
        return pipeline.detect_style(waveform, sample_rate, folder), folder
    except (OSError, ValueError) as e:
        raise ValueError(f"{folder}: {e}") from e
