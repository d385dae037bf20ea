"""Fréchet distance, embedding statistics, embedders, noise and the half split."""

import math
import sys
import types

import numpy as np
import pytest
import torch

from audiogen.config import MelConfig
from audiogen.frechet import (
    ClassifierEmbedder,
    EmbedderNotFoundError,
    embedding_stats,
    frechet_distance,
    load_embedder,
    peak_normalize,
    pink_noise,
    rms_db,
    split_halves,
)

MEL = MelConfig(sample_rate=16000, n_fft=512, hop_length=128, n_mels=32)


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


# ------------------------------------------------------------------------------------------------
# signals and halves


def test_pink_noise_has_unit_rms_and_equal_power_per_octave():
    x = pink_noise(4, 1 << 16, torch.Generator().manual_seed(0))
    assert x.shape == (4, 1 << 16)
    torch.testing.assert_close(x.square().mean(dim=-1).sqrt(), torch.ones(4), rtol=1e-4, atol=1e-4)
    power = torch.fft.rfft(x.double()).abs().square().mean(dim=0)
    octaves = [float(power[2**k : 2 ** (k + 1)].sum()) for k in range(6, 14)]
    ratios = [b / a for a, b in zip(octaves, octaves[1:], strict=False)]
    assert all(0.8 < r < 1.25 for r in ratios), ratios  # white noise would double per octave


def test_peak_normalize_and_rms():
    x = torch.stack([0.1 * torch.sin(torch.arange(1000) / 5.0), torch.full((1000,), 1e-5)])
    y = peak_normalize(x)
    assert float(y[0].abs().max()) == pytest.approx(10 ** (-1 / 20), rel=1e-5)
    torch.testing.assert_close(y[1], x[1])  # -100 dBFS: silent, not amplified
    assert float(rms_db(x)[1]) == pytest.approx(-100.0, abs=0.01)


def test_split_halves_alternates_files_within_each_style():
    entries = [types.SimpleNamespace(label=lab, path=f"/{lab}/{i}.wav") for lab in "ab" for i in range(5)]
    entries.append(types.SimpleNamespace(label="c", path="/c/0.wav"))
    a, b = split_halves(list(reversed(entries)))
    assert not {e.path for e in a} & {e.path for e in b} and len(a) + len(b) == len(entries)
    count = lambda half, lab: sum(e.label == lab for e in half)  # noqa: E731
    assert (count(a, "a"), count(b, "a")) == (3, 2)
    assert (count(a, "b"), count(b, "b")) == (2, 3)  # the counter runs on across styles
    assert [e.path for e in a][:3] == ["/a/0.wav", "/a/2.wav", "/a/4.wav"]


# ------------------------------------------------------------------------------------------------
# embedders


class _MeanEmbedder:
    name = "two statistics"

    def embed(self, waveform, sample_rate):
        return torch.stack([waveform.mean(dim=-1), waveform.std(dim=-1)], dim=-1)


def make_embedder(device="cpu"):
    """An entry point for ``load_embedder("tests.test_frechet:make_embedder")``."""
    return _MeanEmbedder()


def test_load_embedder_from_folders_and_entries(tmp_path, monkeypatch):
    from audiogen.models.autoencoder import AutoencoderConfig, MelVAE
    from audiogen.models.classifier import ClassifierConfig, StyleClassifier
    from audiogen.models.vocoder import VocoderConfig, VocosVocoder

    StyleClassifier(
        ClassifierConfig(mel=MEL, labels=("x", "y"), channels=(4, 8), embed_dim=5)
    ).save_pretrained(tmp_path / "pipe" / "classifier")
    MelVAE(AutoencoderConfig(mel=MEL, latent_dim=3, channels=8, blocks_per_stage=1)).save_pretrained(
        tmp_path / "vae"
    )
    VocosVocoder(VocoderConfig(mel=MEL, dim=8, intermediate_dim=16, num_layers=1)).save_pretrained(
        tmp_path / "voc"
    )

    wav = 0.3 * torch.randn(3, 22050)  # at 22.05 kHz: resampled to the models' 16 kHz
    clf = load_embedder(tmp_path / "pipe")  # a pipeline folder's classifier/
    assert isinstance(clf, ClassifierEmbedder) and clf.labels == ("x", "y") and clf.dim == 5
    assert clf.embed(wav, 22050).shape == (3, 5) and clf.predict(wav, 22050).shape == (3, 2)
    # the resampled clip embeds as the same clip given at the model's own rate
    from audiogen.audio.io import resample

    torch.testing.assert_close(clf.embed(wav, 22050), clf.embed(resample(wav, 22050, 16000), 16000))
    vae = load_embedder(tmp_path / "vae")
    assert vae.embed(wav, 22050).shape == (3, 6) and "MelVAE" in vae.name

    entry = load_embedder("tests.test_frechet:make_embedder")
    assert entry.embed(wav, 22050).shape == (3, 2)

    with pytest.raises(ValueError, match="VocosVocoder, which is not an embedder"):
        load_embedder(tmp_path / "voc")
    with pytest.raises(EmbedderNotFoundError, match="no such embedder folder"):
        load_embedder(tmp_path / "nowhere")
    with pytest.raises(EmbedderNotFoundError, match="no embedder here"):
        (tmp_path / "empty").mkdir()
        load_embedder(tmp_path / "empty")
    with pytest.raises(EmbedderNotFoundError, match="cannot import module"):
        load_embedder("no_such_module_xyz:make")
    with pytest.raises(EmbedderNotFoundError, match="has no attribute"):
        load_embedder("tests.test_frechet:missing")
    monkeypatch.setitem(sys.modules, "fake_embedders", types.SimpleNamespace(make=lambda: object()))
    with pytest.raises(ValueError, match="without an embed"):
        load_embedder("fake_embedders:make")
