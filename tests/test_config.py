import pytest

from audiogen.config import MelConfig, from_dict, load_recipe


def test_mel_config_defaults_resolve():
    cfg = MelConfig()
    assert cfg.n_freqs == cfg.n_fft // 2 + 1
    assert cfg.effective_win_length == cfg.n_fft
    assert cfg.effective_f_max == cfg.sample_rate / 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sample_rate": 0},
        {"hop_length": -1},
        {"win_length": 4096},
        {"f_min": 9000.0, "f_max": 8000.0},
        {"f_max": 30000.0},
        {"mel_scale": "bark"},
        {"norm": "peak"},
        {"power": 3.0},
    ],
)
def test_mel_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError):
        MelConfig(**kwargs)


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="n_mel"):
        from_dict(MelConfig, {"n_mel": 64})
    assert from_dict(MelConfig, {"n_mels": 64}).n_mels == 64


def test_load_recipe_applies_typed_overrides(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("mel:\n  n_mels: 80\n  f_max: 8000\ntrain:\n  max_steps: 100\n")
    recipe = load_recipe(path, ["mel.n_mels=64", "mel.f_max=null", "train.lr=0.001"])
    assert recipe == {"mel": {"n_mels": 64, "f_max": None}, "train": {"max_steps": 100, "lr": 0.001}}
    with pytest.raises(ValueError, match="key=value"):
        load_recipe(path, ["mel.n_mels"])
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_recipe(tmp_path / "missing.yaml")
