"""The gain augmentation shared by the classifier and vocoder stages (``data.gain_db``)."""

import pytest
import torch

from audiogen.training.tasks import apply_random_gain, check_gain_db


def test_check_gain_db_accepts_ranges_and_names_bad_ones():
    assert check_gain_db(None) is None
    assert check_gain_db([-6, 0]) == (-6.0, 0.0)
    for bad in ([0, -6], [1.0], [1, 2, 3]):
        with pytest.raises(ValueError, match="data.gain_db must be"):
            check_gain_db(bad)


@pytest.mark.parametrize("shape", [(5, 100), (5, 1, 100)])
def test_random_gain_scales_each_item_within_the_range(shape):
    torch.manual_seed(0)
    wav = torch.ones(shape)
    out = apply_random_gain(wav, (-12.0, -6.0))
    assert out.shape == wav.shape
    per_item = out.reshape(shape[0], -1)
    assert torch.allclose(per_item, per_item[:, :1].expand_as(per_item))  # one gain per item
    db = 20 * torch.log10(per_item[:, 0])
    assert bool(((db >= -12.0 - 1e-4) & (db <= -6.0 + 1e-4)).all())
    assert db.unique().numel() == shape[0]  # drawn per item
    assert apply_random_gain(wav, None) is wav and apply_random_gain(wav, (0.0, 0.0)) is wav


def test_zero_width_range_applies_that_gain_without_a_draw():
    torch.manual_seed(0)
    state = torch.get_rng_state()
    out = apply_random_gain(torch.ones(3, 1, 10), (-6.0, -6.0))
    torch.testing.assert_close(out, torch.full((3, 1, 10), 10 ** (-6 / 20)))
    assert torch.equal(torch.get_rng_state(), state)
