"""Every debug recipe trains a few CPU steps in float32 and in bfloat16 (``train.mixed_precision``).

bf16 on the CPU goes through Accelerate's ``torch.autocast("cpu", dtype=torch.bfloat16)``; the loss
must stay finite and the weights must move in both precisions. The denoisers (DDPM v-prediction and
rectified flow) then write validation samples and generate with the pipeline.
"""

import json
from pathlib import Path

import pytest
import torch

from audiogen.config import load_recipe
from audiogen.models.autoencoder import AutoencoderConfig, MelVAE
from audiogen.training.tasks import build_task
from audiogen.training.trainer import TrainConfig, Trainer

ROOT = Path(__file__).resolve().parents[2]
SOUNDS = Path("/usr/share/sounds/freedesktop/stereo")
STAGE_OF = {  # debug recipe stem -> training stage
    "autoencoder": "autoencoder",
    "autoencoder_gan": "autoencoder",
    "classifier": "classifier",
    "diffusion": "diffusion",
    "diffusion_flow": "diffusion",
    "sequence": "sequence",
    "vocoder": "vocoder",
    "vocoder_gl": "vocoder",
}


def test_every_debug_recipe_is_covered():
    assert {p.stem for p in (ROOT / "recipes" / "debug").glob("*.yaml")} == set(STAGE_OF)


def _untrained_autoencoder(recipe_path: Path, out: Path) -> Path:
    """An untrained VAE of the debug autoencoder recipe, saved as a model folder."""
    section = load_recipe(recipe_path)
    config = AutoencoderConfig(mel=section["mel"], **section["model"])
    torch.manual_seed(0)
    return MelVAE(config).save_pretrained(out)


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["no", "bf16"])
@pytest.mark.parametrize("stem", sorted(STAGE_OF))
def test_debug_recipe_trains_a_few_steps(stem, precision, tmp_path, monkeypatch):
    if not SOUNDS.is_dir():
        pytest.fail(f"{SOUNDS} is missing: tools/setup.sh installs sound-theme-freedesktop")
    monkeypatch.chdir(tmp_path)
    overrides = []
    if stem in ("diffusion", "diffusion_flow", "sequence", "autoencoder_gan"):  # start from the debug VAE
        vae = _untrained_autoencoder(ROOT / "recipes/debug/autoencoder.yaml", tmp_path / "vae")
        overrides += [f"init.autoencoder={vae}"] if stem == "autoencoder_gan" else [
            f"data.autoencoder={vae}", f"data.latent_cache={tmp_path / 'latents'}"]
    if stem == "classifier":  # two styles: the sound theme's files split over two sub-folders
        for i, f in enumerate(sorted(SOUNDS.glob("*.oga"))):
            (tmp_path / "styles" / "ab"[i % 2]).mkdir(parents=True, exist_ok=True)
            (tmp_path / "styles" / "ab"[i % 2] / f.name).symlink_to(f)
        overrides += ["data.manifest=null", f"data.audio_dir={tmp_path / 'styles'}"]
    recipe = load_recipe(ROOT / "recipes" / "debug" / f"{stem}.yaml", overrides)
    recipe.pop("run_dir", None)
    train = {
        **recipe["train"],
        "mixed_precision": precision,
        "max_steps": 2,
        "log_every": 1,
        "validate_every": 0,
        "checkpoint_every": 10**9,
        "log_with": None,
        "num_workers": 0,
        "warmup_steps": 1,
    }
    recipe["train"] = train
    task = build_task(STAGE_OF[stem], recipe)
    before: dict[str, torch.Tensor] = {}
    build_models = task.build_models

    def build_and_remember():  # the initial weights, to check that training moved them
        models = build_models()
        before.update({k: v.detach().clone() for k, v in floating_state(models).items()})
        return models

    monkeypatch.setattr(task, "build_models", build_and_remember)
    trainer = Trainer(task, TrainConfig(**train), tmp_path / "run", recipe.get("loss_weights"), recipe)
    trainer.fit()
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [v for x in lines for k, v in x.items() if k.startswith("train/") and k.endswith("total")]
    assert losses and all(torch.isfinite(torch.tensor(losses)))
    after = floating_state(trainer.models)
    moved = [k for k in before if not torch.equal(before[k], after[k].detach().cpu())]
    assert before and moved, "no weight moved"
    if STAGE_OF[stem] == "diffusion":
        assert list((tmp_path / "run" / "samples").rglob("sample_*.wav")), "no validation sample at the end"
        _generates_with_the_pipeline(tmp_path / "vae", tmp_path / "run", recipe["model"]["prediction_type"])


def _generates_with_the_pipeline(vae_dir: Path, run_dir: Path, prediction_type: str) -> None:
    """The run's EMA denoiser in a pipeline (with an untrained tiny vocoder): every sampler that runs
    it generates, varies and inpaints finite audio of the right length; a flow model refuses DDIM."""
    from audiogen import hub
    from audiogen.models.vocoder import VocoderConfig, VocosVocoder
    from audiogen.pipelines.audiogen import AudioGenPipeline
    from audiogen.samplers.factory import SAMPLERS, noise_scheduler, sampler_refusal

    vae = hub.load_model(vae_dir, "autoencoder")
    denoiser = hub.load_model(run_dir, "denoiser")
    assert denoiser.config.prediction_type == prediction_type
    vocoder = VocosVocoder(VocoderConfig(mel=vae.mel_config, dim=16, intermediate_dim=32, num_layers=1))
    pipe = AudioGenPipeline(vae.mel_config, vae, denoiser, noise_scheduler(denoiser.config), vocoder)
    n = pipe.sample_rate // 2
    clip = 0.1 * torch.randn(1, 1, n, generator=torch.Generator().manual_seed(0))
    runnable = [s for s in SAMPLERS if not sampler_refusal(s, pipe.scheduler)]
    assert runnable == (["dpm++", "euler"] if prediction_type == "flow_prediction" else list(SAMPLERS))
    for sampler in runnable:
        settings = dict(steps=3, seed=1, sampler=sampler, progress=False)
        results = [
            pipe(0.5, **settings),
            pipe.variation(clip[0], pipe.sample_rate, strength=0.5, **settings),
            pipe.inpaint(clip, pipe.sample_rate, 0.1, 0.3, crossfade=0.02, **settings),
        ]
        for result in results:
            assert result.waveforms.shape == (1, 1, n), (sampler, result.waveforms.shape)
            assert bool(result.waveforms.isfinite().all()), sampler
    if prediction_type == "flow_prediction":
        with pytest.raises(ValueError, match="cannot run a rectified-flow model"):
            pipe(0.5, steps=3, sampler="ddim", progress=False)


def floating_state(models: dict[str, torch.nn.Module]) -> dict[str, torch.Tensor]:
    """Every floating-point tensor of the models' state, by qualified name."""
    params = {}
    for name, model in models.items():
        for key, value in model.state_dict().items():
            if value.is_floating_point():
                params[f"{name}.{key}"] = value
    return params
