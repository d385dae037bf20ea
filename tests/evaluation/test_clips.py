"""Sets compared by the generation benchmark: pink noise, the half split (audiogen.evaluation.clips)."""

import types

import torch

from audiogen.evaluation.clips import pink_noise, split_halves


def test_pink_noise_has_unit_rms_and_equal_power_per_octave():
    x = pink_noise(4, 1 << 16, torch.Generator().manual_seed(0))
    assert x.shape == (4, 1 << 16)
    torch.testing.assert_close(x.square().mean(dim=-1).sqrt(), torch.ones(4), rtol=1e-4, atol=1e-4)
    power = torch.fft.rfft(x.double()).abs().square().mean(dim=0)
    octaves = [float(power[2**k : 2 ** (k + 1)].sum()) for k in range(6, 14)]
    ratios = [b / a for a, b in zip(octaves, octaves[1:], strict=False)]
    assert all(0.8 < r < 1.25 for r in ratios), ratios  # white noise would double per octave


def test_split_halves_alternates_files_within_each_style():
    entries = [types.SimpleNamespace(label=lab, path=f"/{lab}/{i}.wav") for lab in "ab" for i in range(5)]
    entries.append(types.SimpleNamespace(label="c", path="/c/0.wav"))
    a, b = split_halves(list(reversed(entries)))
    assert not {e.path for e in a} & {e.path for e in b} and len(a) + len(b) == len(entries)
    count = lambda half, lab: sum(e.label == lab for e in half)  # noqa: E731
    assert (count(a, "a"), count(b, "a")) == (3, 2)
    assert (count(a, "b"), count(b, "b")) == (2, 3)  # the counter runs on across styles
    assert [e.path for e in a][:3] == ["/a/0.wav", "/a/2.wav", "/a/4.wav"]
