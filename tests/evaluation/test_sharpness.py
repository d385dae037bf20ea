"""Fine-structure measures of a log-mel: known values, blur lowers gradients and raises flatness."""

import math

import pytest
import torch
import torch.nn.functional as F

from audiogen.audio.levels import DB_PER_NEPER
from audiogen.evaluation.sharpness import active_frames, mel_sharpness


def _harmonic_mel(n_mels: int = 40, frames: int = 60) -> torch.Tensor:
    """Log-mel with partials every 5 bands and a note change every 10 frames (sharp edges)."""
    mel = torch.full((n_mels, frames), math.log(1e-3))
    for t in range(frames):
        shift = (t // 10) % 2
        mel[shift::5, t] = 0.0
    return mel


def test_known_values_for_a_checkerboard():
    # ln amplitudes alternate 0 / -1 along frequency, constant in time
    mel = torch.zeros(8, 10)
    mel[1::2] = -1.0
    s = mel_sharpness(mel)
    assert s.freq_gradient_db == pytest.approx(DB_PER_NEPER)
    assert s.time_gradient_db == pytest.approx(0.0)
    # power: half the bands 1, half e^-2 -> geometric e^-1, arithmetic (1 + e^-2) / 2
    assert s.spectral_flatness == pytest.approx(math.exp(-1) / ((1 + math.exp(-2)) / 2))
    assert s.frames == 10


def test_a_flat_spectrum_has_flatness_one_and_no_gradient():
    s = mel_sharpness(torch.full((16, 12), -2.0))
    assert s.spectral_flatness == pytest.approx(1.0)
    assert s.freq_gradient_db == s.time_gradient_db == 0.0


def test_blur_lowers_gradients_and_raises_flatness():
    sharp = _harmonic_mel()
    blurred = F.avg_pool2d(F.pad(sharp[None, None], (2, 2, 2, 2), mode="replicate"), 5, stride=1)[0, 0]
    mask = active_frames(sharp)
    a, b = mel_sharpness(sharp, mask), mel_sharpness(blurred, mask)
    assert b.freq_gradient_db < 0.5 * a.freq_gradient_db
    assert b.time_gradient_db < a.time_gradient_db
    assert b.spectral_flatness > a.spectral_flatness


def test_silent_frames_are_left_out():
    mel = _harmonic_mel(frames=20)
    padded = torch.cat([mel, torch.full((40, 30), math.log(1e-5) - 20)], dim=1)  # 30 frames far below
    assert active_frames(padded).sum() == 20
    assert mel_sharpness(padded).freq_gradient_db == pytest.approx(mel_sharpness(mel).freq_gradient_db)


def test_errors():
    with pytest.raises(ValueError, match="n_mels >= 2"):
        mel_sharpness(torch.zeros(1, 5))
    with pytest.raises(ValueError, match="mask"):
        mel_sharpness(torch.zeros(4, 5), torch.ones(3, dtype=torch.bool))
