"""How smoothly audio joins (audiogen.evaluation.boundaries):
the loop seam report on signals made to pass or fail."""

import math

import pytest
import torch

from audiogen.evaluation.boundaries import seam_report
from tests.pipelines.test_audiogen import MEL


def test_seam_report_flags_a_discontinuity_and_passes_a_periodic_signal():
    sr, n = MEL.sample_rate, 8000
    t = torch.arange(n) / sr
    # whole cycles (440 Hz x 0.5 s) plus noise, repeated: seamless, so the seam is an ordinary place,
    # at most as unusual as the 95th percentile of places in most cases
    reports = []
    for seed in range(10):
        noise = torch.randn(n, generator=torch.Generator().manual_seed(seed)) * 0.01
        reports.append(seam_report(0.5 * torch.sin(2 * math.pi * 440 * t) + noise, MEL))
    assert sum(r.ok for r in reports) >= 8, [r.to_dict() for r in reports]
    # 441.3 Hz: the phase jumps at the seam -> a click
    broken = 0.5 * torch.sin(2 * math.pi * 441.3 * t) + noise
    report = seam_report(broken, MEL)
    assert not report.sample_ok and report.seam_sample_step > report.within_max_sample_step
    # a crescendo from -40 dB to 0 dB (whole cycles, so no click): the end does not continue into the start
    crescendo = 10 ** (-2 + 2 * t / t[-1]) * 0.5 * torch.sin(2 * math.pi * 440 * t) + noise / 10
    report = seam_report(crescendo, MEL)
    assert report.sample_ok and not report.mel_ok
    assert report.seam_mel_change > 2 * report.within_mel_p95, report.to_dict()


def test_seam_report_argument_errors():
    with pytest.raises(ValueError, match="not a whole number of periods"):
        seam_report(torch.zeros(10000), MEL, period_samples=3000)
    with pytest.raises(ValueError, match="too short"):
        seam_report(torch.zeros(1000), MEL)
    with pytest.raises(ValueError, match="expected one waveform"):
        seam_report(torch.zeros(2, 1, 5000), MEL)


def test_seam_report_analyses_the_inside_on_the_seams_frame_grid():
    """The frames around a joint are centred half a hop off the multiples of ``hop_length``; the
    within-loop distribution must use the same grid. A tone gated on and off every hop looks steady
    on the multiples of the hop (frames centred on the gate's edges see mirror images of each
    other's gating) but alternates from frame to frame half a hop off them, so on the wrong grid
    the seam of this perfectly periodic loop would stand far above the inside (0.027 against a
    median of 5e-5) and be flagged."""
    hop, sr = MEL.hop_length, MEL.sample_rate
    period = 2 * hop * math.ceil((3 * MEL.n_fft + 6 * hop + 1) / (2 * hop))
    t = torch.arange(period)
    cycles = round(1000.0 * period / sr)  # a whole number of cycles per period: ~1 kHz
    gate = ((t // hop) % 2 == 0).float()
    loop = 0.5 * gate * torch.sin(2 * math.pi * cycles * t / period)
    report = seam_report(loop, MEL)
    assert report.within_mel_median > 0
    assert report.seam_mel_change == pytest.approx(report.within_mel_median, rel=0.05, abs=1e-3)
