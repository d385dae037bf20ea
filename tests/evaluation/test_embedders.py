"""Embedders: folders and Python entries (audiogen.evaluation.embedders)."""

import sys
import types

import pytest
import torch

from audiogen.config import MelConfig
from audiogen.evaluation.embedders import ClassifierEmbedder, EmbedderNotFoundError, load_embedder

MEL = MelConfig(sample_rate=16000, n_fft=512, hop_length=128, n_mels=32)


class _MeanEmbedder:
    name = "two statistics"

    def embed(self, waveform, sample_rate):
        return torch.stack([waveform.mean(dim=-1), waveform.std(dim=-1)], dim=-1)


def make_embedder(device="cpu"):
    """An entry point for ``load_embedder("tests.evaluation.test_embedders:make_embedder")``."""
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

    entry = load_embedder("tests.evaluation.test_embedders:make_embedder")
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
        load_embedder("tests.evaluation.test_embedders:missing")
    monkeypatch.setitem(sys.modules, "fake_embedders", types.SimpleNamespace(make=lambda: object()))
    with pytest.raises(ValueError, match="without an embed"):
        load_embedder("fake_embedders:make")
