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

The embeddings come from :mod:`audiogen.evaluation.embedders`; the benchmark that compares
generated with real audio is :mod:`audiogen.evaluation.generation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["EmbeddingStats", "embedding_stats", "frechet_distance"]


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
