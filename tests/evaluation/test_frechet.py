"""Fréchet distance and embedding statistics (audiogen.evaluation.frechet)."""

import math

import numpy as np
import pytest
import torch

from audiogen.evaluation.frechet import embedding_stats, frechet_distance


def _random_cov(rng: np.random.Generator, dim: int, rank: int | None = None) -> np.ndarray:
    a = rng.normal(size=(dim, rank or dim))
    return a @ a.T / (rank or dim) + (0.0 if rank else 0.1) * np.eye(dim)


def _reference_fd(mu1, s1, mu2, s2) -> float:
    """FD with tr((S1 S2)^½) from the eigenvalues of S1^½ S2 S1^½ (symmetric PSD), no sqrtm."""
    w, v = np.linalg.eigh(s1)
    root1 = v @ np.diag(np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(root1 @ s2 @ root1)
    return float(
        np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(np.clip(inner, 0, None)))
    )


def test_zero_for_identical_statistics():
    rng = np.random.default_rng(0)
    mu, cov = rng.normal(size=8), _random_cov(rng, 8)
    assert frechet_distance(mu, cov, mu.copy(), cov.copy()) == pytest.approx(0.0, abs=1e-8)
    x = rng.normal(size=(200, 5))
    s = embedding_stats(x)
    assert s.frechet_distance(embedding_stats(x.copy())) == pytest.approx(0.0, abs=1e-8)


def test_closed_forms_one_dimension_and_diagonal():
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2 with standard deviations s
    assert frechet_distance([1.0], [[4.0]], [-2.0], [[9.0]]) == pytest.approx(9.0 + 1.0)
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    d1, d2 = rng.uniform(0.1, 3, size=6), rng.uniform(0.1, 3, size=6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(d1) - np.sqrt(d2)) ** 2)
    assert frechet_distance(mu1, np.diag(d1), mu2, np.diag(d2)) == pytest.approx(expected, rel=1e-8)


def test_full_covariances_match_an_independent_computation_and_are_symmetric():
    rng = np.random.default_rng(2)
    for dim in (2, 7, 16):
        mu1, mu2 = rng.normal(size=dim), rng.normal(size=dim)
        s1, s2 = _random_cov(rng, dim), _random_cov(rng, dim)
        fd = frechet_distance(mu1, s1, mu2, s2)
        assert fd == pytest.approx(_reference_fd(mu1, s1, mu2, s2), rel=1e-6)
        assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(fd, rel=1e-6)
        assert fd > 0


def test_grows_with_the_mean_shift():
    rng = np.random.default_rng(3)
    mu, s1, s2 = rng.normal(size=4), _random_cov(rng, 4), _random_cov(rng, 4)
    direction = rng.normal(size=4)
    direction /= np.linalg.norm(direction)
    base = frechet_distance(mu, s1, mu, s2)
    values = [frechet_distance(mu + k * direction, s1, mu, s2) for k in (0.0, 0.5, 1.0, 2.0, 4.0)]
    assert all(b > a for a, b in zip(values, values[1:], strict=False))
    for k, v in zip((0.0, 0.5, 1.0, 2.0, 4.0), values, strict=True):
        assert v == pytest.approx(base + k**2, rel=1e-6)  # the mean term adds exactly |shift|^2


def test_singular_covariances_from_few_samples_stay_finite():
    rng = np.random.default_rng(4)
    a, b = embedding_stats(rng.normal(size=(5, 12))), embedding_stats(rng.normal(size=(6, 12)) + 1)
    fd = a.frechet_distance(b)
    assert math.isfinite(fd) and fd > 0
    assert fd == pytest.approx(_reference_fd(a.mean, a.cov, b.mean, b.cov), rel=1e-3, abs=1e-3)
    same = embedding_stats(rng.normal(size=(3, 12)))
    assert same.frechet_distance(same) == pytest.approx(0.0, abs=1e-3)


def test_embedding_stats_and_input_errors():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(50, 3)) * [1.0, 2.0, 0.5] + [1.0, -1.0, 0.0]
    s = embedding_stats(torch.from_numpy(x).float())
    np.testing.assert_allclose(s.mean, x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(s.cov, np.cov(x, rowvar=False), rtol=1e-4)
    assert s.count == 50 and s.dim == 3
    with pytest.raises(ValueError, match="count >= 2"):
        embedding_stats(x[:1])
    with pytest.raises(ValueError, match="count >= 2"):
        embedding_stats(x[:, 0])
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="not finite"):
        embedding_stats(bad)
    with pytest.raises(ValueError, match="shapes do not match"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="finite"):
        frechet_distance(np.zeros(2), np.full((2, 2), np.inf), np.zeros(2), np.eye(2))
