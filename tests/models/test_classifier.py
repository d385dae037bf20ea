"""The style classifier: shapes on any length, save/load, and a debug recipe that learns two styles."""

import json
import math
from pathlib import Path

import pytest
import torch

from audiogen.config import MelConfig
from audiogen.models.classifier import ClassifierConfig, StyleClassifier

MEL = MelConfig(sample_rate=16000, n_fft=512, hop_length=128, n_mels=32)
RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "debug" / "classifier.yaml"


def tiny_config(**kw) -> ClassifierConfig:
    base = dict(mel=MEL, labels=("noise", "tones", "clicks"), channels=(4, 8, 8), embed_dim=6)
    return ClassifierConfig(**{**base, **kw})


@pytest.mark.parametrize("frames", [1, 2, 7, 33, 130])
@pytest.mark.parametrize("convs_per_stage", [1, 2])
def test_shapes_on_any_length(frames, convs_per_stage):
    model = StyleClassifier(tiny_config(convs_per_stage=convs_per_stage)).eval()
    out = model(torch.randn(3, 32, frames) - 5.0)
    assert out.embedding.shape == (3, 6) and out.logits.shape == (3, 3)
    assert torch.isfinite(out.embedding).all() and torch.isfinite(out.logits).all()
    assert model.embed(torch.randn(1, 32, frames)).shape == (1, 6)


def test_items_do_not_depend_on_the_batch_and_length_changes_the_embedding_smoothly():
    model = StyleClassifier(tiny_config()).eval()
    mel = torch.randn(4, 32, 50) - 5.0
    with torch.no_grad():
        together = model(mel).embedding
        alone = model(mel[2:3]).embedding
    torch.testing.assert_close(together[2:3], alone, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(together[0], together[1])  # different inputs, different embeddings


def test_bad_configs_and_inputs_are_rejected():
    with pytest.raises(ValueError, match="at least 2 distinct"):
        tiny_config(labels=("only",))
    with pytest.raises(ValueError, match="at least 2 distinct"):
        tiny_config(labels=("a", "a"))
    with pytest.raises(ValueError, match="channels"):
        tiny_config(channels=(4, 0))
    with pytest.raises(ValueError, match="dropout"):
        tiny_config(dropout=1.0)
    model = StyleClassifier(tiny_config())
    with pytest.raises(ValueError, match="n_mels=32"):
        model(torch.randn(2, 31, 10))
    with pytest.raises(ValueError, match="n_mels=32"):
        model(torch.randn(32, 10))


def test_save_and_load_round_trip(tmp_path):
    model = StyleClassifier(tiny_config()).eval()
    model.save_pretrained(tmp_path / "clf")
    meta = json.loads((tmp_path / "clf" / "config.json").read_text())
    assert meta["class"] == "StyleClassifier" and meta["config"]["labels"] == ["noise", "tones", "clicks"]
    loaded = StyleClassifier.from_pretrained(tmp_path / "clf")
    assert loaded.config == model.config and loaded.labels == ("noise", "tones", "clicks")
    mel = torch.randn(2, 32, 20) - 5.0
    with torch.no_grad():
        torch.testing.assert_close(loaded(mel).logits, model(mel).logits)


# ------------------------------------------------------------------------------------------------
# training on synthetic styles


def style_clip(style: str, seconds: float, sample_rate: int, g: torch.Generator) -> torch.Tensor:
    """One mono clip ``(1, samples)``: ``"tones"`` (a harmonic tone at a random pitch) or ``"noise"``
    (amplitude-modulated band noise around 3 kHz)."""
    n = int(seconds * sample_rate)
    t = torch.arange(n) / sample_rate
    if style == "tones":
        f0 = 150 + 500 * torch.rand((), generator=g)
        wave = sum(
            torch.sin(2 * math.pi * f0 * k * t + torch.rand((), generator=g) * 6) / k for k in (1, 2, 3)
        )
        env = 0.6 + 0.4 * torch.sin(2 * math.pi * 1.5 * t)
    elif style == "noise":
        white = torch.randn(n, generator=g)
        spec = torch.fft.rfft(white)
        freqs = torch.fft.rfftfreq(n, 1 / sample_rate)
        wave = torch.fft.irfft(spec * ((freqs > 2000) & (freqs < 4500)), n=n)
        env = 0.5 + 0.5 * torch.sin(2 * math.pi * (2 + 4 * torch.rand((), generator=g)) * t).abs()
    else:
        raise ValueError(style)
    wave = wave * env
    return (0.5 * wave / wave.abs().max())[None].float()


def write_style_folder(folder: Path, per_style: int, seconds: float = 1.5, sample_rate: int = 16000, seed=0):
    """``folder/<style>/<style>_NN.wav`` for the styles ``noise`` and ``tones``."""
    from audiogen.audio.io import save_audio

    g = torch.Generator().manual_seed(seed)
    for style in ("noise", "tones"):
        for i in range(per_style):
            save_audio(
                folder / style / f"{style}_{i:02d}.wav",
                style_clip(style, seconds, sample_rate, g),
                sample_rate,
            )
    return folder


def train_debug_classifier(tmp_path: Path, steps: int = 40) -> Path:
    """Train recipes/debug/classifier.yaml on a synthetic two-style folder; returns the run folder."""
    from audiogen.config import load_recipe
    from audiogen.training import train_stage

    audio = write_style_folder(tmp_path / "styles", per_style=10)
    recipe = load_recipe(
        RECIPE, ["data.manifest=null", f"data.audio_dir={audio}", f"train.max_steps={steps}"]
    )
    recipe.pop("run_dir")
    run = tmp_path / "run"
    train_stage("classifier", recipe, run)
    return run


def test_debug_recipe_learns_two_synthetic_styles(tmp_path):
    from audiogen.evaluation.embedders import load_embedder

    run = train_debug_classifier(tmp_path)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["train/cross_entropy"] for r in records if "train/cross_entropy" in r]
    assert len(losses) >= 4 and losses[-1] < 0.5 * losses[0], losses
    val = [r["val/accuracy"] for r in records if "val/accuracy" in r]
    assert val and val[-1] > 0.75, val
    assert list((run / "samples").rglob("*.png"))

    # the exported EMA classifier, as the evaluation loads it, sorts fresh clips by style
    embedder = load_embedder(run)
    assert embedder.labels == ("noise", "tones")
    g = torch.Generator().manual_seed(123)
    styles = ["noise", "tones"] * 6
    clips = torch.cat([style_clip(s, 0.8, 16000, g) for s in styles])
    predicted = embedder.predict(clips, 16000).argmax(dim=-1).tolist()
    accuracy = sum(embedder.labels[p] == s for p, s in zip(predicted, styles, strict=True)) / len(styles)
    assert accuracy > 0.8, (predicted, styles)
    assert embedder.embed(clips, 16000).shape == (12, 16)


def test_task_rejects_unlabelled_data_and_misplaced_keys(tmp_path):
    from audiogen.audio.io import save_audio
    from audiogen.config import load_recipe
    from audiogen.training import build_task

    folder = tmp_path / "flat"
    for i in range(3):
        save_audio(folder / f"clip_{i}.wav", 0.3 * torch.randn(1, 16000), 16000)
    recipe = load_recipe(RECIPE, ["data.manifest=null", f"data.audio_dir={folder}"])
    with pytest.raises(ValueError, match="at least 2 style labels"):
        build_task("classifier", recipe).build_models()
    with pytest.raises(ValueError, match="model.labels"):
        build_task("classifier", {**recipe, "model": {"labels": ["a", "b"]}})
