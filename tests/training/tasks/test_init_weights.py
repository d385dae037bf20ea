"""Task.load_init_weights: start a stage from saved weights (the recipe's ``init`` section)."""

import pytest
import torch
from torch import nn

from audiogen.models.vocoder import VocoderConfig, VocosVocoder
from audiogen.training.tasks import Task
from tests.pipelines.test_audiogen import MEL


class _Task(Task):
    name = "toy"

    def build_models(self) -> dict[str, nn.Module]:
        return {"vocoder": VocosVocoder(VocoderConfig(mel=MEL, dim=16, intermediate_dim=32, num_layers=1))}


def test_init_loads_saved_weights_from_model_and_pipeline_folders(tmp_path):
    torch.manual_seed(1)
    saved = VocosVocoder(VocoderConfig(mel=MEL, dim=16, intermediate_dim=32, num_layers=1))
    saved.save_pretrained(tmp_path / "pipe" / "vocoder")
    for source in (tmp_path / "pipe" / "vocoder", tmp_path / "pipe"):
        task = _Task({"init": {"vocoder": str(source)}})
        torch.manual_seed(2)
        models = task.build_models()
        assert not torch.equal(models["vocoder"].embed.weight, saved.embed.weight)
        assert task.load_init_weights(models) == ["vocoder"]
        for name, value in saved.state_dict().items():
            assert torch.equal(models["vocoder"].state_dict()[name], value), name
    assert _Task({}).load_init_weights(_Task({}).build_models()) == []


def test_init_errors_name_the_problem(tmp_path):
    other = VocosVocoder(VocoderConfig(mel=MEL, dim=24, intermediate_dim=32, num_layers=1))
    other.save_pretrained(tmp_path / "wide")
    task = _Task({"init": {"vocoder": str(tmp_path / "wide")}})
    with pytest.raises(ValueError, match="do not fit"):
        task.load_init_weights(task.build_models())
    task = _Task({"init": {"generator": str(tmp_path / "wide")}})
    with pytest.raises(ValueError, match="not models of stage"):
        task.load_init_weights(task.build_models())
    task = _Task({"init": {"vocoder": str(tmp_path / "missing")}})
    with pytest.raises(FileNotFoundError, match="missing"):
        task.load_init_weights(task.build_models())


def test_init_only_loads_the_named_parts_into_a_model_with_a_new_decoder(tmp_path):
    from audiogen.models.autoencoder import AutoencoderConfig, MelVAE

    class _VAETask(Task):
        name = "autoencoder"

        def build_models(self) -> dict[str, nn.Module]:
            cfg = AutoencoderConfig(mel=MEL, latent_dim=4, channels=16, decoder_channels=24)
            return {"autoencoder": MelVAE(cfg)}

    torch.manual_seed(1)
    saved = MelVAE(AutoencoderConfig(mel=MEL, latent_dim=4, channels=16))
    saved.set_latent_scale(1.7)
    saved.save_pretrained(tmp_path / "vae")
    source = {"path": str(tmp_path / "vae"), "only": ["encoder", "latent_scale"]}
    task = _VAETask({"init": {"autoencoder": source}})
    torch.manual_seed(2)
    models = task.build_models()
    fresh_decoder = {
        k: v.clone() for k, v in models["autoencoder"].state_dict().items() if k.startswith("decoder.")
    }
    assert task.load_init_weights(models) == ["autoencoder"]
    state = models["autoencoder"].state_dict()
    for key, value in saved.state_dict().items():
        if key.startswith("encoder.") or key == "latent_scale":
            assert torch.equal(state[key], value), key
    for key, value in fresh_decoder.items():
        assert torch.equal(state[key], value), f"{key} was loaded although not selected"
    assert float(state["latent_scale"]) == pytest.approx(1.7)

    # without `only` the narrower saved decoder does not fit; a selection of nothing is an error
    task = _VAETask({"init": {"autoencoder": str(tmp_path / "vae")}})
    with pytest.raises(ValueError, match="do not fit"):
        task.load_init_weights(task.build_models())
    task = _VAETask({"init": {"autoencoder": {**source, "only": ["encodr"]}}})
    with pytest.raises(ValueError, match="selects no weights"):
        task.load_init_weights(task.build_models())
    task = _VAETask({"init": {"autoencoder": {"from": str(tmp_path / "vae")}}})
    with pytest.raises(ValueError, match="must be a path or"):
        task.load_init_weights(task.build_models())


def test_init_deepens_a_saved_decoder_when_the_recipe_asks_for_more_blocks(tmp_path, capsys):
    from audiogen.models.autoencoder import AutoencoderConfig, MelVAE
    from audiogen.training.tasks.autoencoder import AutoencoderTask

    torch.manual_seed(1)
    saved = MelVAE(AutoencoderConfig(mel=MEL, latent_dim=4, channels=16, decoder_blocks_per_stage=1))
    saved.set_latent_scale(1.7)
    saved.save_pretrained(tmp_path / "vae")
    mel = {k: getattr(MEL, k) for k in ("sample_rate", "n_fft", "hop_length", "n_mels")}
    recipe = {
        "mel": mel,
        "model": {"latent_dim": 4, "channels": 16, "decoder_blocks_per_stage": 3},
        "data": {"manifest": "unused.jsonl"},
        "init": {"autoencoder": str(tmp_path / "vae")},
    }
    task = AutoencoderTask(recipe)
    models = task.build_models()
    assert task.load_init_weights(models) == ["autoencoder"]
    assert "deepening the decoder from 1 to 3 blocks per stage" in capsys.readouterr().out
    deeper = models["autoencoder"].eval()
    z = torch.randn(2, 4, 6)
    assert torch.equal(deeper.decode(z), saved.eval().decode(z))
    assert float(deeper.latent_scale) == pytest.approx(1.7)
    # a shallower recipe is not a deepening: the strict load reports the misfit
    task = AutoencoderTask({**recipe, "model": {**recipe["model"], "decoder_blocks_per_stage": 1}})
    saved3 = MelVAE(AutoencoderConfig(mel=MEL, latent_dim=4, channels=16, decoder_blocks_per_stage=3))
    saved3.save_pretrained(tmp_path / "vae3")
    task.recipe["init"] = {"autoencoder": str(tmp_path / "vae3")}
    with pytest.raises(ValueError, match="do not fit"):
        task.load_init_weights(task.build_models())
    # deeper but also of another width or time layout: not a deepening either, reported the same way
    for other in ({"decoder_channels": 24}, {"time_downsample": 2}):
        task = AutoencoderTask({**recipe, "model": {**recipe["model"], **other}})
        with pytest.raises(ValueError, match="do not fit"):
            task.load_init_weights(task.build_models())
