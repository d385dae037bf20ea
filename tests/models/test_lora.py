"""LoRA adapters (audiogen.models.lora, peft) on a tiny random-weight pipeline: round trip, strength 0,
stacking, fuse, wrong base, no pickle, and the --lora flag of the generation commands."""

import copy
import dataclasses
import json
from pathlib import Path

import pytest
import torch
from peft import LoraConfig
from safetensors.torch import load_file
from typer.testing import CliRunner

from audiogen.cli import app
from audiogen.models.denoiser import LatentDenoiser
from audiogen.models.lora import (
    ADAPTER_WEIGHTS_NAME,
    SIDECAR_NAME,
    LoraError,
    attach_for_training,
    lora_config,
    parse_lora_spec,
    save_adapter,
    weights_sha256,
)
from tests.pipelines.test_audiogen import make_tiny_pipeline

runner = CliRunner()


def make_adapter(pipe, folder: Path, style: str | None, seed: int, rank: int = 2, zero_snr: bool = False):
    """An adapter for ``pipe``'s denoiser with random LoRA weights (and a random ``style`` row), saved to
    ``folder``; returns the training-form denoiser it was saved from (the reference for its output)."""
    base = copy.deepcopy(pipe.denoiser)
    labels = [*pipe.styles, style] if style else list(pipe.styles)
    config = dataclasses.replace(
        base.config, num_classes=len(labels), class_labels=tuple(labels), rescale_betas_zero_snr=zero_snr
    )
    model = LatentDenoiser(config)
    state = base.state_dict()
    weight = state["label_embedding.weight"]
    if style:
        state["label_embedding.weight"] = torch.cat([weight[:-1], weight[-1:], weight[-1:]])
    model.load_state_dict(state)
    attach_for_training(model, lora_config(rank), [style] if style else [])
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.2 * torch.randn(p.shape, generator=generator))
    save_adapter(model, folder, weights_sha256(base), list(pipe.styles), {})
    return model.eval()


def _denoise(denoiser, labels):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(3, 4, 8, generator=g)
    with torch.no_grad():
        return denoiser(x, torch.tensor([10, 400, 900]), torch.as_tensor(labels))


def _clip(pipe, style="piano", cfg_scale=None):
    return pipe(0.25, num=2, seed=5, steps=3, style=style, cfg_scale=cfg_scale, progress=False).waveforms


def test_adapter_files_are_peft_format_without_pickle_and_round_trip_exactly(tmp_path):
    pipe = make_tiny_pipeline()
    trained = make_adapter(pipe, tmp_path / "a", "chimes", seed=1)
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == ["adapter_config.json", ADAPTER_WEIGHTS_NAME, SIDECAR_NAME, "style_embedding.safetensors"]
    assert all(Path(f).suffix in (".json", ".safetensors") for f in files)  # no pickle anywhere
    config = LoraConfig.from_pretrained(str(tmp_path / "a"))
    assert config.r == 2 and set(config.target_modules) == {"pwconv1", "pwconv2", "qkv", "proj", "modulation"}
    assert all(".lora_A." in k or ".lora_B." in k for k in load_file(tmp_path / "a" / ADAPTER_WEIGHTS_NAME))

    name = pipe.load_lora(tmp_path / "a")
    assert name == "chimes" and pipe.loras == {"chimes": 1.0}
    assert pipe.styles == ["piano", "flute", "chimes"]
    # piano, chimes (the adapter's new style) and the null label: identical to the model it was saved from
    labels = [0, 2, 3]
    assert torch.equal(_denoise(pipe.denoiser, labels), _denoise(trained, labels))
    with pytest.raises(ValueError, match="fuse_lora"):
        pipe.save_pretrained(tmp_path / "nope")


def test_strength_zero_and_unloading_give_the_base_bit_for_bit(tmp_path):
    pipe = make_tiny_pipeline()
    base = _clip(pipe)
    make_adapter(pipe, tmp_path / "a", "chimes", seed=1, zero_snr=True)
    name = pipe.load_lora(tmp_path / "a", strength=0.0)
    assert torch.equal(_clip(pipe), base)
    assert pipe.scheduler.config.rescale_betas_zero_snr is False  # an adapter at 0 changes nothing
    pipe.set_lora_strength(name, 1.0)
    assert pipe.scheduler.config.rescale_betas_zero_snr is True  # the adapter's schedule
    assert not torch.equal(_clip(pipe), base)
    # the new style at strength 0 is the null ("no style") row: unconditional base output
    pipe.set_lora_strength(name, 0.0)
    assert torch.equal(_clip(pipe, "chimes", cfg_scale=1.0), _clip(pipe, None))
    pipe.unload_lora(name)
    assert pipe.loras == {} and pipe.styles == ["piano", "flute"]
    assert torch.equal(_clip(pipe), base)
    assert all(".lora_" not in k and "base_layer" not in k for k in pipe.denoiser.state_dict())
    with pytest.raises(KeyError, match="no LoRA adapter"):
        pipe.set_lora_strength(name, 1.0)


def test_stacked_adapters_add_their_scaled_updates_and_blend_their_styles(tmp_path):
    pipe = make_tiny_pipeline()
    make_adapter(pipe, tmp_path / "a", "chimes", seed=1)
    make_adapter(pipe, tmp_path / "b", "bells", seed=2)
    alone = copy.deepcopy(pipe)
    alone.load_lora(tmp_path / "a", strength=0.7)
    pipe.load_lora(tmp_path / "a", strength=0.7)
    pipe.load_lora(tmp_path / "b", name="bells", strength=0.0)
    assert torch.equal(_denoise(pipe.denoiser, [0, 2, -1]), _denoise(alone.denoiser, [0, 2, -1]))

    pipe.set_lora_strength("bells", 0.5)
    assert pipe.styles == ["piano", "flute", "chimes", "bells", "chimes+bells"]
    assert pipe.loras == {"chimes": 0.7, "bells": 0.5}
    # one wrapped layer: base(x) + 0.7 * B_a A_a x + 0.5 * B_b A_b x (rank 2, alpha 2: scale 1)
    layer = pipe.denoiser.mid_level.blocks[0].modulation
    weights = {n: load_file(tmp_path / n / ADAPTER_WEIGHTS_NAME) for n in ("a", "b")}
    key = "mid_level.blocks.0.modulation"
    x = torch.randn(5, layer.in_features)
    expected = layer.base_layer(x)
    for n, s in (("a", 0.7), ("b", 0.5)):
        expected = expected + s * (
            x @ weights[n][f"{key}.lora_A.weight"].T @ weights[n][f"{key}.lora_B.weight"].T
        )
    with torch.no_grad():
        assert torch.allclose(layer(x), expected, atol=1e-6)
    # the blended style's row: null + 0.7 (chimes - null) + 0.5 (bells - null)
    rows = {n: load_file(tmp_path / n / "style_embedding.safetensors") for n in ("a", "b")}
    table = pipe.denoiser.label_embedding.table()
    null = table[-1]
    blend = null + 0.7 * (rows["a"]["chimes"] - null) + 0.5 * (rows["b"]["bells"] - null)
    assert torch.allclose(table[4], blend, atol=1e-6)
    assert torch.allclose(table[2], null + 0.7 * (rows["a"]["chimes"] - null), atol=1e-6)
    assert _clip(pipe, "chimes+bells").shape == (2, 1, 4000)


def test_fused_output_equals_unfused_and_saves_as_a_plain_pipeline(tmp_path):
    pipe = make_tiny_pipeline()
    make_adapter(pipe, tmp_path / "a", "chimes", seed=1)
    make_adapter(pipe, tmp_path / "b", "bells", seed=2)
    pipe.load_lora(tmp_path / "a", strength=0.5)
    pipe.load_lora(tmp_path / "b", strength=0.5)
    labels = [0, 2, 4]
    unfused, clip = _denoise(pipe.denoiser, labels), _clip(pipe, "chimes+bells")
    pipe.fuse_lora()
    assert pipe.loras == {}
    fused = _denoise(pipe.denoiser, labels)
    assert not torch.equal(fused, _denoise(make_tiny_pipeline().denoiser, [0, 2, 2]))
    assert torch.allclose(fused, unfused, atol=1e-5, rtol=1e-4)
    assert torch.allclose(_clip(pipe, "chimes+bells"), clip, atol=1e-4)
    from audiogen.pipelines.audiogen import AudioGenPipeline

    again = AudioGenPipeline.from_pretrained(pipe.save_pretrained(tmp_path / "fused"))
    assert again.styles == pipe.styles
    assert torch.equal(_denoise(again.denoiser, labels), fused)


def test_an_adapter_for_another_base_is_refused_naming_the_file(tmp_path):
    pipe = make_tiny_pipeline()
    make_adapter(pipe, tmp_path / "a", "chimes", seed=1)
    other = make_tiny_pipeline(seed=1)  # same shapes, other weights
    with pytest.raises(LoraError) as e:
        other.load_lora(tmp_path / "a")
    message = str(e.value)
    assert "\n" not in message and str(tmp_path / "a" / SIDECAR_NAME) in message and "another base" in message
    assert other.loras == {} and other.styles == ["piano", "flute"]

    # other shapes, even with a matching hash: the file that does not fit is named
    wide = make_tiny_pipeline()
    wide.denoiser = LatentDenoiser(dataclasses.replace(wide.denoiser.config, channels=8))
    make_adapter(pipe, tmp_path / "c", None, seed=3)
    for folder, bad_file in (("a", "style_embedding.safetensors"), ("c", ADAPTER_WEIGHTS_NAME)):
        sidecar = json.loads((tmp_path / folder / SIDECAR_NAME).read_text())
        sidecar["base_denoiser_sha256"] = weights_sha256(wide.denoiser)
        (tmp_path / folder / SIDECAR_NAME).write_text(json.dumps(sidecar))
        with pytest.raises(LoraError) as e:
            wide.load_lora(tmp_path / folder)
        message = str(e.value)
        assert "\n" not in message and str(tmp_path / folder / bad_file) in message, message
        assert wide.loras == {} and not any("lora_" in k for k in wide.denoiser.state_dict())


def test_parse_lora_spec():
    assert parse_lora_spec("runs/x") == (Path("runs/x"), 1.0)
    assert parse_lora_spec("runs/x:0.25") == (Path("runs/x"), 0.25)
    assert parse_lora_spec("runs/x:2") == (Path("runs/x"), 2.0)
    for bad in ("-1", "2.5", "nan", "inf"):
        with pytest.raises(ValueError, match=r"--lora runs/x:.*strength must be in \[0, 2\]"):
            parse_lora_spec(f"runs/x:{bad}")
    with pytest.raises(ValueError, match="not a number"):
        parse_lora_spec("runs/x:strong")


def test_generate_loop_variation_take_stacked_lora_flags(tmp_path):
    pipe = make_tiny_pipeline()
    folder = pipe.save_pretrained(tmp_path / "pipe")
    make_adapter(pipe, tmp_path / "run" / "lora" / "denoiser", "chimes", seed=1)
    make_adapter(pipe, tmp_path / "b", "bells", seed=2)
    common = ["--checkpoint", str(folder), "--steps", "2", "--device", "cpu"]
    gen = runner.invoke(
        app,
        ["generate", *common, "--seconds", "0.25", "--style", "chimes+bells", "--out", str(tmp_path / "g"),
         "--lora", f"{tmp_path / 'run'}:0.5", "--lora", f"{tmp_path / 'b'}:0.5"],
    )  # fmt: skip
    assert gen.exit_code == 0, gen.output
    assert (tmp_path / "g" / "chimes_bells_seed000000.wav").is_file()
    loop = runner.invoke(
        app,
        ["loop", *common,
         "--bars", "1", "--bpm", "480", "--style", "chimes", "--out", str(tmp_path / "l.wav"),
         "--lora", str(tmp_path / "run" / "lora")],
    )  # fmt: skip
    assert loop.exit_code == 0, loop.output
    var = runner.invoke(
        app,
        ["variation", str(tmp_path / "g" / "chimes_bells_seed000000.wav"), *common, "--style", "bells",
         "--out", str(tmp_path / "v.wav"), "--lora", str(tmp_path / "b")],
    )  # fmt: skip
    assert var.exit_code == 0, var.output

    make_adapter(make_tiny_pipeline(seed=1), tmp_path / "other", "x", seed=1)
    bad = runner.invoke(
        app, ["generate", *common, "--out", str(tmp_path / "g2"), "--lora", str(tmp_path / "other")]
    )
    assert bad.exit_code == 1 and "error:" in bad.output and "another base" in bad.output
    assert "Traceback" not in bad.output
    missing = runner.invoke(
        app, ["generate", *common, "--out", str(tmp_path / "g3"), "--lora", "nowhere:0.5"]
    )
    assert missing.exit_code == 2 and "nowhere" in missing.output


def test_an_adapter_saved_in_the_legacy_block_layout_loads_and_matches(tmp_path):
    """Adapters written before the denoiser's ConvNeXt blocks became the shared class: their sidecar
    hashes the base in the earlier layout and their pointwise LoRA weights are 1x1 convs ``(out, in, 1)``."""
    from safetensors.torch import save_file

    from audiogen.models.lora import legacy_weights_sha256

    pipe = make_tiny_pipeline()
    trained = make_adapter(pipe, tmp_path / "a", "chimes", seed=1)
    folder = tmp_path / "a"
    tensors = load_file(folder / ADAPTER_WEIGHTS_NAME)
    old = {
        k: v[..., None] if ".blocks." in k and ".pwconv" in k else v for k, v in tensors.items()
    }
    assert any(v.ndim == 3 for v in old.values())
    save_file(old, folder / ADAPTER_WEIGHTS_NAME)
    sidecar = json.loads((folder / SIDECAR_NAME).read_text())
    assert sidecar["base_denoiser_sha256"] != legacy_weights_sha256(pipe.denoiser)
    sidecar["base_denoiser_sha256"] = legacy_weights_sha256(pipe.denoiser)
    (folder / SIDECAR_NAME).write_text(json.dumps(sidecar))
    pipe.load_lora(folder)
    labels = [0, 2, 3]
    assert torch.equal(_denoise(pipe.denoiser, labels), _denoise(trained, labels))
