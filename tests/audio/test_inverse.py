"""Tests of the mel inversion and Griffin-Lim (audiogen.audio.inverse)."""

from __future__ import annotations

import pytest
import torch

from audiogen.audio.features import LogMelSpectrogram
from audiogen.audio.filterbank import FilterbankInverse, filterbank_inverse, mel_filterbank
from audiogen.audio.inverse import _invert_filterbank, griffin_lim
from audiogen.config import MelConfig
from tests.audio.test_features import plucked_melody


@pytest.mark.parametrize("center", [True, False])
def test_griffin_lim_length_and_quality(center):
    cfg = MelConfig(sample_rate=16000, n_fft=512, hop_length=128, n_mels=64, center=center)
    y = torch.from_numpy(plucked_melody(16000)).float()[None]
    front = LogMelSpectrogram(cfg)
    log_mel = front(y).mel
    recon = griffin_lim(log_mel, cfg, n_iter=16, length=y.shape[-1])
    assert recon.shape == y.shape and recon.dtype == torch.float32 and torch.isfinite(recon).all()
    default = griffin_lim(log_mel, cfg, n_iter=2)
    frames = log_mel.shape[-1]
    expected_len = (frames - 1) * cfg.hop_length + (0 if center else cfg.n_fft)
    assert default.shape == (1, expected_len)
    noise = torch.randn_like(y) * y.std()
    err_recon = (front(recon).mel - log_mel).abs().mean()
    err_noise = (front(noise).mel - log_mel).abs().mean()
    assert err_recon < 0.5 * err_noise, (float(err_recon), float(err_noise))


def _dense_nnls(mel: torch.Tensor, fb: torch.Tensor, n_steps: int) -> torch.Tensor:
    """The NNLS of ``_invert_filterbank`` written with dense float64 matrices (reference)."""
    mel, fb = mel.double(), fb.double()
    spec = torch.maximum(torch.linalg.pinv(fb) @ mel, 1e-10 * mel.amax(dim=(-2, -1), keepdim=True))
    for _ in range(n_steps):
        spec = spec * (fb.t() @ mel) / (fb.t() @ fb @ spec).clamp_min(1e-30)
    return spec


@pytest.mark.parametrize(
    "cfg",
    [
        MelConfig(),
        MelConfig(sample_rate=16000, n_fft=512, hop_length=128, n_mels=64, mel_scale="htk", norm=None),
    ],
    ids=["slaney", "htk"],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_invert_filterbank_sparse_matches_dense_reference(cfg, seed):
    gen = torch.Generator().manual_seed(seed)
    frames = int(torch.randint(1, 40, (1,), generator=gen))
    fb = mel_filterbank(cfg)
    target = torch.rand(2, fb.shape[1], frames, generator=gen) ** 4  # peaky, like real spectra
    mel = fb @ target
    ops = FilterbankInverse.build(fb)
    assert ops.w.layout == torch.sparse_csr and ops.wt.layout == torch.sparse_csr
    ours = _invert_filterbank(mel, ops, n_steps=10)
    assert ours.shape == target.shape and ours.dtype == torch.float32 and (ours >= 0).all()
    torch.testing.assert_close(ours.double(), _dense_nnls(mel, fb, 10), atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(_invert_filterbank(mel, fb, n_steps=10), ours)  # tensor in: same result
    start = _invert_filterbank(mel, ops, n_steps=0)

    def residual(spec: torch.Tensor) -> float:
        return float((fb @ spec - mel).square().sum())

    assert residual(ours) < residual(start)  # the multiplicative updates reduce the fit error


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_invert_filterbank_on_cuda_matches_cpu():
    cfg = MelConfig()
    fb = mel_filterbank(cfg)
    mel = fb @ (torch.rand(2, fb.shape[1], 50, generator=torch.Generator().manual_seed(3)) ** 4)
    ops = filterbank_inverse(cfg, "cuda:0")
    assert ops.w.is_cuda and ops.w.layout == torch.sparse_csr
    ours = _invert_filterbank(mel.cuda(), ops, n_steps=10)
    reference = _invert_filterbank(mel, filterbank_inverse(cfg))
    torch.testing.assert_close(ours.cpu(), reference, atol=1e-6, rtol=1e-4)


def test_griffin_lim_bad_arguments_raise():
    cfg = MelConfig()
    with pytest.raises(ValueError, match=r"\(batch, n_mels=80, frames\)"):
        griffin_lim(torch.zeros(1, 64, 10), cfg)
    with pytest.raises(ValueError, match="n_iter"):
        griffin_lim(torch.zeros(1, 80, 10), cfg, n_iter=0)
