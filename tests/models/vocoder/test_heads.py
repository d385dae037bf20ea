"""iSTFT head: exactness against torch.istft, overlap-add placement, alignment with the front end."""

import math

import pytest
import torch

from audiogen.models.vocoder import ISTFTHead, overlap_add


def harmonic_clip(samples: int, sample_rate: int, f0: float = 220.0) -> torch.Tensor:
    """A decaying harmonic tone ``(samples,)`` with peak amplitude below 1."""
    t = torch.arange(samples) / sample_rate
    tone = sum(0.3 / h * torch.sin(2 * math.pi * f0 * h * t) for h in range(1, 6))
    return tone * torch.exp(-3 * t)


@pytest.mark.parametrize(("n_fft", "hop_length"), [(1024, 256), (1200, 300), (512, 100)])
def test_istft_head_equals_torch_istft(n_fft, hop_length):
    """Both overlap-add paths (n_fft a multiple of hop, and F.fold otherwise) equal torch.istft."""
    head = ISTFTHead(8, n_fft, hop_length, max_log_magnitude=5.0)
    window = torch.hann_window(n_fft)
    for frames in (1, 2, 7, 40):
        spec = torch.randn(2, frames, n_fft // 2 + 1, dtype=torch.complex64)
        ours = head.istft(spec)
        ref = torch.istft(
            spec.transpose(1, 2), n_fft, hop_length, n_fft, window, center=True, length=frames * hop_length
        )
        assert ours.shape == (2, frames * hop_length)
        torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)


def test_overlap_add_places_frames_at_multiples_of_hop():
    frames = torch.zeros(1, 3, 8)
    frames[0, 1, 0] = 1.0  # first sample of frame 1 → output sample 1 * hop
    frames[0, 2, 7] = 2.0  # last sample of frame 2 → output sample 2 * hop + 7
    for hop in (4, 3):  # multiple of the frame length, and not
        out = overlap_add(frames, hop)
        assert out.shape == (1, 2 * hop + 8)
        expected = torch.zeros(2 * hop + 8)
        expected[hop], expected[2 * hop + 7] = 1.0, 2.0
        torch.testing.assert_close(out[0], expected)


def test_head_inverts_the_front_end_framing_sample_aligned():
    """Feeding the head the exact STFT of a clip (center=True framing) gives the clip back, aligned:
    frames = k + 1 for k * hop samples, output (k + 1) * hop samples whose first k * hop are the clip."""
    n_fft, hop, k = 1024, 256, 20
    clip = harmonic_clip(k * hop, 22050)
    spec = torch.stft(
        clip[None], n_fft, hop, n_fft, torch.hann_window(n_fft), center=True, return_complex=True
    )
    assert spec.shape[-1] == k + 1
    head = ISTFTHead(8, n_fft, hop, max_log_magnitude=20.0)
    out = head.istft(spec.transpose(1, 2))
    assert out.shape == (1, (k + 1) * hop)
    torch.testing.assert_close(out[0, : k * hop], clip, rtol=0, atol=1e-5)


def test_spectrum_uses_log_magnitude_and_phase():
    head = ISTFTHead(4, 16, 4, max_log_magnitude=math.log(100.0))
    with torch.no_grad():
        head.out.weight.zero_()
        head.out.bias.zero_()
        head.out.bias[:9] = torch.linspace(-2.0, 10.0, 9)  # log-magnitudes (the last ones above the clamp)
        head.out.bias[9:] = torch.linspace(-3.0, 3.0, 9)  # phases in radians
    spec = head.spectrum(torch.zeros(1, 2, 4))
    expected_mag = torch.linspace(-2.0, 10.0, 9).clamp(max=math.log(100.0)).exp()
    torch.testing.assert_close(spec.abs()[0, 0], expected_mag, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(spec.angle()[0, 0], torch.linspace(-3.0, 3.0, 9), rtol=1e-5, atol=1e-5)
